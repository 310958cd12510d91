//! Tailing a directory of endpoint telemetry files (`[endpoint] watch_dir`).
//!
//! Every regular file in the directory whose name does not start with a
//! dot is read as JSON lines in any accepted format. New complete lines
//! are read on each scan; a last line without its newline is read once the
//! file has not changed for ten seconds, or two scan intervals if longer
//! (a file dropped whole). A file replaced (another inode) or truncated is read from its start.
//! How far each file was read is kept in the database, so a restart
//! resumes where it stopped; lines read twice after a crash are
//! recognised as stored. Rejected lines are logged as `file:line N: why`
//! and counted in `mailgate_endpoint_rejected_total{via="file"}`.

use crate::correlate;
use crate::endpoint::parse_lines;
use crate::state::Shared;
use crate::store::{FileOffset, Store, StoreError};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Most bytes read from one file in one go.
const CHUNK_BYTES: usize = 16 << 20;

/// How long a file must be unchanged before a last line without its
/// newline is read (at least; two scan intervals if that is longer).
const SETTLE: Duration = Duration::from_secs(10);

/// Why a scan failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The directory or a file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// What was being read.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The offsets could not be read or written.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// New lines of one file, and the offset after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The lines (invalid UTF-8 replaced, so such a line is rejected as not JSON).
    pub text: String,
    /// The number of the first line.
    pub first_line: u64,
    /// Where the file stands once they are stored.
    pub next: FileOffset,
}

/// The unread complete lines of `path`, given how far it was read;
/// `settle` is how long a file must be unchanged for a last line without
/// newline to count as complete.
pub fn next_chunk(path: &Path, known: Option<FileOffset>, settle: Duration) -> std::io::Result<Option<Chunk>> {
    let meta = std::fs::metadata(path)?;
    let (device, inode, len) = (meta.dev(), meta.ino(), meta.len());
    let start = match known {
        Some(k) if k.device == device && k.inode == inode && k.offset <= len => k,
        _ => FileOffset { device, inode, offset: 0, lines: 0 },
    };
    if len == start.offset {
        return Ok(None);
    }
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(start.offset))?;
    let want = usize::try_from(len - start.offset).unwrap_or(CHUNK_BYTES).min(CHUNK_BYTES);
    let mut buf = vec![0u8; want];
    file.read_exact(&mut buf)?;
    let consumed = match buf.iter().rposition(|b| *b == b'\n') {
        Some(i) => i + 1,
        None if want == CHUNK_BYTES => want, // a line longer than a chunk: read as one (it is rejected)
        None => {
            let settled = meta.modified().ok().and_then(|m| SystemTime::now().duration_since(m).ok());
            if settled.is_none_or(|age| age < settle) {
                return Ok(None);
            }
            want
        }
    };
    let bytes = buf.get(..consumed).unwrap_or_default();
    let newlines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    let lines = if bytes.last() == Some(&b'\n') { newlines } else { newlines + 1 };
    Ok(Some(Chunk {
        text: String::from_utf8_lossy(bytes).into_owned(),
        first_line: start.lines + 1,
        next: FileOffset { device, inode, offset: start.offset + consumed as u64, lines: start.lines + lines },
    }))
}

/// The files of the directory to read, sorted by name.
fn files(dir: &Path) -> Result<Vec<PathBuf>, WatchError> {
    let io = |source| WatchError::Io { path: dir.display().to_string(), source };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn blocking_chunk(store: &Store, path: &Path, settle: Duration) -> Result<Option<Chunk>, WatchError> {
    let known = store.endpoint_file(&path.display().to_string())?;
    next_chunk(path, known, settle).map_err(|source| WatchError::Io { path: path.display().to_string(), source })
}

/// Reads what is new in every file of `dir` and ingests it; returns the lines read.
pub async fn scan(shared: &Arc<Shared>, dir: &Path, settle: Duration) -> Result<usize, WatchError> {
    let listed = {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || files(&dir))
            .await
            .map_err(|e| WatchError::Store(StoreError::Task(e.to_string())))??
    };
    let mut lines = 0;
    for path in &listed {
        loop {
            let (store, file) = (Arc::clone(&shared.store), path.clone());
            let chunk = tokio::task::spawn_blocking(move || blocking_chunk(&store, &file, settle))
                .await
                .map_err(|e| WatchError::Store(StoreError::Task(e.to_string())))?;
            let chunk = match chunk {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(WatchError::Io { path, source }) => {
                    log::warn!("{path}: {source}");
                    break;
                }
                Err(e) => return Err(e),
            };
            let parsed = parse_lines(&chunk.text, usize::try_from(chunk.first_line).unwrap_or(usize::MAX));
            lines += parsed.lines;
            for error in &parsed.errors {
                log::warn!("{}:{error}", path.display());
            }
            if parsed.rejected > parsed.errors.len() {
                log::warn!("{}: {} more lines rejected", path.display(), parsed.rejected - parsed.errors.len());
            }
            let summary = correlate::ingest_events(shared, parsed, "file").await?;
            if summary.stored > 0 || summary.joined > 0 {
                log::info!(
                    "{}: {} endpoint events stored, {} sessions joined",
                    path.display(),
                    summary.stored,
                    summary.joined
                );
            }
            let (shown, next) = (path.display().to_string(), chunk.next);
            shared.with_store(move |s| s.set_endpoint_file(&shown, next)).await?;
        }
    }
    let prefix = format!("{}/", dir.display());
    let present: Vec<String> = listed.iter().map(|p| p.display().to_string()).collect();
    shared.with_store(move |s| s.forget_endpoint_files(&prefix, &present)).await?;
    Ok(lines)
}

/// Scans `dir` every `interval` until the task is dropped.
pub async fn watch(shared: Arc<Shared>, dir: PathBuf, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = scan(&shared, &dir, interval.saturating_mul(2).max(SETTLE)).await {
            log::error!("endpoint.watch_dir: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn complete_lines_only_then_the_rest_once_settled_and_a_replaced_file_from_the_start() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("events.json");
        std::fs::write(&path, "{\"a\": 1}\n{\"b\":").unwrap_or_else(|e| panic!("{e}"));
        let long = Duration::from_secs(3600);
        let first = next_chunk(&path, None, long).ok().flatten().unwrap_or_else(|| panic!("a chunk"));
        assert_eq!(
            (first.text.as_str(), first.first_line, first.next.offset, first.next.lines),
            ("{\"a\": 1}\n", 1, 9, 1)
        );
        assert_eq!(next_chunk(&path, Some(first.next), long).ok().flatten(), None, "an unfinished line waits");
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap_or_else(|e| panic!("{e}"));
        f.write_all(b" 2}\n{\"c\": 3}").unwrap_or_else(|e| panic!("{e}"));
        let second = next_chunk(&path, Some(first.next), long).ok().flatten().unwrap_or_else(|| panic!("a chunk"));
        assert_eq!((second.text.as_str(), second.first_line), ("{\"b\": 2}\n", 2));
        let settled = next_chunk(&path, Some(second.next), Duration::ZERO).ok().flatten();
        assert_eq!(settled.map(|c| (c.text, c.first_line, c.next.lines)), Some(("{\"c\": 3}".into(), 3, 3)));
        // Replaced by a new file (another inode): read from its start.
        let tmp = dir.path().join(".tmp");
        std::fs::write(&tmp, "{\"d\": 4}\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("{e}"));
        let fresh = next_chunk(&path, Some(second.next), long).ok().flatten();
        assert_eq!(fresh.map(|c| (c.text, c.first_line)), Some(("{\"d\": 4}\n".into(), 1)));
    }
}
