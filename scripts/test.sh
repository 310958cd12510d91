#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs what is
# missing, then runs every test of the workspace (unit, property, corpus
# golden, cross-process, DPDK, end-to-end with real mail peers, dashboard in
# Chromium) and a short fuzzing run of every target (docs/fuzzing.md). Run
# as root for the DPDK and network-namespace tests (they skip with a
# message otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --workspace --all-targets
cargo test --workspace
scripts/fuzz.sh --ci
