//! Bad input to `mailgate-dataplane`: not a capture, a truncated capture,
//! an unknown link type, a policy file with errors. Each gives a one-line
//! error naming the file (and, for captures, the byte offset), exit status
//! 2, never a panic — and a capture truncated mid-packet still yields the
//! sessions read before the cut.

use mailgate_tests::{corpus_dir, workspace_binary};
use std::path::{Path, PathBuf};
use std::process::Output;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mailgate-badinput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn dataplane(args: &[&str]) -> Output {
    std::process::Command::new(workspace_binary("mailgate-dataplane")).args(args).output().unwrap()
}

fn inspect(file: &Path) -> Output {
    dataplane(&["inspect", file.to_str().unwrap()])
}

fn one_error_line(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    err.lines()
        .find(|l| l.starts_with("mailgate-dataplane: "))
        .unwrap_or_else(|| panic!("no error line: {err}"))
        .to_string()
}

#[test]
fn a_file_that_is_not_a_capture_is_refused_with_its_name_and_offset() {
    let dir = scratch();
    let file = dir.join("notes.txt");
    std::fs::write(&file, "EHLO this is not a capture\n").unwrap();
    let out = inspect(&file);
    assert_eq!(out.status.code(), Some(2));
    let line = one_error_line(&out);
    assert!(line.contains("notes.txt") && line.contains("offset 0") && line.contains("not a pcap"), "{line}");
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(inspect(&empty).status.code(), Some(2));
    let missing = inspect(&dir.join("missing.pcap"));
    assert_eq!(missing.status.code(), Some(2));
    assert!(one_error_line(&missing).contains("missing.pcap"));
}

#[test]
fn a_truncated_capture_reports_the_offset_and_keeps_the_sessions_before_it() {
    let dir = scratch();
    let whole = std::fs::read(corpus_dir().join("ndpi-pop3_stls.pcap")).unwrap();
    let cut = dir.join("cut.pcap");
    // Cut in the middle of the last packet record.
    std::fs::write(&cut, &whole[..whole.len() - 10]).unwrap();
    let out = inspect(&cut);
    assert_eq!(out.status.code(), Some(2));
    let line = one_error_line(&out);
    assert!(line.contains("cut.pcap") && line.contains("offset ") && line.contains("truncated"), "{line}");
    let records = String::from_utf8(out.stdout).unwrap();
    assert_eq!(records.lines().count(), 1, "the session read before the cut is still written");
    assert!(records.contains("\"mail_proto\":\"pop3\""));
}

#[test]
fn an_unknown_link_type_is_refused() {
    let dir = scratch();
    let mut pcap = std::fs::read(corpus_dir().join("ndpi-smtp.pcap")).unwrap();
    // The link type is the last 4 bytes of the 24-byte file header (little endian here).
    pcap[20..24].copy_from_slice(&147u32.to_le_bytes()); // LINKTYPE_USER0
    let file = dir.join("user0.pcap");
    std::fs::write(&file, &pcap).unwrap();
    let out = inspect(&file);
    assert_eq!(out.status.code(), Some(2));
    let line = one_error_line(&out);
    assert!(line.contains("user0.pcap") && line.contains("link type 147"), "{line}");
}

#[test]
fn a_policy_with_errors_is_refused_by_check_config_and_inspect() {
    let dir = scratch();
    let policy = dir.join("bad.toml");
    std::fs::write(
        &policy,
        "mode = \"block\"\n[[allow]]\nname = \"x\"\nfrom = [\"nosuchgroup\"]\nprotocol = [\"smtp\"]\n",
    )
    .unwrap();
    let out = dataplane(&["check-config", policy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:5:1") && err.contains("did you mean \"protocols\""), "{err}");
    assert!(err.contains("nosuchgroup"), "{err}");
    let capture = corpus_dir().join("ndpi-smtp.pcap");
    let out = dataplane(&["inspect", "--config", policy.to_str().unwrap(), capture.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no records under a policy that did not load");
    let good = dir.join("good.toml");
    std::fs::write(&good, "mode = \"monitor\"\n").unwrap();
    let out = dataplane(&["check-config", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("mode: monitor"));
}
