//! The last policy the control plane pushed, kept on local disk so that a
//! restarted dataplane enforces it before (or without) reaching the control plane.

use std::io::{self, Write};
use std::path::Path;

/// Writes `toml` to `path` atomically (a temporary file in the same
/// directory, synced, then renamed over the old one).
pub fn save_policy(path: &Path, toml: &str) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(toml.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The policy saved by [`save_policy`], or `None` if none was saved yet.
pub fn load_saved_policy(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(toml) => Ok(Some(toml)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_replaces_and_load_reads_back() {
        let dir = std::env::temp_dir().join(format!("mailgate-policy-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("policy.toml");
        assert_eq!(load_saved_policy(&path).unwrap_or_else(|e| panic!("{e}")), None);
        save_policy(&path, "a = 1\n").unwrap_or_else(|e| panic!("{e}"));
        save_policy(&path, "a = 2\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(load_saved_policy(&path).unwrap_or_else(|e| panic!("{e}")).as_deref(), Some("a = 2\n"));
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    }
}
