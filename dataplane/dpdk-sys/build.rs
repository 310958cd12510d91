//! Finds DPDK with pkg-config, generates bindings for the part of its API
//! mailgate uses, and compiles the shim that exports DPDK's inline functions.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// DPDK functions mailgate calls directly (everything else stays unbound).
const FUNCTIONS: &[&str] = &[
    "rte_eal_init",
    "rte_eal_cleanup",
    "rte_strerror",
    "rte_lcore_count",
    "rte_get_main_lcore",
    "rte_get_next_lcore",
    "rte_lcore_to_socket_id",
    "rte_socket_id",
    "rte_eal_remote_launch",
    "rte_eal_wait_lcore",
    "rte_get_tsc_hz",
    "rte_pktmbuf_pool_create",
    "rte_mempool_free",
    "rte_mempool_avail_count",
    "rte_mempool_in_use_count",
    "rte_eth_dev_count_avail",
    "rte_eth_dev_is_valid_port",
    "rte_eth_dev_info_get",
    "rte_eth_dev_get_name_by_port",
    "rte_eth_dev_socket_id",
    "rte_eth_dev_adjust_nb_rx_tx_desc",
    "rte_eth_dev_configure",
    "rte_eth_rx_queue_setup",
    "rte_eth_tx_queue_setup",
    "rte_eth_dev_start",
    "rte_eth_dev_stop",
    "rte_eth_dev_close",
    "rte_eth_promiscuous_enable",
    "rte_eth_stats_get",
    "shim_.*",
];

/// Types and constants those functions need.
const TYPES: &[&str] = &[
    "rte_eth_conf",
    "rte_eth_dev_info",
    "rte_eth_stats",
    "rte_eth_rxconf",
    "rte_eth_txconf",
    "rte_eth_rx_mq_mode",
    "rte_eth_tx_mq_mode",
    "lcore_function_t",
];
const VARS: &[&str] = &[
    "SHIM_MBUF_.*",
    "RTE_MAX_ETHPORTS",
    "RTE_MAX_LCORE",
    "RTE_MBUF_DEFAULT_BUF_SIZE",
    "RTE_ETH_NAME_MAX_LEN",
    "RTE_MEMPOOL_CACHE_MAX_SIZE",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    // Link flags (-L, -l) go to cargo through the pkg-config crate. EAL is
    // linked as a shared library, so at start-up it loads every PMD plugin
    // from its default driver directory (pmds-23.0): net_pcap, net_null,
    // net_ring, net_memif, net_af_packet and the NIC drivers need no `-d`.
    let lib = pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
        .unwrap_or_else(|e| {
            panic!("DPDK >= 22.11 not found by pkg-config ({e}); install it: apt-get install -y dpdk dpdk-dev libdpdk-dev pkg-config")
        });

    // Compile flags: pkg-config's cflags carry more than include paths
    // (`-include rte_config.h`, `-march=...`), so take them verbatim.
    let cflags = Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|| panic!("`pkg-config --cflags libdpdk` failed"));
    let cflags: Vec<String> = cflags.split_whitespace().map(str::to_owned).collect();

    let mut shim = cc::Build::new();
    shim.file("shim/shim.c").include("shim").opt_level(3).warnings(true);
    for flag in &cflags {
        shim.flag(flag);
    }
    for path in &lib.include_paths {
        shim.include(path);
    }
    shim.compile("mailgate_dpdk_shim");

    let mut builder = bindgen::Builder::default()
        .header("shim/shim.h")
        .clang_args(&cflags)
        .clang_args(lib.include_paths.iter().map(|p| format!("-I{}", p.display())))
        .use_core()
        .generate_comments(false)
        .layout_tests(false)
        .derive_default(true)
        // C enums as integer constants: DPDK may write values a Rust enum
        // would not allow.
        .default_enum_style(bindgen::EnumVariation::Consts)
        // The packet buffer and pool are only handled through pointers.
        .opaque_type("rte_mbuf")
        .opaque_type("rte_mempool")
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for f in FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for t in TYPES {
        builder = builder.allowlist_type(t);
    }
    for v in VARS {
        builder = builder.allowlist_var(v);
    }
    let bindings = builder.generate().unwrap_or_else(|e| panic!("bindgen over the DPDK headers failed: {e}"));
    let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_else(|_| panic!("OUT_DIR not set by cargo")));
    bindings.write_to_file(out.join("bindings.rs")).unwrap_or_else(|e| panic!("cannot write bindings: {e}"));
}
