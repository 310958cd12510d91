//! The same seed gives byte-identical output; another seed does not; the
//! command line writes what the library generates, with the truth beside it.

mod common;

use std::process::Command;

use common::gen;
use mailgate_bench::mix::Mix;

#[test]
fn same_seed_same_bytes_for_every_mix() {
    for (mix, flows) in [(Mix::Realistic, 300), (Mix::Nonmail64, 500), (Mix::Mailstorm, 300)] {
        let a = gen(mix, flows, 42);
        let b = gen(mix, flows, 42);
        assert!(a.pcap.len() > 24 + 16 * flows as usize, "{mix:?}: capture too small");
        assert!(a.pcap == b.pcap, "{mix:?}: captures differ for the same seed");
        assert!(a.truth_jsonl == b.truth_jsonl, "{mix:?}: truth differs for the same seed");
    }
}

#[test]
fn different_seed_different_bytes() {
    for mix in [Mix::Realistic, Mix::Nonmail64, Mix::Mailstorm] {
        let a = gen(mix, 200, 1);
        let b = gen(mix, 200, 2);
        assert!(a.pcap != b.pcap, "{mix:?}: seeds 1 and 2 gave the same capture");
        assert!(a.truth_jsonl != b.truth_jsonl, "{mix:?}: seeds 1 and 2 gave the same truth");
    }
}

#[test]
fn command_line_writes_the_library_output_and_the_default_truth_path() {
    let dir = std::env::temp_dir().join(format!("mailgate-bench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("demo.pcap");
    let status = Command::new(env!("CARGO_BIN_EXE_mailgate-bench"))
        .args(["gen", "--out"])
        .arg(&out)
        .args(["--flows", "150", "--seed", "9", "--mix", "mailstorm"])
        .status()
        .expect("run mailgate-bench");
    assert!(status.success());
    let expected = gen(Mix::Mailstorm, 150, 9);
    let pcap = std::fs::read(&out).expect("capture written");
    let truth = std::fs::read(dir.join("demo.truth.jsonl")).expect("truth at FILE.truth.jsonl");
    assert!(pcap == expected.pcap, "CLI capture differs from the library's");
    assert!(truth == expected.truth_jsonl, "CLI truth differs from the library's");

    let explicit = dir.join("elsewhere.jsonl");
    let status = Command::new(env!("CARGO_BIN_EXE_mailgate-bench"))
        .args(["gen", "--out"])
        .arg(&out)
        .args(["--flows", "20", "--seed", "9", "--truth"])
        .arg(&explicit)
        .status()
        .expect("run mailgate-bench");
    assert!(status.success());
    let lines = std::fs::read_to_string(&explicit).expect("--truth honoured");
    assert_eq!(lines.lines().count(), 20, "one truth line per flow");

    let status = Command::new(env!("CARGO_BIN_EXE_mailgate-bench"))
        .args(["gen", "--out"])
        .arg(&out)
        .args(["--flows", "5", "--seed", "1", "--mix", "bogus"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run mailgate-bench");
    assert!(!status.success(), "an unknown mix is refused");
    std::fs::remove_dir_all(&dir).ok();
}
