//! Helpers shared by the cross-process tests: where the corpus and the
//! built binaries are, and running `tshark` as the reference dissector.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The shared capture corpus (`../shared/corpus` beside the repository).
pub fn corpus_dir() -> PathBuf {
    repo_root().join("../shared/corpus")
}

/// Every capture of the corpus, sorted by name.
pub fn corpus_captures() -> Vec<PathBuf> {
    let mut captures: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    captures.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.ends_with(".pcap") || name.ends_with(".pcapng") || name.ends_with(".pcap.gz")
    });
    captures.sort();
    captures
}

/// The capture's name without its extensions (`ndpi-smtp` for `ndpi-smtp.pcap`).
pub fn stem(capture: &Path) -> String {
    let name = capture.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.trim_end_matches(".gz").trim_end_matches(".pcapng").trim_end_matches(".pcap").to_string()
}

/// A binary of the workspace, built by `cargo test --workspace` into the
/// same target directory as this test.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> → target/<profile>/<name>
    exe.parent().and_then(Path::parent).map(|d| d.join(name)).unwrap_or_else(|| PathBuf::from(name))
}

/// Runs tshark with `args`; `None` when tshark is not installed.
pub fn tshark(args: &[&str]) -> Option<String> {
    let out = Command::new("tshark").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
