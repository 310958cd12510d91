//! `mailgate-bench gen`: plans a capture ([`crate::mix::plan`]), makes each
//! flow when its start comes, and interleaves the frames of all open flows
//! in time order into the pcap, writing one truth line per flow.
//!
//! Only the flows still open are held in memory, so captures of millions
//! of flows stream through in bounded memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

use crate::frame::Frame;
use crate::hello::HelloMaker;
use crate::hosts::PortAllocator;
use crate::mix::{self, Mix};
use crate::pcap;
use crate::profile::{self, FlowError, FlowInput};
use crate::truth::FlowTruth;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenConfig {
    /// Number of TCP flows.
    pub flows: u64,
    /// The seed: the same seed gives the same bytes.
    pub seed: u64,
    /// The traffic mix.
    pub mix: Mix,
}

/// What was generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// TCP flows (truth lines).
    pub flows: u64,
    /// Of which speak a mail protocol.
    pub mail_flows: u64,
    /// Frames written (TCP and DNS).
    pub frames: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Time of the first frame.
    pub first_us: u64,
    /// Time of the last frame.
    pub last_us: u64,
}

/// Why generation stopped.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// Writing the capture or the truth failed.
    #[error("writing output: {0}")]
    Io(#[from] io::Error),
    /// Serialising a truth line failed.
    #[error("writing truth: {0}")]
    Json(#[from] serde_json::Error),
    /// A flow could not be made.
    #[error("flow {flow} ({profile}): {source}")]
    Flow {
        /// The flow's index.
        flow: u64,
        /// Its profile.
        profile: &'static str,
        /// What went wrong.
        source: FlowError,
    },
}

/// An open flow: the frame due next and the rest.
struct Open {
    head: Frame,
    rest: std::vec::IntoIter<Frame>,
}

/// Where generated frames go, in time order: a pcap file (`gen`), or
/// memory (`send` generating its flows without a file).
pub trait FrameSink {
    /// Takes the next frame.
    fn put(&mut self, frame: Frame) -> io::Result<()>;
}

impl<W: Write> FrameSink for pcap::Writer<W> {
    fn put(&mut self, frame: Frame) -> io::Result<()> {
        self.write(&frame)
    }
}

impl FrameSink for Vec<Frame> {
    fn put(&mut self, frame: Frame) -> io::Result<()> {
        self.push(frame);
        Ok(())
    }
}

/// Generates the capture described by `config` into `capture`, a truth line
/// per flow into `truth`; `progress` is called with the number of flows
/// made so far.
pub fn generate<C: FrameSink, T: Write>(
    config: &GenConfig,
    capture: &mut C,
    truth: &mut T,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, GenError> {
    let plans = mix::plan(config.mix, config.flows, config.seed);
    let hello = HelloMaker::new();
    let mut ports = PortAllocator::default();
    let mut summary = Summary::default();

    // (time of the head frame, flow index, slot) — flow index breaks ties deterministically.
    let mut due: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut slots: Vec<Option<Open>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut next = plans.iter().enumerate().peekable();

    loop {
        // Open every flow that starts before the earliest frame still due:
        // no frame of a later flow can precede that one.
        while let Some(&(index, plan)) = next.peek() {
            if due.peek().is_some_and(|Reverse((ts, ..))| plan.start_us > *ts) {
                break;
            }
            next.next();
            let flow = index as u64;
            let input = FlowInput { start_us: plan.start_us, seed: plan.seed, hello: &hello, ports: &mut ports };
            let out = profile::synthesize(plan.profile, input).map_err(|source| GenError::Flow {
                flow,
                profile: plan.profile.as_str(),
                source,
            })?;
            summary.flows += 1;
            summary.mail_flows += u64::from(out.facts.proto.is_some());
            let line =
                FlowTruth::new(flow, out.syn_us, out.client, out.server, out.vlan, plan.profile.as_str(), out.facts);
            serde_json::to_writer(&mut *truth, &line)?;
            truth.write_all(b"\n")?;
            let mut rest = out.frames.into_iter();
            if let Some(head) = rest.next() {
                let slot = free.pop().unwrap_or_else(|| {
                    slots.push(None);
                    slots.len() - 1
                });
                due.push(Reverse((head.ts_us, flow, slot)));
                slots[slot] = Some(Open { head, rest });
            }
            progress(summary.flows);
        }

        let Some(Reverse((_, flow, slot))) = due.pop() else {
            break;
        };
        let Some(mut open) = slots[slot].take() else {
            continue;
        };
        if summary.frames == 0 {
            summary.first_us = open.head.ts_us;
        }
        summary.frames += 1;
        summary.bytes += open.head.data.len() as u64;
        summary.last_us = open.head.ts_us;
        let frame = match open.rest.next() {
            Some(head) => {
                due.push(Reverse((head.ts_us, flow, slot)));
                let frame = std::mem::replace(&mut open.head, head);
                slots[slot] = Some(open);
                frame
            }
            None => {
                free.push(slot);
                open.head
            }
        };
        capture.put(frame)?;
    }
    Ok(summary)
}
