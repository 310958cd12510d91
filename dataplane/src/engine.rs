//! The per-worker engine: decode → flow table → reassembly → inspection →
//! verdict, one frame at a time, with every table sized at start-up.
//!
//! (Skeleton: forwards every frame; the lead is filling in the pipeline.)

/// Start-up sizes and timeouts of one worker's engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Flows tracked at once (fixed; the table never grows).
    pub flow_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { flow_capacity: 65536 }
    }
}

/// Two crafted RST frames that end a reset flow on both sides.
#[derive(Debug, Clone)]
pub struct RstPair {
    len_sender: u8,
    len_receiver: u8,
    to_sender: [u8; 128],
    to_receiver: [u8; 128],
}

impl RstPair {
    /// The RST sent back out of the port the offending frame came in on.
    pub fn to_sender(&self) -> &[u8] {
        self.to_sender.get(..usize::from(self.len_sender)).unwrap_or(&[])
    }
    /// The RST sent on, out of the peer port, to the other side.
    pub fn to_receiver(&self) -> &[u8] {
        self.to_receiver.get(..usize::from(self.len_receiver)).unwrap_or(&[])
    }
}

/// What the worker does with a frame after the engine saw it.
#[derive(Debug, Clone)]
pub enum FrameAction {
    /// Send it out of the pair's other port, unchanged.
    Forward,
    /// Discard it.
    Drop,
    /// Discard it and send the two RSTs.
    Reset(Box<RstPair>),
}

/// A finished session, fixed-size, ready to be turned into a record off the hot path.
#[derive(Debug, Clone)]
pub struct FinishedSession {}

/// Where an engine puts finished sessions (a reporter ring, `inspect`'s writer…).
pub trait SessionSink {
    /// Takes one finished session; must not block.
    fn emit(&mut self, session: &FinishedSession);
}

/// One worker's engine.
pub struct Engine {
    flows: usize,
}

impl Engine {
    /// An engine with all tables allocated for `config`.
    pub fn new(_config: &EngineConfig) -> Self {
        Engine { flows: 0 }
    }
    /// Inspects one frame captured at `now_ns` and says what to do with it.
    pub fn process(&mut self, _frame: &[u8], _now_ns: u64, _sink: &mut impl SessionSink) -> FrameAction {
        FrameAction::Forward
    }
    /// Ends flows idle past their timeout.
    pub fn expire_idle(&mut self, _now_ns: u64, _sink: &mut impl SessionSink) {}
    /// Ends every flow.
    pub fn finish_all(&mut self, _sink: &mut impl SessionSink) {}
    /// Flows currently tracked.
    pub fn flows_active(&self) -> usize {
        self.flows
    }
}
