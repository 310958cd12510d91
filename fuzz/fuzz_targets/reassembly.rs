//! One direction's reassembly (`DirStream`) fed arbitrary segments: out of
//! order, repeated, overlapping with different bytes, before the base,
//! past the budget, across the sequence-number wrap. Checked against a
//! plain model of its documented rules: the first copy of every byte wins,
//! a differing later copy is flagged, only `budget` bytes are kept.
//!
//! Input: a big-endian u16 (low 13 bits: the budget, 1..=8192; top bit set:
//! no base is set, so nothing may be taken), a big-endian u32 base sequence
//! number, then segments: a big-endian u32 offset added to the base, a
//! length byte, and that many payload bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate_dataplane::flow::reassembly::{DirBuf, DirStream};
use mailgate_proto::Anomalies;

/// The reference: every stream byte received so far, first copy kept.
struct Model {
    bytes: Vec<Option<u8>>,
    mismatch: bool,
    beyond_budget: bool,
}

impl Model {
    fn insert(&mut self, base: u32, seq: u32, payload: &[u8]) {
        let off = seq.wrapping_sub(base);
        let (start, payload) = if off < 1 << 31 {
            (off as usize, payload)
        } else {
            let behind = base.wrapping_sub(seq) as usize;
            (0, payload.get(behind..).unwrap_or_default())
        };
        if !payload.is_empty() && start + payload.len() > self.bytes.len() {
            self.beyond_budget = true;
        }
        for (i, &b) in payload.iter().enumerate() {
            match self.bytes.get_mut(start + i) {
                Some(Some(old)) => self.mismatch |= *old != b,
                Some(slot) => *slot = Some(b),
                None => break,
            }
        }
    }

    fn contiguous(&self) -> usize {
        self.bytes.iter().position(Option::is_none).unwrap_or(self.bytes.len())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((header, mut rest)) = data.split_at_checked(6) else { return };
    let word = u16::from_be_bytes([header[0], header[1]]);
    let budget = usize::from(word & 0x1fff).max(1);
    let with_base = word & 0x8000 == 0;
    let base = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);

    let mut bytes = vec![0u8; budget];
    let mut bits = vec![0u64; budget.div_ceil(64)];
    let mut stream = DirStream::default();
    let mut anomalies = Anomalies::NONE;
    let mut model = Model { bytes: vec![None; budget], mismatch: false, beyond_budget: false };
    if with_base {
        stream.set_base(base);
        stream.set_base(base.wrapping_add(1)); // only the first call counts
    }
    assert_eq!(stream.has_base(), with_base);

    while let Some((seg, after)) = rest.split_at_checked(5) {
        let seq = base.wrapping_add(u32::from_be_bytes([seg[0], seg[1], seg[2], seg[3]]));
        let (payload, after) = after.split_at_checked(usize::from(seg[4])).unwrap_or((after, &[]));
        rest = after;

        let before = stream.contiguous();
        let grew = stream.insert(&mut DirBuf { bytes: &mut bytes, bits: &mut bits }, seq, payload, &mut anomalies);
        if !with_base {
            assert!(!grew && stream.contiguous() == 0, "bytes taken without a base");
            continue;
        }
        model.insert(base, seq, payload);
        let contiguous = stream.contiguous();
        assert_eq!(contiguous, model.contiguous(), "in-order prefix after seq {seq} len {}", payload.len());
        assert_eq!(grew, contiguous > before);
        let expected: Vec<u8> = model.bytes[..contiguous].iter().map(|b| b.unwrap_or_default()).collect();
        assert_eq!(&bytes[..contiguous], &expected[..], "reassembled bytes differ from the first copies");
        assert_eq!(anomalies.contains(Anomalies::OVERLAP_MISMATCH), model.mismatch, "overlap_mismatch flag");
        assert_eq!(stream.beyond_budget(), model.beyond_budget, "beyond_budget flag");
    }
});
