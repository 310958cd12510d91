//! The policy file as a whole: TOML syntax, the top-level keys, the hash.
//!
//! # Other sections in the same file
//! The policy owns the keys in [`POLICY_KEYS`]; every other top-level key is
//! an error, with a suggestion when it looks like a misspelt known key.
//! A program that keeps its own settings in the policy file (the
//! dataplane's `[dataplane]`, say) has two ways to add them:
//! * call [`Document::parse_with_sections`] with the section names it owns
//!   and validate those sections itself (from a `toml::Table` of the same
//!   text, for example): the policy skips them, still rejects every other
//!   unknown key, and suggests the owned names for misspellings;
//! * or make the section part of [`Document`]: add a field, and an arm
//!   before the policy's in the loop of [`Document::parse_with_sections`];
//!   the arm gets the section's `toml::Spanned<toml::de::DeValue>`, whose
//!   spans are byte offsets into the whole file, and records problems
//!   through `parser.collector()` so they are located like the policy's.
//!
//! Either way the section's text is part of the document hash.

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};
use toml::de::DeTable;

use crate::diagnostic::{Collector, ConfigError};
use crate::parse::PolicyParser;
pub use crate::parse::POLICY_KEYS;
use crate::policy::Policy;
use crate::suggest::hint;

/// A parsed and validated policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The file name the document was read from, as given (used in messages).
    pub file: String,
    /// SHA-256 of the file's text, lower-case hex: identifies the policy in records.
    pub hash: String,
    /// The egress policy.
    pub policy: Policy,
}

impl Document {
    /// Parses and validates `text`; `file` names it in messages. Every
    /// problem found is returned, each with its line and column.
    pub fn parse(file: &str, text: &str) -> Result<Document, ConfigError> {
        Document::parse_with_sections(file, text, &[])
    }

    /// Like [`Document::parse`], but the top-level keys in `sections`
    /// belong to the caller: they are skipped here, and the caller
    /// validates them.
    pub fn parse_with_sections(file: &str, text: &str, sections: &[&str]) -> Result<Document, ConfigError> {
        let mut diags = Collector::new(text);
        let (root, syntax_errors) = DeTable::parse_recoverable(text);
        if !syntax_errors.is_empty() {
            for e in &syntax_errors {
                let span = e.span().unwrap_or(0..0);
                diags.error(&span, format!("invalid TOML: {}", e.message()));
            }
            return Err(diags.into_error(file));
        }
        let mut parser = PolicyParser::new(&mut diags);
        let mut entries: Vec<_> = root.get_ref().iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (key, value) in entries {
            let name = key.get_ref().as_ref();
            // Sections that belong to the document get an arm here (see the
            // module documentation).
            if sections.contains(&name) || parser.entry(name, value) {
                continue;
            }
            let known: Vec<&str> = POLICY_KEYS.iter().chain(sections).copied().collect();
            parser.collector().error(
                &key.span(),
                format!(
                    "unknown top-level key \"{name}\", expected one of {}{}",
                    known.join(", "),
                    hint(name, known.iter().copied())
                ),
            );
        }
        match parser.finish() {
            Some(policy) => Ok(Document { file: file.to_owned(), hash: sha256_hex(text), policy }),
            None => Err(diags.into_error(file)),
        }
    }

    /// Reads and validates the policy file at `path`.
    pub fn load(path: &Path) -> Result<Document, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.display().to_string(), source })?;
        Document::parse(&path.display().to_string(), &text)
    }
}

fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(digest.len() * 2);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}
