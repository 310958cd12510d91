//! The shared corpus's captures as in-memory frames, for tests that drive a
//! worker over real traffic.

use mailgate_dataplane::io::mem::MemFrame;
use mailgate_dataplane::io::pcap::PcapIo;
use mailgate_dataplane::io::{Burst, Frame, PacketIo};
use std::sync::Arc;

/// Every frame of the named captures in `../shared/corpus`, in order.
pub fn frames_of(names: &[&str]) -> Vec<MemFrame<'static>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let mut frames = Vec::new();
    for name in names {
        let mut io = PcapIo::open(&dir.join(name)).unwrap();
        loop {
            let mut burst = Burst::new();
            io.rx_burst(0, &mut burst);
            if burst.is_empty() {
                break;
            }
            frames.extend(burst.iter().map(|f| MemFrame::new(Arc::from(f.data()), None)));
        }
    }
    frames
}
