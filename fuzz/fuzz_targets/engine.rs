//! The whole engine: arbitrary frame sequences through `Engine::process`
//! (decode, flow table and eviction, reassembly, detection, every parser,
//! verdicts, RSTs), with idle expiry along the way and every finished
//! session turned into its JSON record both ways: borrowed and written by
//! sonic-rs, as `inspect` does, and owned (the reporter's) through
//! serde_json, which must give the same bytes.
//!
//! Input: one option byte (bit 0: the block-mode policy in
//! fuzz/policies/block.toml instead of the monitor-mode default; bit 1:
//! keep inspecting blocked flows; bits 2–3: 64, 256, 1024 or 4096
//! reassembly bytes per direction), then frames as `mailgate_fuzz::frames`
//! reads them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate_config::CompiledPolicy;
use mailgate_dataplane::engine::{Engine, EngineConfig, FrameAction, SessionEnd, SessionSink};
use mailgate_dataplane::record::{borrowed_record, to_record, write_json};
use mailgate_dataplane::verdict::{PolicyHandle, Verdicts};
use mailgate_fuzz::frames;
use std::sync::{Arc, OnceLock};

/// The two policies, compiled once per process.
fn policies() -> &'static [PolicyHandle; 2] {
    static POLICIES: OnceLock<[PolicyHandle; 2]> = OnceLock::new();
    POLICIES.get_or_init(|| {
        let block = CompiledPolicy::from_toml("block.toml", include_str!("../policies/block.toml"))
            .unwrap_or_else(|e| panic!("fuzz/policies/block.toml: {e}"));
        [Arc::new(CompiledPolicy::embedded_default()), Arc::new(block)]
    })
}

/// Turns every finished session into its record and JSON line, both ways.
struct Records<'a> {
    policy: &'a PolicyHandle,
    count: usize,
    line: Vec<u8>,
}

impl SessionSink for Records<'_> {
    fn emit(&mut self, session: &mut SessionEnd<'_>) {
        let policies = std::slice::from_ref(self.policy);
        let owned = serde_json::to_string(&to_record(session, policies))
            .unwrap_or_else(|e| panic!("record does not serialise: {e}"));
        self.line.clear();
        write_json(&borrowed_record(session, policies), &mut self.line)
            .unwrap_or_else(|e| panic!("borrowed record does not serialise: {e}"));
        assert_eq!(self.line, owned.as_bytes(), "inspect's line differs from the reporter's record");
        // Whether a session is reported is decided from the flow's flag, not its facts.
        assert_eq!(session.mail, session.facts().is_some_and(|f| f.mail.is_some()), "mail flag and facts disagree");
        let _ = session.is_reportable();
        self.count += 1;
    }
}

/// Frames between two idle-expiry passes (the worker's tick).
const TICK_EVERY: usize = 16;
/// A plausible capture start, in ns since the epoch.
const START_NS: u64 = 1_700_000_000_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else { return };
    let policy = &policies()[usize::from(options & 1)];
    let config = EngineConfig {
        // Small tables, so that eviction and the "not inspected" paths run.
        flow_capacity: 16,
        session_capacity: 8,
        stream_capacity: 4,
        reassembly_bytes: [64, 256, 1024, 4096][usize::from(options >> 2 & 3)],
        inspect_blocked: options & 2 != 0,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(&config, Verdicts::new(policy.clone()));
    let mut sink = Records { policy, count: 0, line: Vec::new() };
    let mut now = START_NS;
    for (i, f) in frames(rest).enumerate() {
        now = now.saturating_add(u64::from(f.delta_us) * 1000);
        if engine.process(f.frame, now, &mut sink) == FrameAction::Reset {
            let rst = engine.reset_frames(0);
            assert!(rst.to_sender().len() <= 100 && rst.to_receiver().len() <= 100);
        }
        if i % TICK_EVERY == TICK_EVERY - 1 {
            engine.expire_idle(now, &mut sink);
        }
    }
    engine.finish_all(&mut sink);
    assert_eq!(engine.flows_active(), 0, "flows left after finish_all");
    let stats = engine.stats();
    assert_eq!(stats.sessions_finished as usize, sink.count, "a finished session was not emitted");
});
