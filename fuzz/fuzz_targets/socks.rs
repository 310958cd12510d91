//! The SOCKS 4/4a/5 handshake from both directions' first bytes. Whatever
//! prefixes of the two streams have arrived, a decision once taken must be
//! the one the whole streams give (the verdict cannot depend on how the
//! handshake was cut into segments), and a tunnel starts inside the streams.
//!
//! Input: a big-endian u16 length, the client's bytes, then the server's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate_fuzz::{prefix_lengths, two_parts};
use mailgate_proto::socks::{self, SocksFacts, SocksStatus};

fn parse(client: &[u8], server: &[u8]) -> (SocksStatus, SocksFacts) {
    let mut facts = SocksFacts::default();
    let status = socks::parse(client, server, &mut facts);
    if let SocksStatus::Tunnel { client_consumed, server_consumed } = status {
        assert!(client_consumed <= client.len() && server_consumed <= server.len(), "{status:?}");
    }
    (status, facts)
}

fuzz_target!(|data: &[u8]| {
    let (client, server) = two_parts(data);
    let _ = socks::probe(client);
    let (full, full_facts) = parse(client, server);
    for c in prefix_lengths(client.len()) {
        for s in [0, server.len() / 2, server.len()] {
            let (status, facts) = parse(&client[..c], &server[..s]);
            if status != SocksStatus::NeedMore {
                assert_eq!(status, full, "decided on client[..{c}], server[..{s}]");
                if let SocksStatus::Tunnel { .. } = status {
                    assert_eq!(facts, full_facts);
                }
            }
        }
    }
    for s in prefix_lengths(server.len()) {
        let (status, _) = parse(client, &server[..s]);
        if status != SocksStatus::NeedMore {
            assert_eq!(status, full, "decided on server[..{s}]");
        }
    }
});
