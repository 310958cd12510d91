//! Start-up failures end with exit status 2 and a message that names the
//! problem and its fix.

mod dpdk_common;

use dpdk_common::*;
use std::time::Duration;

fn start(name: &str, extra: &[&str]) -> (i32, String) {
    let mut eal = base_eal(name, 512);
    eal.extend(extra.iter().map(|s| s.to_string()));
    let out = run_to_end(&["--duration".into(), "1".into()], &eal, Duration::from_secs(60));
    (out.status.code().unwrap_or(-1), stderr(&out))
}

#[test]
fn one_lcore_is_too_few() {
    require_dpdk!();
    let (code, err) = start("onelcore", &["--vdev", "net_null0", "--vdev", "net_null1", "-l", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("only one lcore") && err.contains("fix:") && err.contains("-l 0,1"), "{err}");
}

#[test]
fn unknown_vdev_is_named() {
    require_dpdk!();
    let (code, err) = start("novdev", &["--vdev", "net_nosuchdriver0", "-l", "0,1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not exist") && err.contains("--vdev"), "{err}");
}

#[test]
fn no_ports_at_all() {
    require_dpdk!();
    let (code, err) = start("noports", &["-l", "0,1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no DPDK ports") && err.contains("vfio-pci"), "{err}");
}

#[test]
fn missing_peer_port() {
    require_dpdk!();
    let (code, err) = start("oneport", &["--vdev", "net_null0", "-l", "0,1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs port 1"), "{err}");
}

#[test]
fn no_hugepages() {
    require_dpdk!();
    let hugepages = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Total:").map(|v| v.trim().to_owned()));
    if hugepages.as_deref() != Some("0") {
        eprintln!("SKIPPED: this machine has hugepages reserved");
        return;
    }
    let prefix = format!("mgtest-nohuge-{}", std::process::id());
    let eal: Vec<String> =
        ["--no-pci", "--file-prefix", &prefix, "--vdev", "net_null0", "--vdev", "net_null1", "-l", "0,1"]
            .map(String::from)
            .to_vec();
    let out = run_to_end(&["--duration".into(), "1".into()], &eal, Duration::from_secs(60));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("hugepages") && err.contains("--no-huge"), "{err}");
}

#[test]
fn pool_too_small_for_the_capture() {
    require_dpdk!();
    let dir = Scratch::new("smallpool");
    let frames: Vec<Vec<u8>> =
        (0..3000u32).map(|i| frames::udp4([198, 51, 100, 1], [203, 0, 113, 1], 5000, 53, &i.to_be_bytes())).collect();
    let pcap = dir.path("in.pcap");
    write_pcap(&pcap, &frames);
    let config = dir.path("mailgate.toml");
    std::fs::write(&config, "[dataplane]\nmbufs = 2047\nrx_desc = 256\ntx_desc = 256\n").unwrap();
    let mut eal = base_eal("smallpool", 512);
    eal.extend([
        "--vdev".into(),
        format!("net_pcap0,rx_pcap={},infinite_rx=1", pcap.display()),
        "--vdev".into(),
        "net_null1,no-rx=1".into(),
        "-l".into(),
        "0,1".into(),
    ]);
    let args = ["--config".into(), config.display().to_string(), "--duration".into(), "1".into()];
    let out = run_to_end(&args, &eal, Duration::from_secs(60));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("fix: raise `mbufs`"), "{err}");
}

#[test]
fn bad_config_is_reported() {
    require_dpdk!();
    let dir = Scratch::new("badcfg");
    let config = dir.path("mailgate.toml");
    std::fs::write(&config, "[dataplane]\nburst = 99\n").unwrap();
    let out = run_to_end(&["--config".into(), config.display().to_string()], &[], Duration::from_secs(30));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("burst = 99"), "{err}");
}
