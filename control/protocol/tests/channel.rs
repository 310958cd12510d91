//! The report channel's framing: what one end encodes the other decodes,
//! however the stream is cut, and bad input is an error, never a panic.

use mailgate_protocol::channel::{
    encode_frame, FrameDecoder, FrameError, FromControl, FromDataplane, SessionBatch, DEFAULT_MAX_FRAME_BYTES,
};
use mailgate_protocol::record::{Action, MailProto, MailboxRecord, SmtpRecord, TlsRecord, Verdict};
use mailgate_protocol::SessionRecord;

fn record(flow_id: u64) -> SessionRecord {
    SessionRecord {
        ts: "2026-01-02T03:04:05.123456Z".into(),
        ts_end: "2026-01-02T03:04:06Z".into(),
        flow_id,
        src_ip: "10.0.0.5".into(),
        src_port: 40000,
        dest_ip: "2001:db8::25".into(),
        dest_port: 587,
        community_id: "1:abc=".into(),
        direction_inferred: false,
        mail_proto: Some(MailProto::Smtp),
        mail_proto_source: None,
        smtp: Some(SmtpRecord {
            helo: Some("client.example".into()),
            rcpt_to: vec!["<a@b>".into()],
            ..Default::default()
        }),
        imap: Some(MailboxRecord { id: vec![], ..Default::default() }),
        pop3: None,
        tls: Some(TlsRecord { sni: Some("smtp.example".into()), ..Default::default() }),
        socks: None,
        anomalies: vec!["x".into()],
        verdict: Verdict {
            action: Action::WouldReset,
            rule: None,
            reason: "r".into(),
            policy_hash: None,
            decided_at: None,
        },
        pkts_toserver: 1,
        pkts_toclient: 2,
        bytes_toserver: 3,
        bytes_toclient: 4,
        gateway: None,
    }
}

fn next(decoder: &mut FrameDecoder) -> Option<FromDataplane> {
    decoder.next_message().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn batches_survive_every_split_point() {
    // Fields the record skips when empty must still decode (CBOR is keyed).
    let message = FromDataplane::Sessions(SessionBatch { seq: 7, records: vec![record(1), record(2)] });
    let frame = encode_frame(&message, DEFAULT_MAX_FRAME_BYTES).unwrap_or_else(|e| panic!("{e}"));
    for cut in 0..=frame.len() {
        let (a, b) = frame.split_at(cut);
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
        decoder.push(a);
        let early = next(&mut decoder);
        decoder.push(b);
        let got = early.or_else(|| next(&mut decoder));
        assert_eq!(got.as_ref(), Some(&message), "cut at {cut}");
        assert_eq!(decoder.buffered(), 0);
    }
}

#[test]
fn two_frames_in_one_read_come_out_in_order() {
    let a = encode_frame(&FromControl::BatchAck { seq: 1 }, 1024).unwrap_or_else(|e| panic!("{e}"));
    let b = encode_frame(&FromControl::StatsRequest { request_id: 9 }, 1024).unwrap_or_else(|e| panic!("{e}"));
    let mut decoder = FrameDecoder::new(1024);
    decoder.push(&[a, b].concat());
    assert_eq!(decoder.next_message::<FromControl>().ok().flatten(), Some(FromControl::BatchAck { seq: 1 }));
    assert_eq!(decoder.next_message::<FromControl>().ok().flatten(), Some(FromControl::StatsRequest { request_id: 9 }));
    assert!(matches!(decoder.next_message::<FromControl>(), Ok(None)));
}

#[test]
fn oversized_length_is_refused_before_the_body_arrives() {
    let mut decoder = FrameDecoder::new(1000);
    decoder.push(&1001u32.to_be_bytes());
    assert!(matches!(decoder.next_message::<FromControl>(), Err(FrameError::TooLarge { len: 1001, max: 1000 })));
    let big = FromDataplane::Sessions(SessionBatch { seq: 1, records: vec![record(1); 50] });
    assert!(matches!(encode_frame(&big, 1000), Err(FrameError::TooLarge { .. })));
}

#[test]
fn garbage_bodies_are_errors() {
    let bodies: [&[u8]; 5] = [b"", b"\xff\xff\xff", b"hello world", b"\xa1\x61x\x01", b"\x9f\x9f\x9f\x9f\x9f\x9f\x9f"];
    for body in bodies {
        let mut decoder = FrameDecoder::new(1024);
        decoder.push(&(body.len() as u32).to_be_bytes());
        decoder.push(body);
        assert!(matches!(decoder.next_message::<FromDataplane>(), Err(FrameError::Decode(_))), "{body:?}");
    }
}

#[test]
fn deeply_nested_input_is_an_error_not_a_stack_overflow() {
    let body = vec![0x81u8; 100_000]; // arrays of arrays of arrays…
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
    decoder.push(&(body.len() as u32).to_be_bytes());
    decoder.push(&body);
    assert!(decoder.next_message::<FromDataplane>().is_err());
}
