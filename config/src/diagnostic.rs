//! Where a policy problem is and what it says, as `file:line:col: message`.
//!
//! Validation records problems by byte offset while it walks the document
//! and turns them into line and column numbers once, at the end, so that
//! every problem in a file is reported together and in file order.

use std::fmt;
use std::ops::Range;

/// One problem found in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line of the offending key or value.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
    /// What is wrong, what was expected, and the nearest valid spelling when there is one.
    pub message: String,
}

/// Every problem found in one policy file, printable as one `file:line:col: message` per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    /// The file name the problems refer to, as the caller named it.
    pub file: String,
    /// The problems, in file order.
    pub items: Vec<Diagnostic>,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.file, d.line, d.col, d.message)?;
        }
        Ok(())
    }
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The policy file could not be read.
    #[error("{path}: cannot read policy file: {source}")]
    Io {
        /// The path that was opened.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid policy; every problem found is listed.
    #[error("{0}")]
    Invalid(Diagnostics),
}

impl ConfigError {
    /// The validation problems, or an empty slice for an I/O error.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Io { .. } => &[],
            ConfigError::Invalid(d) => &d.items,
        }
    }
}

/// Collects problems by byte offset while a document is walked.
pub(crate) struct Collector<'s> {
    source: &'s str,
    items: Vec<(usize, String)>,
}

impl<'s> Collector<'s> {
    pub(crate) fn new(source: &'s str) -> Self {
        Collector { source, items: Vec::new() }
    }

    /// The 1-based line of byte `offset`, for messages that point back at earlier text.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        line_col(self.source, offset).0
    }

    /// Records a problem at the start of `span`.
    pub(crate) fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.items.push((span.start, message.into()));
    }

    /// True when no problem has been recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Converts the recorded problems to located diagnostics, in file order.
    pub(crate) fn into_error(mut self, file: &str) -> ConfigError {
        let source = self.source;
        self.items.sort_by_key(|(offset, _)| *offset);
        self.items.dedup();
        let items = self
            .items
            .into_iter()
            .map(|(offset, message)| {
                let (line, col) = line_col(source, offset);
                Diagnostic { line, col, message }
            })
            .collect();
        ConfigError::Invalid(Diagnostics { file: file.to_owned(), items })
    }
}

/// The 1-based line and character column of byte `offset` in `source`.
pub(crate) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset.min(source.len())).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let src = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_col(src, 6 + "bé ".len()), (2, 4));
        assert_eq!(line_col(src, 1000), (3, 1));
    }
}
