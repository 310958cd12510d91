//! The policy loader on any text: every problem must come back as an
//! error with its location, never a panic; a valid document must compile
//! and summarise.
//!
//! Input: the policy file's text (invalid UTF-8 is replaced, as a file
//! read as text could not contain it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate_config::{CompiledPolicy, Document};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for sections in [&[][..], &["dataplane"][..]] {
        match Document::parse_with_sections("fuzz.toml", &text, sections) {
            Ok(doc) => {
                let policy = CompiledPolicy::new(&doc);
                let today = time::macros::date!(2026 - 06 - 01);
                let _ = policy.summary(today).to_string();
                let _ = policy.expired_exceptions(today).count();
            }
            Err(e) => {
                let message = e.to_string();
                assert!(!message.is_empty());
            }
        }
    }
});
