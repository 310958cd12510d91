//! Capture-file reading (`PcapIo`: pcap, pcapng, gzip, every link type) on
//! any file contents. The worker's replay loop stops only when a receive
//! burst comes back empty *and* the source says it is exhausted, so an
//! empty burst from a source that is not exhausted would hang `inspect`.
//!
//! Input: the file's bytes (written to a file of this process's own, since
//! `PcapIo` reads from a path).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate_dataplane::io::pcap::PcapIo;
use mailgate_dataplane::io::{Burst, Frame, PacketIo};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The capture file this process rewrites for each input.
fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("mailgate-fuzz-pcap-{}.pcap", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    std::fs::write(path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut io = match PcapIo::open(path) {
        Ok(io) => io,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let mut frames = 0u64;
    let mut bursts = 0usize;
    loop {
        let mut rx: Burst<_> = Burst::new();
        io.rx_burst(0, &mut rx);
        if rx.is_empty() {
            assert!(io.exhausted(), "empty burst from a capture that is not exhausted: inspect would spin");
            break;
        }
        for frame in &rx {
            let _ = frame.data().len();
            let _ = frame.timestamp_ns();
        }
        frames += rx.len() as u64;
        // Give the buffers back, as the worker does after forwarding.
        let _ = io.tx_burst(1, &mut rx);
        bursts += 1;
        // Each packet takes at least 16 bytes of the file (before gzip).
        assert!(bursts < 1 << 20, "no end to the capture");
    }
    assert_eq!(io.packets(), frames);
    if let Some(e) = io.take_error() {
        let _ = e.to_string();
    }
    let _ = io.alloc_frame(b"\x02\0\0\0\0\x01").map(|f| f.data().len());
});
