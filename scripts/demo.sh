#!/usr/bin/env bash
# The demo: one command on a fresh Debian 12 machine.
#
# As root: installs what is missing (scripts/setup.sh), builds the release
# binaries, and runs the appliance inline in block mode between two network
# namespaces — Postfix, Dovecot and a web server on one side, real clients
# (swaks, curl, openssl, Python) on the other — with the policy of
# scripts/e2e/policy.toml, reporting to mailgate-control and its SQLite
# store: approved and unapproved mail sessions, web traffic beside them. It
# ends with a short report: sessions reported, blocked, by rule, what each
# client saw, and the commands to look further. This is the end-to-end
# test's own run (scripts/e2e/run.sh, docs/e2e.md), in block mode only.
#
# Not root (no namespaces, no DPDK ports): builds, generates a capture with
# `mailgate-bench gen` (or takes mail captures of the shared corpus) and
# replays it through `mailgate-dataplane inspect` with the same policy.
#
# Results go to target/demo (replaced on every run), or $MAILGATE_DEMO_OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=${MAILGATE_DEMO_OUT:-$REPO/target/demo}
POLICY=$REPO/scripts/e2e/policy.toml

say() { printf '\n== %s\n' "$*"; }

if [ "$(id -u)" = 0 ]; then
  say "installing what is missing (scripts/setup.sh)"
  scripts/setup.sh
  say "building (release)"
  cargo build --release -p mailgate-dataplane -p mailgate-control
  say "running the appliance inline between namespaces (block mode, scripts/e2e/policy.toml), reporting to mailgate-control"
  rm -rf "$OUT"
  MG_TOPO=mgdemo scripts/e2e/run.sh --out "$OUT" --modes block --bin-dir "$REPO/target/release"
  say "report"
  cat "$OUT/report.txt"
  exit 0
fi

say "not root: no network namespaces or DPDK ports here, so no live appliance."
echo "Falling back to replaying a capture through the same engine (mailgate-dataplane inspect)."
echo "Run as root (sudo $0) for the real thing: the appliance inline between real mail clients and servers."
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first" >&2; exit 1; }
features=()
if ! pkg-config --exists libdpdk 2>/dev/null; then
  # inspect and check-config need no DPDK.
  features=(--no-default-features)
fi
say "building (release)"
cargo build --release -p mailgate-dataplane "${features[@]}"
rm -rf "$OUT"
mkdir -p "$OUT"
captures=()
if [ -f bench/Cargo.toml ] && cargo build --release -p mailgate-bench 2>/dev/null; then
  say "generating a capture: 2000 flows of office traffic, 30 % mail (mailgate-bench gen)"
  target/release/mailgate-bench gen --out "$OUT/demo.pcap" --flows 2000 --seed 7
  captures=("$OUT/demo.pcap")
else
  say "mailgate-bench is not available: taking mail captures of the shared corpus"
  for c in ndpi-smtp-starttls.pcap ndpi-imap.pcap ndpi-pop3.pcap ndpi-imaps.pcap ndpi-smtps.pcapng; do
    [ -f "$REPO/../shared/corpus/$c" ] && captures+=("$REPO/../shared/corpus/$c")
  done
  [ ${#captures[@]} -gt 0 ] || { echo "no capture to replay (../shared/corpus is missing)" >&2; exit 1; }
fi
: >"$OUT/records.jsonl"
for c in "${captures[@]}"; do
  target/release/mailgate-dataplane inspect "$c" --config "$POLICY" >>"$OUT/records.jsonl"
done
say "report (replayed with scripts/e2e/policy.toml; reset = what the appliance would have done inline)"
python3 scripts/e2e/report.py records "$OUT/records.jsonl"
cat <<EOF

look further:
  jq . $OUT/records.jsonl                          # the session records
  target/release/mailgate-dataplane inspect ${captures[0]} --config $POLICY --all-flows
  target/release/mailgate-dataplane check-config $POLICY
EOF
