//! The per-worker engine: decode → flow table → reassembly → inspection →
//! verdict, one frame at a time, with every table sized at start-up. It
//! sees only byte slices and a timestamp, so `inspect`, tests and the live
//! DPDK workers drive exactly the same code.

use crate::decode::{decode_ethernet, Decoded, Fragment, TcpSegment};
use crate::flow::fragments::{FragmentTable, Reassembly};
use crate::flow::pool::{Pool, NO_SLOT};
use crate::flow::reassembly::StreamStore;
use crate::flow::{Endpoint, FlowIdx, FlowKey, FlowTable};
use crate::io::{prefetch, BURST};
use crate::rst::RstPair;
use crate::session::{Dir, Point, Points, SessionFacts};
use crate::verdict::{FlowVerdict, Verdicts};
use arrayvec::ArrayVec;
use mailgate_proto::{detect, Anomalies};
use mailgate_protocol::record::MailProto;

/// Start-up sizes and timeouts of one worker's engine (`[dataplane.engine]`
/// in the config file; every key optional).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Flows tracked at once (fixed; the table never grows).
    pub flow_capacity: usize,
    /// Sessions whose facts are kept at once (mail sessions and those under inspection).
    pub session_capacity: usize,
    /// Sessions reassembled at once (only during their handshake phase).
    pub stream_capacity: usize,
    /// Bytes reassembled per direction from the start of a session.
    pub reassembly_bytes: usize,
    /// Idle timeout of a flow whose TCP handshake has not completed.
    pub new_timeout_ms: u64,
    /// Idle timeout of an established flow.
    pub established_timeout_ms: u64,
    /// How long a closed (FIN/RST) flow lingers for stray packets.
    pub closed_timeout_ms: u64,
    /// What happens to a new flow to a mail port when the table is full of
    /// flows that may not be evicted (mail sessions): `fail_open` forwards it
    /// uninspected, `fail_closed` drops it. Non-mail ports always fail open.
    pub table_full_mail_ports: FailMode,
    /// IP datagrams reassembled at once (fragmented handshakes).
    pub fragment_slots: usize,
    /// Largest fragmented datagram reassembled, in payload bytes.
    pub fragment_bytes: usize,
    /// How long an incomplete fragmented datagram is kept.
    pub fragment_timeout_ms: u64,
    /// Keep inspecting a flow after its verdict blocked it. Live workers
    /// never see those packets again, but a replayed capture still holds
    /// them (`inspect`), and its records are more useful with them.
    pub inspect_blocked: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            flow_capacity: 262_144,
            session_capacity: 16_384,
            stream_capacity: 4_096,
            reassembly_bytes: 4_096,
            new_timeout_ms: 30_000,
            established_timeout_ms: 600_000,
            closed_timeout_ms: 10_000,
            table_full_mail_ports: FailMode::Open,
            fragment_slots: 256,
            fragment_bytes: 16_384,
            fragment_timeout_ms: 5_000,
            inspect_blocked: false,
        }
    }
}

/// Whether an overloaded engine lets uninspected traffic through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum FailMode {
    /// Forward without inspection (availability first).
    #[serde(rename = "fail_open")]
    Open,
    /// Drop (enforcement first).
    #[serde(rename = "fail_closed")]
    Closed,
}

/// What the worker does with a frame after the engine saw it (one byte, so
/// that the per-packet return costs nothing; the RSTs of a reset are in
/// [`Engine::reset_frames`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameAction {
    /// Send it out of the pair's other port, unchanged.
    Forward,
    /// Discard it.
    Drop,
    /// Discard it and send the two RSTs of [`Engine::reset_frames`].
    Reset,
}

/// A TCP segment's flow key, the key's hash, and whether the sender is the
/// key's lower endpoint: computed once per packet.
#[derive(Default)]
struct Keyed {
    key: FlowKey,
    src_is_lo: bool,
    hash: u64,
}

/// What a burst's first pass found for a segment's key, valid while the
/// table's generation is the one the lookup saw.
#[derive(Clone, Copy)]
struct Found {
    flow: Option<FlowIdx>,
    generation: u64,
}

/// Recently seen flows passed over at most per eviction before the list's head goes anyway.
const EVICT_SECOND_CHANCES: usize = 8;

/// Closed flows finished at most per new session to free a session or stream slot.
const RECLAIM_TRIES: usize = 4;

/// LRU classes of the flow table, in eviction order (first evicted first).
mod class {
    /// FIN or RST seen: lingering for stray packets.
    pub const CLOSED: usize = 0;
    /// TCP handshake not complete.
    pub const NEW: usize = 1;
    /// Established, not mail (or not known to be).
    pub const OTHER: usize = 2;
    /// Established mail session: never evicted for room.
    pub const MAIL: usize = 3;
    /// How many classes.
    pub const COUNT: usize = 4;
}

/// TCP state, from SYN/FIN/RST.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum TcpState {
    /// Only the SYN (or SYN-ACK) seen.
    #[default]
    New,
    /// Data or the final handshake ACK seen.
    Established,
    /// FIN from both sides, or a RST.
    Closed,
}

/// One tracked flow (kept small: the table holds hundreds of thousands).
#[derive(Debug, Clone, Copy, Default)]
struct Flow {
    flow_id: u64,
    first_ns: u64,
    last_ns: u64,
    /// Per direction (`Dir::idx`): packets, frame bytes.
    pkts: [u64; 2],
    bytes: [u64; 2],
    /// The client's initial sequence number (tells a retransmitted SYN from a new session).
    client_isn: u32,
    client_is_lo: bool,
    direction_inferred: bool,
    /// Mid-stream flow whose client is still a guess (no payload yet).
    direction_pending: bool,
    fin: [bool; 2],
    tcp: TcpState,
    /// When the flow was last linked at the tail of its list: lists are in
    /// this order, which lets expiry stop at the first flow linked too
    /// recently to be idle without relinking flows on every packet.
    linked_ns: u64,
    /// The session is known to be mail (kept here so that packets past
    /// inspection never read the pooled facts).
    mail: bool,
    /// Bytes may still change what inspection knows: the packet takes the
    /// inspection path. False once inspection ended, or for flows not inspected.
    inspecting: bool,
    /// Pooled facts (`NO_SLOT` when the flow is not inspected).
    session: u32,
    /// Pooled reassembly windows (`NO_SLOT` once inspection ended).
    stream: u32,
    anomalies: Anomalies,
    verdict: FlowVerdict,
}

/// A finished session, fixed-size, turned into a record off the hot path.
/// The engine hands sinks a [`SessionEnd`], whose facts are still in its
/// pool (kilobytes: a sink that keeps them takes them with
/// [`SessionEnd::take_facts`], or copies them with [`SessionEnd::to_owned`]);
/// `FinishedSession` itself owns them.
#[derive(Debug, Clone, Copy)]
pub struct FinishedSession<F = SessionFacts> {
    /// Identifier, unique per engine.
    pub flow_id: u64,
    /// First and last packet, ns since the epoch.
    pub first_ns: u64,
    /// Last packet.
    pub last_ns: u64,
    /// The initiator.
    pub client: Endpoint,
    /// The responder.
    pub server: Endpoint,
    /// Whether the client was inferred from content (flow picked up mid-stream).
    pub direction_inferred: bool,
    /// Packets to the server, to the client.
    pub pkts: [u64; 2],
    /// Frame bytes to the server, to the client.
    pub bytes: [u64; 2],
    /// Anomalies seen.
    pub anomalies: Anomalies,
    /// Inspection found a mail protocol (`facts.mail` is set): the flow's
    /// own copy, so that deciding whether to report a session does not
    /// touch its pooled facts, cold by the time a closed flow's linger ends.
    pub mail: bool,
    /// What inspection learnt (`None` when the flow was not inspected).
    pub facts: Option<F>,
    /// The verdict.
    pub verdict: FlowVerdict,
}

/// A finished session as the engine emits it: the facts still in their pool slot.
pub type SessionEnd<'a> = FinishedSession<PooledFacts<'a>>;

/// A finished session that took its facts out of the pool (see
/// [`SessionEnd::take_facts`]): what travels to the reporter, a pointer's
/// worth of facts instead of their kilobytes.
pub type ReportedSession = FinishedSession<Box<SessionFacts>>;

/// A finished session's facts, still in their pool slot: read in place,
/// or taken without a copy by [`SessionEnd::take_facts`].
#[derive(Debug)]
pub struct PooledFacts<'a>(&'a mut Box<SessionFacts>);

impl std::borrow::Borrow<SessionFacts> for PooledFacts<'_> {
    fn borrow(&self) -> &SessionFacts {
        self.0
    }
}

impl<F: std::borrow::Borrow<SessionFacts>> FinishedSession<F> {
    /// What inspection learnt, however the facts are held.
    pub fn facts(&self) -> Option<&SessionFacts> {
        self.facts.as_ref().map(|f| f.borrow())
    }

    /// True for sessions `inspect` reports by default: mail, or a mail port whatever it carried.
    pub fn is_reportable(&self) -> bool {
        self.mail || detect_mail_port(self.server.port)
    }
}

impl<F> FinishedSession<F> {
    /// The same session holding `facts` instead (the rest is copied: ~150 bytes).
    pub fn with_facts<G>(&self, facts: Option<G>) -> FinishedSession<G> {
        FinishedSession {
            flow_id: self.flow_id,
            first_ns: self.first_ns,
            last_ns: self.last_ns,
            client: self.client,
            server: self.server,
            direction_inferred: self.direction_inferred,
            pkts: self.pkts,
            bytes: self.bytes,
            anomalies: self.anomalies,
            mail: self.mail,
            facts,
            verdict: self.verdict,
        }
    }
}

impl SessionEnd<'_> {
    /// A copy that owns its facts, for sinks that keep a few sessions (tests).
    pub fn to_owned(&self) -> FinishedSession {
        self.with_facts(self.facts().copied())
    }

    /// This session, owning its facts without a copy: they leave their
    /// pool slot, and a spare from `spare` (any facts a reporter is done
    /// with; the pool resets a slot when it hands it out again) takes their
    /// place. A sink that keeps sessions does this rather than copy
    /// kilobytes of facts, cold by the time a closed flow's linger ends, on
    /// the worker. `None`, the facts left where they are, when the session
    /// has facts and `spare` gives none; a session without facts needs no
    /// spare. The session has no facts afterwards.
    pub fn take_facts(&mut self, spare: impl FnOnce() -> Option<Box<SessionFacts>>) -> Option<ReportedSession> {
        let facts = match &mut self.facts {
            None => None,
            Some(pooled) => Some(std::mem::replace(pooled.0, spare()?)),
        };
        self.facts = None;
        Some(self.with_facts(facts))
    }
}

/// Where an engine puts finished sessions (a reporter ring, `inspect`'s writer…).
pub trait SessionSink {
    /// Takes one finished session. A live worker's sink must not block;
    /// offline ones (`inspect`'s writer, an import) wait for room instead of
    /// dropping records.
    fn emit(&mut self, session: &mut SessionEnd<'_>);

    /// The worker has stopped taking packets and is about to end every
    /// flow at once (shutdown): from now on a sink may wait, for a bounded
    /// time, for room rather than drop what it is handed.
    fn ending(&mut self) {}
}

/// Engine counters (read through [`Engine::stats`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineStats {
    /// Flows created.
    pub flows_created: u64,
    /// New flows not tracked because the table was full of flows that may not be evicted.
    pub flows_untracked: u64,
    /// Flows evicted to make room (in the table, or in the session and
    /// stream pools for a new session: closed flows, oldest first).
    pub flows_evicted: u64,
    /// Packets to a mail port dropped because no flow could be tracked (fail-closed).
    pub untracked_mail_port_dropped: u64,
    /// Sessions not inspected for lack of a free session or stream slot.
    pub sessions_not_inspected: u64,
    /// Mail sessions finished.
    pub mail_sessions: u64,
    /// Fragmented datagrams reassembled and inspected.
    pub fragments_reassembled: u64,
    /// Fragmented datagrams not reassembled (too large, or no free slot).
    pub fragments_untracked: u64,
    /// Sessions finished.
    pub sessions_finished: u64,
}

/// One worker's engine.
pub struct Engine {
    config: EngineConfig,
    flows: FlowTable<Flow, { class::COUNT }>,
    /// Boxed, so that a sink can take a finished session's facts by swapping pointers.
    sessions: Pool<Box<SessionFacts>>,
    streams: StreamStore,
    fragments: FragmentTable,
    /// The last reassembled datagram, as a frame (capacity fixed at start-up).
    reassembled: Vec<u8>,
    tls_scratch: Vec<u8>,
    verdicts: Verdicts,
    /// The RSTs of each frame of the current burst that got [`FrameAction::Reset`].
    rsts: Box<[RstPair]>,
    /// The current frame's index in its burst.
    current: usize,
    next_flow_id: u64,
    stats: EngineStats,
}

fn detect_mail_port(port: u16) -> bool {
    mailgate_config::MAIL_PORTS.contains(&port)
}

/// The mail protocol a TLS port implies (implicit TLS).
fn implicit_tls_proto(port: u16) -> Option<MailProto> {
    match port {
        465 => Some(MailProto::Smtp),
        993 => Some(MailProto::Imap),
        995 => Some(MailProto::Pop3),
        _ => None,
    }
}

impl Engine {
    /// An engine with all tables allocated for `config`, deciding with `verdicts`.
    pub fn new(config: &EngineConfig, verdicts: Verdicts) -> Self {
        Engine {
            flows: FlowTable::new(config.flow_capacity),
            sessions: Pool::new(config.session_capacity),
            streams: StreamStore::new(config.stream_capacity, config.reassembly_bytes),
            fragments: FragmentTable::new(config.fragment_slots, config.fragment_bytes, config.fragment_timeout_ms),
            reassembled: Vec::with_capacity(config.fragment_bytes + 128),
            tls_scratch: vec![0; config.reassembly_bytes.max(4096)],
            verdicts,
            rsts: vec![RstPair::none(); BURST].into_boxed_slice(),
            current: 0,
            config: config.clone(),
            next_flow_id: 1,
            stats: EngineStats::default(),
        }
    }

    /// The verdict engine (to swap the policy between bursts).
    pub fn verdicts_mut(&mut self) -> &mut Verdicts {
        &mut self.verdicts
    }

    /// Takes up a newer policy or mode, if one was published (on the tick).
    pub fn refresh_policy(&mut self) {
        self.verdicts.refresh();
    }

    /// Counters.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            fragments_reassembled: self.fragments.reassembled,
            fragments_untracked: self.fragments.untracked,
            ..self.stats
        }
    }

    /// The two RSTs to send for frame `i` of the last burst (0 after
    /// [`Engine::process`]), when it got [`FrameAction::Reset`]; valid until
    /// the next burst.
    pub fn reset_frames(&self, i: usize) -> &RstPair {
        static NO_RST: RstPair = RstPair::none();
        self.rsts.get(i).unwrap_or(&NO_RST)
    }

    /// Flows currently tracked.
    pub fn flows_active(&self) -> usize {
        self.flows.len()
    }

    /// Bytes of flow-table memory per flow (entry, index slots, free list;
    /// see `FlowTable::bytes_per_flow`), for sizing `flow_capacity`. Session
    /// facts and reassembly windows come on top, per inspected session.
    pub fn memory_per_flow(&self) -> usize {
        self.flows.bytes_per_flow()
    }

    /// Inspects one frame captured at `now_ns` and says what to do with it
    /// (the RSTs of a reset are `reset_frames(0)`).
    pub fn process(&mut self, frame: &[u8], now_ns: u64, sink: &mut impl SessionSink) -> FrameAction {
        self.current = 0;
        match decode_ethernet(frame) {
            Decoded::Tcp(seg) => {
                let keyed = self.keyed(&seg);
                self.process_tcp(frame, &seg, &keyed, None, now_ns, Anomalies::NONE, sink)
            }
            Decoded::Fragment(frag) => self.process_fragment(&frag, now_ns, sink),
            Decoded::Other => FrameAction::Forward,
        }
    }

    /// Inspects a burst of frames (one RX burst: at most [`BURST`], which the
    /// types hold to), each with its capture time, and writes what to do with
    /// frame `i` to `actions[i]` (the RSTs of a reset are `reset_frames(i)`). Same result as [`Engine::process`] per frame in
    /// order, but faster: a first pass decodes every frame and looks up its
    /// flow, so the cache misses of the whole burst (frame headers, index
    /// slots, flow entries) overlap instead of stalling one packet after
    /// the other; the second pass then finds everything in the cache.
    pub fn process_burst(
        &mut self,
        frames: &ArrayVec<(&[u8], u64), BURST>,
        actions: &mut [FrameAction; BURST],
        sink: &mut impl SessionSink,
    ) {
        // Every frame's headers are loading while the burst is decoded: its
        // first 64 bytes (Ethernet, IP, TCP), one line when the frame starts
        // on one (as in an mbuf) or else two.
        for (frame, _) in frames {
            if let (Some(first), Some(last)) = (frame.first(), frame.get(..64).unwrap_or(frame).last()) {
                prefetch(first);
                if !(first as *const u8 as usize).is_multiple_of(64) {
                    prefetch(last);
                }
            }
        }
        // Each pass below runs over the whole burst, so that the misses one
        // issues overlap; the results stay in arrays of their own, written
        // once in place.
        let mut decoded: ArrayVec<Decoded<'_>, BURST> = ArrayVec::new();
        for &(frame, _) in frames {
            decoded.push(decode_ethernet(frame));
        }
        let mut keyed: ArrayVec<Keyed, BURST> = ArrayVec::new();
        let mut syns = 0;
        for d in &decoded {
            keyed.push(match d {
                Decoded::Tcp(seg) => {
                    syns += usize::from(seg.flags.syn && !seg.flags.ack);
                    self.keyed(seg)
                }
                _ => Keyed::default(),
            });
        }
        // A lookup's two misses, the index slot and then the entry it
        // names, each issued for the whole burst before the first is needed.
        for k in &keyed {
            self.flows.prefetch_slot(k.hash);
        }
        for k in &keyed {
            self.flows.prefetch_home_entry(k.hash);
        }
        // A SYN takes a free entry, session slot and reassembly window: the
        // ones it will get are known, and as cold as the rest.
        for n in 0..syns {
            self.flows.prefetch_free(n);
            self.streams.prefetch_free(n);
            self.sessions.prefetch_free(n, |facts| facts.prefetch_reset_lines());
        }
        let generation = self.flows.generation();
        let mut found: ArrayVec<Option<FlowIdx>, BURST> = ArrayVec::new();
        for (d, k) in decoded.iter().zip(&keyed) {
            found.push(match d {
                Decoded::Tcp(_) => self.flows.find_hashed(&k.key, k.hash),
                _ => None,
            });
        }
        for (i, (((d, k), &flow), &(frame, now_ns))) in decoded.iter().zip(&keyed).zip(&found).zip(frames).enumerate() {
            self.current = i;
            let action = match d {
                Decoded::Tcp(seg) => {
                    let found = Some(Found { flow, generation });
                    self.process_tcp(frame, seg, k, found, now_ns, Anomalies::NONE, sink)
                }
                Decoded::Fragment(frag) => self.process_fragment(frag, now_ns, sink),
                Decoded::Other => FrameAction::Forward,
            };
            if let Some(slot) = actions.get_mut(i) {
                *slot = action;
            }
        }
    }

    /// A segment's flow key and the key's hash.
    fn keyed(&self, seg: &TcpSegment<'_>) -> Keyed {
        let src = Endpoint::new(seg.src, seg.src_port);
        let dst = Endpoint::new(seg.dst, seg.dst_port);
        let (key, src_is_lo) = FlowKey::new(src, dst);
        let hash = self.flows.hash(&key);
        Keyed { key, src_is_lo, hash }
    }

    /// A fragment is forwarded as it is; the one that completes its
    /// datagram carries the verdict on the whole (dropping it leaves the
    /// receiver unable to reassemble).
    fn process_fragment(&mut self, frag: &Fragment<'_>, now_ns: u64, sink: &mut impl SessionSink) -> FrameAction {
        let (whole, overlap) = match self.fragments.add(frag, now_ns) {
            Reassembly::Complete { frame, overlap } => {
                let mut whole = std::mem::take(&mut self.reassembled);
                whole.clear();
                // Within the capacity reserved at start-up: no allocation.
                whole.extend_from_slice(frame);
                (whole, overlap)
            }
            Reassembly::Incomplete | Reassembly::Untracked => return FrameAction::Forward,
        };
        let extra = if overlap { Anomalies::FRAGMENT_OVERLAP } else { Anomalies::NONE };
        let action = match decode_ethernet(&whole) {
            Decoded::Tcp(seg) => {
                let keyed = self.keyed(&seg);
                self.process_tcp(&whole, &seg, &keyed, None, now_ns, extra, sink)
            }
            _ => FrameAction::Forward,
        };
        self.reassembled = whole;
        action
    }

    /// A TCP segment (of `frame`, with its `keyed` flow key and what a
    /// lookup already `found` for it); `extra` anomalies are added to its flow.
    #[allow(clippy::too_many_arguments)]
    fn process_tcp(
        &mut self,
        frame: &[u8],
        seg: &TcpSegment<'_>,
        keyed: &Keyed,
        found: Option<Found>,
        now_ns: u64,
        extra: Anomalies,
        sink: &mut impl SessionSink,
    ) -> FrameAction {
        let Keyed { key, src_is_lo, hash } = keyed;
        let src_is_lo = *src_is_lo;
        let syn_only = seg.flags.syn && !seg.flags.ack;
        let found = match found {
            // Looked up in the burst's first pass, and no flow came or went since.
            Some(Found { flow, generation }) if generation == self.flows.generation() => flow,
            _ => self.flows.find_hashed(key, *hash),
        };
        let existing = match found {
            // A new SYN (not a retransmission of the first) on a closed flow is
            // a new session on a reused port pair.
            Some(idx)
                if syn_only
                    && self.flows.get(idx).is_some_and(|f| f.tcp == TcpState::Closed && f.client_isn != seg.seq) =>
            {
                self.finish(idx, sink);
                None
            }
            found => found,
        };
        let (idx, blocked_at_syn) = match existing {
            Some(idx) => (idx, false),
            None => match self.new_flow(*key, *hash, src_is_lo, seg, now_ns, sink) {
                Some(created) => created,
                // Not trackable (the table is full of mail sessions): non-mail
                // ports pass without state; mail ports as configured.
                None if self.config.table_full_mail_ports == FailMode::Closed && detect_mail_port(seg.dst_port) => {
                    self.stats.untracked_mail_port_dropped += 1;
                    return FrameAction::Drop;
                }
                None => return FrameAction::Forward,
            },
        };
        let Some(flow) = self.flows.get_mut(idx) else { return FrameAction::Forward };
        if flow.direction_pending && !seg.payload.is_empty() {
            // A mid-stream flow's first payload tells who the server is.
            let from_server = detect::looks_like_server_line(seg.payload);
            let sender_is_client = src_is_lo == flow.client_is_lo;
            if from_server == sender_is_client {
                flow.client_is_lo = !flow.client_is_lo;
                flow.pkts.swap(0, 1);
                flow.bytes.swap(0, 1);
            }
            flow.direction_pending = false;
        }
        flow.anomalies.insert(extra);
        let dir = if src_is_lo == flow.client_is_lo { Dir::ToServer } else { Dir::ToClient };
        let d = dir.idx();
        flow.last_ns = now_ns;
        if let (Some(p), Some(b)) = (flow.pkts.get_mut(d), flow.bytes.get_mut(d)) {
            *p += 1;
            *b += frame.len() as u64;
        }
        if seg.flags.rst {
            flow.tcp = TcpState::Closed;
        } else if seg.flags.fin {
            if let Some(f) = flow.fin.get_mut(d) {
                *f = true;
            }
            if flow.fin == [true, true] {
                flow.tcp = TcpState::Closed;
            }
        } else if flow.tcp == TcpState::New && seg.flags.ack && !seg.flags.syn {
            flow.tcp = TcpState::Established;
        }

        let enforced = self.verdicts.enforced(&flow.verdict);
        // Past its handshake phase (or never inspected), a flow's packet
        // costs the lookup, the counters above and the verdict's flag.
        // Only a SYN (the stream's base) or payload can teach inspection anything.
        let inspect =
            flow.inspecting && (!enforced || self.config.inspect_blocked) && (seg.flags.syn || !seg.payload.is_empty());
        let mut action = if blocked_at_syn {
            let verdict = flow.verdict;
            self.block_action(&verdict, frame, seg)
        } else if enforced {
            FrameAction::Drop
        } else {
            FrameAction::Forward
        };
        if inspect {
            let inspected = self.inspect(idx, dir, seg, frame, now_ns);
            if action == FrameAction::Forward {
                action = inspected;
            }
        }
        self.reclassify(idx, now_ns);
        action
    }

    /// What to do with the segment that got its flow blocked: reset both sides, or drop.
    fn block_action(&mut self, verdict: &FlowVerdict, frame: &[u8], seg: &TcpSegment<'_>) -> FrameAction {
        if self.verdicts.resets(verdict) {
            if let Some(slot) = self.rsts.get_mut(self.current) {
                *slot = RstPair::for_segment(frame, seg);
            }
            FrameAction::Reset
        } else {
            FrameAction::Drop
        }
    }

    /// Creates the flow of a segment not in the table; evicts for room when allowed.
    #[allow(clippy::too_many_arguments)]
    fn new_flow(
        &mut self,
        key: FlowKey,
        hash: u64,
        src_is_lo: bool,
        seg: &TcpSegment<'_>,
        now_ns: u64,
        sink: &mut impl SessionSink,
    ) -> Option<(FlowIdx, bool)> {
        if self.flows.is_full() && !self.evict_one(sink) {
            self.stats.flows_untracked += 1;
            return None;
        }
        let syn_only = seg.flags.syn && !seg.flags.ack;
        let syn_ack = seg.flags.syn && seg.flags.ack;
        let (client_is_lo, inferred, pending) = if syn_only {
            (src_is_lo, false, false)
        } else if syn_ack {
            (!src_is_lo, false, false)
        } else if !seg.payload.is_empty() {
            let from_server = detect::looks_like_server_line(seg.payload);
            (if from_server { !src_is_lo } else { src_is_lo }, true, false)
        } else {
            // No payload to tell by: take the lower (or mail) port as the server's, for now.
            let sender_is_server = detect_mail_port(seg.src_port) || seg.src_port < seg.dst_port;
            (if sender_is_server { !src_is_lo } else { src_is_lo }, true, true)
        };
        let mut flow = Flow {
            flow_id: self.next_flow_id,
            first_ns: now_ns,
            last_ns: now_ns,
            client_is_lo,
            direction_inferred: inferred,
            direction_pending: pending,
            client_isn: if syn_only { seg.seq } else { 0 },
            linked_ns: now_ns,
            session: NO_SLOT,
            stream: NO_SLOT,
            ..Flow::default()
        };
        if inferred {
            flow.anomalies.insert(Anomalies::MIDSTREAM);
        }
        if seg.flags.syn && !seg.payload.is_empty() {
            flow.anomalies.insert(Anomalies::SYN_WITH_DATA);
        }
        // Inspection state: facts for the whole session, a window for its start.
        self.reclaim_for_inspection(sink);
        match (self.sessions.take_with(|facts| facts.reset(inferred)), self.streams.take()) {
            (Some(s), Some(w)) => {
                flow.session = s;
                flow.stream = w;
                flow.inspecting = true;
            }
            (s, w) => {
                if let Some(s) = s {
                    self.sessions.give_back(s);
                }
                if let Some(w) = w {
                    self.streams.give_back(w);
                }
                flow.anomalies.insert(Anomalies::NOT_INSPECTED);
                self.stats.sessions_not_inspected += 1;
            }
        }
        self.next_flow_id += 1;
        self.stats.flows_created += 1;
        let idx = self.flows.insert_hashed(key, hash, flow, class::NEW).ok()?;
        // The SYN itself is a decision point: a mail port no rule can admit is decided now.
        let mut blocked = false;
        if syn_only && self.verdicts.may_decide_at_syn(seg.dst_port) {
            let (client, server) = self.endpoints(idx)?;
            if let Some(f) = self.flows.get_mut(idx) {
                blocked = self.verdicts.at_syn(&mut f.verdict, &client, &server, now_ns);
            }
        }
        Some((idx, blocked))
    }

    /// Makes room for one flow: the least recently seen closed, then
    /// half-open, then established non-mail flow goes (its record is
    /// emitted); mail sessions stay. Lists are in link order, so a flow at
    /// the head that was seen since it was linked gets a second chance at
    /// the tail (a few at most per eviction: the clock algorithm).
    fn evict_one(&mut self, sink: &mut impl SessionSink) -> bool {
        for c in [class::CLOSED, class::NEW, class::OTHER] {
            for chance in 0..=EVICT_SECOND_CHANCES {
                let Some(idx) = self.flows.oldest(c) else { break };
                let Some(flow) = self.flows.get_mut(idx) else { break };
                if flow.last_ns > flow.linked_ns && chance < EVICT_SECOND_CHANCES {
                    flow.linked_ns = flow.last_ns;
                    self.flows.touch(idx, c);
                    continue;
                }
                self.finish(idx, sink);
                self.stats.flows_evicted += 1;
                return true;
            }
        }
        false
    }

    /// When the session or stream pool is empty, finishes the oldest closed
    /// flows (which keep their slots through the linger), so that a storm
    /// of short sessions cannot leave new sessions uninspected: a closed
    /// session's record is then emitted before its linger ends.
    fn reclaim_for_inspection(&mut self, sink: &mut impl SessionSink) {
        for _ in 0..RECLAIM_TRIES {
            if !self.sessions.is_exhausted() && !self.streams.is_exhausted() {
                return;
            }
            let Some(idx) = self.flows.oldest(class::CLOSED) else { return };
            self.finish(idx, sink);
            self.stats.flows_evicted += 1;
        }
    }

    /// The flow's (client, server) endpoints.
    fn endpoints(&self, idx: FlowIdx) -> Option<(Endpoint, Endpoint)> {
        let key = self.flows.key(idx)?;
        let flow = self.flows.get(idx)?;
        Some(if flow.client_is_lo { (key.lo(), key.hi()) } else { (key.hi(), key.lo()) })
    }

    /// Runs inspection for one segment and the verdict at every decision point crossed.
    fn inspect(&mut self, idx: FlowIdx, dir: Dir, seg: &TcpSegment<'_>, frame: &[u8], now_ns: u64) -> FrameAction {
        if seg.payload.is_empty() {
            // A SYN without data (the only empty segment inspected) just
            // sets where its direction's stream starts: no fact can change.
            let stream = self.flows.get(idx).map_or(NO_SLOT, |f| f.stream);
            if let Some(state) = self.streams.dir_mut(stream, dir.idx()) {
                state.set_base(seg.seq.wrapping_add(1));
            }
            return FrameAction::Forward;
        }
        let Some((client, server)) = self.endpoints(idx) else { return FrameAction::Forward };
        let Some(flow) = self.flows.get_mut(idx) else { return FrameAction::Forward };
        let Some(facts) = self.sessions.get_mut(flow.session) else { return FrameAction::Forward };
        let mut points = Points::new();
        if let Some(mut streams) = self.streams.get(flow.stream) {
            let d = dir.idx();
            if let Some(state) = streams.dirs.get_mut(d) {
                if seg.flags.syn {
                    state.set_base(seg.seq.wrapping_add(1));
                } else if !state.has_base() {
                    state.set_base(seg.seq);
                }
            }
            if facts.inspecting() {
                // Data on a SYN starts after the SYN's own sequence number.
                let data_seq = if seg.flags.syn { seg.seq.wrapping_add(1) } else { seg.seq };
                facts.on_segment(
                    &mut streams,
                    dir,
                    data_seq,
                    seg.payload,
                    &mut self.tls_scratch,
                    &mut flow.anomalies,
                    &mut points,
                );
            }
        }
        if points.contains(&Point::ClientHello) {
            if let Some(proto) = implicit_tls_proto(server.port) {
                if facts.tls().is_some_and(|t| t.implicit) {
                    facts.set_mail_from_port(proto);
                }
            }
        }
        if points.contains(&Point::Detect) || points.contains(&Point::ClientHello) {
            let mail_port = detect_mail_port(server.port);
            let standard = facts.mail.is_some_and(|p| mailgate_config::standard_ports(p).contains(&server.port));
            if facts.mail.is_some() && !standard {
                flow.anomalies.insert(Anomalies::MAIL_ON_NONSTANDARD_PORT);
            }
            let tls_not_mail = facts.tls().is_some() && facts.mail.is_none();
            if mail_port && (facts.not_mail || tls_not_mail) {
                flow.anomalies.insert(Anomalies::NON_MAIL_ON_MAIL_PORT);
            }
        }
        flow.mail = facts.mail.is_some();
        flow.inspecting = facts.inspecting();
        if !flow.inspecting && flow.stream != NO_SLOT {
            // Handshake phase over: from now on a packet costs one lookup.
            self.streams.give_back(flow.stream);
            flow.stream = NO_SLOT;
        }
        for point in points {
            if self.verdicts.at_point(&mut flow.verdict, point, facts, &flow.anomalies, &client, &server, now_ns) {
                let verdict = flow.verdict;
                return self.block_action(&verdict, frame, seg);
            }
        }
        FrameAction::Forward
    }

    /// Moves a flow to the list its state belongs in, when that changed.
    /// A flow is not relinked per packet: within a list, flows stay in the
    /// order they were linked, and expiry gives a second chance to the ones
    /// seen since (see [`Engine::expire_idle`]).
    fn reclassify(&mut self, idx: FlowIdx, now_ns: u64) {
        let Some(flow) = self.flows.get(idx) else { return };
        let c = match flow.tcp {
            TcpState::Closed => class::CLOSED,
            TcpState::New => class::NEW,
            TcpState::Established if flow.mail => class::MAIL,
            TcpState::Established => class::OTHER,
        };
        if self.flows.class_of(idx) != Some(c) {
            if let Some(flow) = self.flows.get_mut(idx) {
                flow.linked_ns = now_ns;
            }
            self.flows.touch(idx, c);
        }
    }

    fn timeout_ns(&self, c: usize) -> u64 {
        let ms = match c {
            class::CLOSED => self.config.closed_timeout_ms,
            class::NEW => self.config.new_timeout_ms,
            _ => self.config.established_timeout_ms,
        };
        ms.saturating_mul(1_000_000)
    }

    /// Ends flows idle past their timeout and emits their records. Each
    /// list is in link order, so the sweep stops at the first flow linked
    /// less than a timeout ago; a flow linked earlier but seen since is
    /// linked again at the tail (as of its last packet), so every flow is
    /// looked at most once per timeout, not once per packet.
    pub fn expire_idle(&mut self, now_ns: u64, sink: &mut impl SessionSink) {
        for c in 0..class::COUNT {
            let timeout = self.timeout_ns(c);
            while let Some(idx) = self.flows.oldest(c) {
                let Some(flow) = self.flows.get_mut(idx) else { break };
                if now_ns.saturating_sub(flow.linked_ns) <= timeout {
                    break; // linked too recently for it, or any after it, to be idle
                }
                if now_ns.saturating_sub(flow.last_ns) > timeout {
                    self.finish(idx, sink);
                } else {
                    flow.linked_ns = flow.last_ns;
                    self.flows.touch(idx, c);
                }
            }
        }
    }

    /// Ends every flow (end of capture, shutdown) and emits its record.
    pub fn finish_all(&mut self, sink: &mut impl SessionSink) {
        for c in 0..class::COUNT {
            while let Some(idx) = self.flows.oldest(c) {
                self.finish(idx, sink);
            }
        }
    }

    /// Removes a flow, gives back its slots and emits its record.
    fn finish(&mut self, idx: FlowIdx, sink: &mut impl SessionSink) {
        let Some((client, server)) = self.endpoints(idx) else { return };
        let Some(flow) = self.flows.get(idx).copied() else { return };
        let facts = self.sessions.get_mut(flow.session).map(PooledFacts);
        let mut finished = FinishedSession {
            flow_id: flow.flow_id,
            first_ns: flow.first_ns,
            last_ns: flow.last_ns,
            client,
            server,
            direction_inferred: flow.direction_inferred,
            pkts: flow.pkts,
            bytes: flow.bytes,
            anomalies: flow.anomalies,
            mail: flow.mail,
            facts,
            verdict: flow.verdict,
        };
        // Emitted while the facts are still the flow's, then the slots go back.
        sink.emit(&mut finished);
        self.sessions.give_back(flow.session);
        self.streams.give_back(flow.stream);
        self.flows.remove(idx);
        self.stats.sessions_finished += 1;
        if flow.mail {
            self.stats.mail_sessions += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::load_policy;

    struct Count(Vec<FinishedSession>);
    impl SessionSink for Count {
        fn emit(&mut self, s: &mut SessionEnd<'_>) {
            self.0.push(s.to_owned());
        }
    }

    /// Ethernet + IPv4 + TCP from 198.51.100.`host`:`sport` to 203.0.113.9:`dport`.
    fn seg(host: u8, sport: u16, dport: u16, flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
        let total = 40 + payload.len();
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&[198, 51, 100, host, 203, 0, 113, 9]);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    /// An established mail session: SYN, then the server's 220 greeting (mid-flow, to the client).
    fn mail_session(e: &mut Engine, sink: &mut Count, host: u8, now: u64) {
        e.process(&seg(host, 40000, 25, 0x02, 100, b""), now, sink);
        e.process(&seg(host, 40000, 25, 0x10, 101, b""), now, sink);
        e.process(&seg(host, 40000, 25, 0x18, 101, b"EHLO me\r\n"), now, sink);
    }

    fn engine(capacity: usize, fail: FailMode) -> Engine {
        let config = EngineConfig { flow_capacity: capacity, table_full_mail_ports: fail, ..EngineConfig::default() };
        Engine::new(&config, Verdicts::new(load_policy(None).unwrap()))
    }

    #[test]
    fn a_burst_gets_the_answers_and_records_frame_by_frame_processing_gives() {
        let new_engine =
            || Engine::new(&EngineConfig::default(), Verdicts::new(crate::verdict::reset_unapproved_mail_policy()));
        // Mail sessions (reset at the SYN), web sessions with payload, and
        // their later packets, interleaved across burst boundaries.
        let mut frames = Vec::new();
        for host in 1..=40u8 {
            let port = if host % 3 == 0 { 25 } else { 443 };
            frames.push(seg(host, 40000, port, 0x02, 100, b""));
            frames.push(seg(host.wrapping_sub(1).max(1), 40000, 443, 0x18, 101, b"\x16\x03\x01junk"));
            frames.push(seg(host, 40000, port, 0x10, 101, b""));
        }
        let (mut burst_engine, mut one_engine) = (new_engine(), new_engine());
        let (mut burst_sink, mut one_sink) = (Count(Vec::new()), Count(Vec::new()));
        let mut burst_answers = Vec::new();
        for (n, chunk) in frames.chunks(BURST).enumerate() {
            let batch: ArrayVec<(&[u8], u64), BURST> = chunk.iter().map(|f| (f.as_slice(), n as u64 * 10)).collect();
            let mut actions = [FrameAction::Forward; BURST];
            burst_engine.process_burst(&batch, &mut actions, &mut burst_sink);
            for (i, action) in actions.iter().take(chunk.len()).enumerate() {
                let rst = burst_engine.reset_frames(i);
                burst_answers.push((*action, rst.to_sender().to_vec(), rst.to_receiver().to_vec()));
            }
        }
        let mut one_answers = Vec::new();
        for (n, chunk) in frames.chunks(BURST).enumerate() {
            for f in chunk {
                let action = one_engine.process(f, n as u64 * 10, &mut one_sink);
                let rst = one_engine.reset_frames(0);
                let rst = if action == FrameAction::Reset {
                    (rst.to_sender().to_vec(), rst.to_receiver().to_vec())
                } else {
                    (Vec::new(), Vec::new())
                };
                one_answers.push((action, rst.0, rst.1));
            }
        }
        // RSTs are only read for resets.
        for a in burst_answers.iter_mut().filter(|a| a.0 != FrameAction::Reset) {
            a.1.clear();
            a.2.clear();
        }
        assert!(one_answers.iter().any(|a| a.0 == FrameAction::Reset), "the policy resets some");
        assert_eq!(burst_answers, one_answers);
        burst_engine.finish_all(&mut burst_sink);
        one_engine.finish_all(&mut one_sink);
        let debug = |sink: &Count| sink.0.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>();
        assert_eq!(debug(&burst_sink), debug(&one_sink));
    }

    #[test]
    fn a_storm_of_closed_sessions_never_leaves_new_ones_uninspected() {
        let config = EngineConfig { session_capacity: 2, stream_capacity: 2, ..EngineConfig::default() };
        let mut e = Engine::new(&config, Verdicts::new(load_policy(None).unwrap()));
        let mut sink = Count(Vec::new());
        for host in 1..=10u8 {
            let now = u64::from(host) * 1000;
            mail_session(&mut e, &mut sink, host, now);
            // The client resets: the flow lingers, closed, holding its slots.
            e.process(&seg(host, 40000, 25, 0x14, 110, b""), now + 1, &mut sink);
        }
        assert_eq!(e.stats().sessions_not_inspected, 0);
        // The oldest closed sessions made way, each reported with what it learnt.
        assert_eq!(sink.0.len(), 8);
        assert!(sink.0.iter().all(|s| s.mail && s.facts.is_some_and(|f| f.mail == Some(MailProto::Smtp))));
        assert_eq!(e.stats().flows_evicted, 8);
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_seen_flow_of_a_class() {
        let mut e = engine(3, FailMode::Open);
        let mut sink = Count(Vec::new());
        // Three established web flows, the first one still busy.
        for host in 1..=3u8 {
            let now = u64::from(host);
            e.process(&seg(host, 40000, 443, 0x02, 7, b""), now, &mut sink);
            e.process(&seg(host, 40000, 443, 0x10, 8, b""), now, &mut sink);
        }
        e.process(&seg(1, 40000, 443, 0x10, 8, b""), 10, &mut sink);
        // A new flow needs room: the idle second flow goes, not the busy first.
        e.process(&seg(4, 40000, 443, 0x02, 9, b""), 11, &mut sink);
        assert_eq!(sink.0.len(), 1);
        assert_eq!(sink.0[0].client.ip().to_string(), "198.51.100.2");
    }

    #[test]
    fn a_full_table_evicts_idle_non_mail_flows_before_mail_sessions() {
        let mut e = engine(3, FailMode::Open);
        let mut sink = Count(Vec::new());
        mail_session(&mut e, &mut sink, 1, 1);
        mail_session(&mut e, &mut sink, 2, 2);
        // An established non-mail flow.
        e.process(&seg(3, 40000, 443, 0x02, 7, b""), 3, &mut sink);
        e.process(&seg(3, 40000, 443, 0x10, 8, b""), 3, &mut sink);
        // A fourth flow needs room: the web flow goes, with its record.
        assert!(matches!(e.process(&seg(4, 40000, 443, 0x02, 9, b""), 4, &mut sink), FrameAction::Forward));
        assert_eq!(sink.0.len(), 1);
        assert_eq!(sink.0[0].server.port, 443);
        assert_eq!(e.stats().flows_evicted, 1);
    }

    #[test]
    fn with_only_mail_sessions_left_mail_ports_fail_as_configured_and_other_ports_pass() {
        for (fail, mail_port_action) in [(FailMode::Open, "forward"), (FailMode::Closed, "drop")] {
            let mut e = engine(2, fail);
            let mut sink = Count(Vec::new());
            mail_session(&mut e, &mut sink, 1, 1);
            mail_session(&mut e, &mut sink, 2, 2);
            let web = e.process(&seg(3, 40000, 443, 0x02, 7, b""), 3, &mut sink);
            assert!(matches!(web, FrameAction::Forward), "non-mail ports fail open");
            let mail = e.process(&seg(4, 40000, 587, 0x02, 7, b""), 3, &mut sink);
            let got = if matches!(mail, FrameAction::Forward) { "forward" } else { "drop" };
            assert_eq!(got, mail_port_action, "{fail:?}");
            assert!(sink.0.is_empty(), "no mail session was evicted");
            assert_eq!(e.stats().flows_untracked, 2);
            assert_eq!(e.stats().untracked_mail_port_dropped, u64::from(fail == FailMode::Closed));
        }
    }
}
