//! Bounded IP fragment reassembly, so that a handshake split into IP
//! fragments is inspected like any other (a classic evasion: Ptacek &
//! Newsham 1998, §4). Fragments are forwarded as they arrive; a copy of
//! each goes into a fixed slot until its datagram is whole, and the whole
//! datagram is then inspected as one frame. Overlapping fragments are
//! flagged; the first copy of every byte wins, as in stream reassembly.
//! Slots, their size and their lifetime are fixed at start-up: a datagram
//! that does not fit, or arrives when every slot is busy, is not inspected
//! and is counted.

use crate::decode::Fragment;
use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv6Packet};
use std::net::IpAddr;

/// Room for the reassembled frame's headers: Ethernet, three VLAN tags, an IPv6 header.
const HEADER_ROOM: usize = 14 + 12 + 40;

/// What [`FragmentTable::add`] made of a fragment.
pub enum Reassembly<'a> {
    /// The datagram is not whole yet.
    Incomplete,
    /// The datagram is whole: a frame holding it (L2 header, IP header
    /// without fragmentation, the whole payload), and whether fragments overlapped.
    Complete {
        /// The reassembled frame.
        frame: &'a [u8],
        /// Two fragments covered the same bytes.
        overlap: bool,
    },
    /// Not reassembled (too large, or every slot busy): counted, forwarded as is.
    Untracked,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    protocol: u8,
}

struct Slot {
    key: Option<Key>,
    first_ns: u64,
    /// Payload bytes received so far and which.
    data: Box<[u8]>,
    bits: Box<[u64]>,
    /// The payload's length, once the last fragment told it.
    total: Option<usize>,
    overlap: bool,
    /// The first fragment's L2 header.
    l2: [u8; HEADER_ROOM],
    l2_len: usize,
}

/// Fragment reassembly state of one worker.
pub struct FragmentTable {
    slots: Vec<Slot>,
    timeout_ns: u64,
    frame: Vec<u8>,
    /// Datagrams that could not be reassembled.
    pub untracked: u64,
    /// Datagrams reassembled.
    pub reassembled: u64,
}

impl FragmentTable {
    /// `slots` datagrams of up to `max_bytes` payload each, given up after `timeout_ms`.
    pub fn new(slots: usize, max_bytes: usize, timeout_ms: u64) -> Self {
        let words = max_bytes.div_ceil(64);
        FragmentTable {
            slots: (0..slots)
                .map(|_| Slot {
                    key: None,
                    first_ns: 0,
                    data: vec![0; max_bytes].into_boxed_slice(),
                    bits: vec![0; words].into_boxed_slice(),
                    total: None,
                    overlap: false,
                    l2: [0; HEADER_ROOM],
                    l2_len: 0,
                })
                .collect(),
            timeout_ns: timeout_ms.saturating_mul(1_000_000),
            frame: vec![0; HEADER_ROOM + max_bytes],
            untracked: 0,
            reassembled: 0,
        }
    }

    /// Adds a fragment seen at `now_ns`.
    pub fn add(&mut self, frag: &Fragment<'_>, now_ns: u64) -> Reassembly<'_> {
        let key = Key { src: frag.src, dst: frag.dst, id: frag.id, protocol: frag.protocol };
        let timeout = self.timeout_ns;
        // The datagram's slot, else a free or expired one.
        let found = self.slots.iter().position(|s| s.key == Some(key));
        let idx = found
            .or_else(|| self.slots.iter().position(|s| s.key.is_none() || now_ns.saturating_sub(s.first_ns) > timeout));
        let Some(idx) = idx else {
            self.untracked += 1;
            return Reassembly::Untracked;
        };
        let Some(slot) = self.slots.get_mut(idx) else { return Reassembly::Untracked };
        if found.is_none() {
            slot.key = Some(key);
            slot.first_ns = now_ns;
            slot.bits.fill(0);
            slot.total = None;
            slot.overlap = false;
            slot.l2_len = 0;
        }
        let end = frag.offset.saturating_add(frag.data.len());
        if end > slot.data.len() {
            slot.key = None;
            self.untracked += 1;
            return Reassembly::Untracked;
        }
        if frag.offset == 0 && frag.l2.len() <= HEADER_ROOM - 40 {
            if let Some(dst) = slot.l2.get_mut(..frag.l2.len()) {
                dst.copy_from_slice(frag.l2);
                slot.l2_len = frag.l2.len();
            }
        }
        for (i, &b) in frag.data.iter().enumerate() {
            let pos = frag.offset + i;
            let (word, bit) = (pos / 64, 1u64 << (pos % 64));
            let Some(w) = slot.bits.get_mut(word) else { break };
            if *w & bit != 0 {
                if slot.data.get(pos) != Some(&b) {
                    slot.overlap = true;
                }
            } else if let Some(d) = slot.data.get_mut(pos) {
                *d = b;
                *w |= bit;
            }
        }
        if !frag.more {
            slot.total = Some(end);
        }
        let Some(total) = slot.total else { return Reassembly::Incomplete };
        let whole = (0..total).all(|pos| slot.bits.get(pos / 64).is_some_and(|w| w & (1 << (pos % 64)) != 0));
        if !whole || slot.l2_len == 0 {
            return Reassembly::Incomplete;
        }
        slot.key = None;
        self.reassembled += 1;
        let overlap = slot.overlap;
        let len = build_frame(&mut self.frame, slot, &key, total);
        match self.frame.get(..len) {
            Some(frame) if len > 0 => Reassembly::Complete { frame, overlap },
            _ => Reassembly::Untracked,
        }
    }
}

/// Writes L2 header + an unfragmented IP header + the payload into `out`; returns the frame length.
fn build_frame(out: &mut [u8], slot: &Slot, key: &Key, total: usize) -> usize {
    let l2 = slot.l2_len;
    let (Some(hdr), Some(payload)) = (slot.l2.get(..l2), slot.data.get(..total)) else { return 0 };
    let Some(dst) = out.get_mut(..l2) else { return 0 };
    dst.copy_from_slice(hdr);
    let ip_len = match (key.src, key.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = 20 + total;
            let (Ok(total_len), Some(buf)) = (u16::try_from(len), out.get_mut(l2..l2 + len)) else { return 0 };
            buf.fill(0);
            let mut ip = Ipv4Packet::new_unchecked(&mut *buf);
            ip.set_version(4);
            ip.set_header_len(20);
            ip.set_total_len(total_len);
            ip.set_ident(key.id as u16);
            ip.set_hop_limit(64);
            ip.set_next_header(IpProtocol::from(key.protocol));
            ip.set_src_addr(s);
            ip.set_dst_addr(d);
            ip.fill_checksum();
            ip.payload_mut().copy_from_slice(payload);
            set_ethertype(out, l2, 0x0800);
            len
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = 40 + total;
            let (Ok(payload_len), Some(buf)) = (u16::try_from(total), out.get_mut(l2..l2 + len)) else { return 0 };
            buf.fill(0);
            let mut ip = Ipv6Packet::new_unchecked(&mut *buf);
            ip.set_version(6);
            ip.set_payload_len(payload_len);
            ip.set_next_header(IpProtocol::from(key.protocol));
            ip.set_hop_limit(64);
            ip.set_src_addr(s);
            ip.set_dst_addr(d);
            ip.payload_mut().copy_from_slice(payload);
            set_ethertype(out, l2, 0x86dd);
            len
        }
        _ => return 0,
    };
    l2 + ip_len
}

/// The last ethertype before the IP header (after any VLAN tags) names the IP version.
fn set_ethertype(out: &mut [u8], l2: usize, ethertype: u16) {
    if let Some(t) = out.get_mut(l2.saturating_sub(2)..l2) {
        t.copy_from_slice(&ethertype.to_be_bytes());
    }
}
