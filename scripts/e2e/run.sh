#!/usr/bin/env bash
# The end-to-end run (as root): the appliance inline between two network
# namespaces, real mail and web servers outside, real clients inside, one
# pass of every scenario per policy mode. Used by tests/e2e.rs (which
# asserts on what it writes) and by scripts/demo.sh (which reports it).
#
#   scripts/e2e/run.sh --out DIR [--modes block,monitor] [--scenarios LIST]
#                      [--bin-dir DIR] [--keep]
#
#   --out DIR        results (below); created, must be empty or absent
#   --modes          policy modes to run, in order (default block,monitor)
#   --scenarios      comma-separated, from clients.py (default: all, in order)
#   --bin-dir        where mailgate-dataplane, mailgate-control and
#                    mailgatectl are (default target/release, else
#                    target/debug); the run uses copies taken at its start
#   --keep           leave the topology and the peers up at the end (the
#                    work directory is printed); stop them with
#                    `scripts/e2e/run.sh --down`
#   --down           stop what a --keep run left, remove the topology
#
# Results in DIR:
#   run.json                      marker, modes, scenarios, topology, bin_dir
#   policy-<mode>.toml            the policy each mode ran
#   <mode>/summary.json           `run --summary-json` of that mode
#   <mode>/appliance.log          its stderr
#   <mode>/mailbox/<user>/…       every message delivered by the end of the mode
#   <mode>/<scenario>/client.json what the clients saw (clients.py)
#   <mode>/<scenario>/capture.pcap    what the appliance received
#   <mode>/<scenario>/records.jsonl   `inspect` of that capture: what a gateway reports
#   <mode>/<scenario>/records-all.jsonl  `inspect --all-flows`: every flow
#   <mode>/<scenario>/api-records.jsonl  the live appliance's records of the
#                                 scenario, from the control plane's API
#   <mode>/<scenario>/window      the scenario's start and end (RFC 3339)
#   <mode>/mailgatectl-sessions.txt   `mailgatectl sessions` for the mode
#   control/                      the control plane's config, SQLite store,
#                                 EVE file, token and URL
#   logs/                         the peers' logs
#
# Exit status: 0 done, 77 a tool is missing and cannot be installed, else
# failed (the message says where). Runs take turns: a second one waits
# for the first.
#
# Everything started is stopped by PID, and the namespaces are removed, on
# success, on failure and on SIGINT/SIGTERM; leftovers of a killed run are
# removed first. The work directory (configs, queues, mailboxes, the users'
# passwords) is a temporary directory, removed at the end.
set -euo pipefail
# shellcheck source=../netns.sh
. "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
# shellcheck source=peers.sh
. "$E2E_DIR/peers.sh"
# shellcheck source=appliance.sh
. "$E2E_DIR/appliance.sh"
# shellcheck source=control.sh
. "$E2E_DIR/control.sh"

# What a killed run left: its processes (by recorded PID), its work
# directory, its namespaces.
remove_leftovers() {
  local old
  stop_all_bg
  if [ -f "$STATE_DIR/work" ]; then
    old=$(cat "$STATE_DIR/work")
    case $old in /tmp/mailgate-e2e.*) rm -rf "$old" ;; esac
    rm -f "$STATE_DIR/work"
  fi
  netns_down
}

ALL_SCENARIOS=relay_mail,workstation_smtp,mailbox_login,bad_sni,nonstandard_port,web
OUT='' MODES=block,monitor SCENARIOS=$ALL_SCENARIOS BIN_DIR='' KEEP=0
while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --bin-dir) BIN_DIR=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --down)
      exec 9>"$E2E_LOCK"
      flock -w 600 9 || die "another end-to-end run holds $E2E_LOCK"
      remove_leftovers
      rm -rf "$STATE_DIR" "/run/mailgate-e2e-$TOPO-control.sock"
      rmdir "${STATE_DIR%/*}" 2>/dev/null || true
      exit 0
      ;;
    *) echo "usage: see the header of $0" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || die "run as root (network namespaces, DPDK)"
[ -n "$OUT" ] || die "--out DIR is required"
# One run at a time on this host: a second run of the same topology would
# tear down the first's namespaces as leftovers, and two appliances would
# share the busy-polled cores. The lock goes with the process, killed or not.
exec 9>"$E2E_LOCK"
if ! flock -n 9; then
  log "another end-to-end run is under way; waiting for it (up to 10 minutes)"
  flock -w 600 9 || die "another end-to-end run still holds $E2E_LOCK"
fi
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT")" ]; then die "--out $OUT is not empty"; fi
for m in ${MODES//,/ }; do
  case $m in block | monitor) ;; *) die "--modes: $m is neither block nor monitor" ;; esac
done
if [ -z "$BIN_DIR" ]; then
  for BIN_DIR in "$REPO_ROOT/target/release" "$REPO_ROOT/target/debug"; do
    [ -x "$BIN_DIR/mailgate-dataplane" ] && break
  done
fi
[ -x "$BIN_DIR/mailgate-dataplane" ] || die "no $BIN_DIR/mailgate-dataplane: build it first (cargo build -p mailgate-dataplane)"
# The peers and clients are Debian packages: scripts/setup.sh installs
# what is missing. Exit status 77 (skip) when they cannot be had.
TOOLS=(ip ethtool tcpdump mergecap ss ping postfix dovecot swaks curl openssl python3)
missing_tools() {
  local t
  for t in "${TOOLS[@]}"; do command -v "$t" >/dev/null || echo "$t"; done
  perl -MNet::SSLeay -e 1 2>/dev/null || echo "Net::SSLeay (swaks TLS)"
}
if [ -n "$(missing_tools)" ]; then
  log "missing: $(missing_tools | tr '\n' ' ')- running scripts/setup.sh"
  "$REPO_ROOT/scripts/setup.sh" >&2 || true
  if [ -n "$(missing_tools)" ]; then
    log "still missing: $(missing_tools | tr '\n' ' ')"
    exit 77
  fi
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
remove_leftovers
WORK_DIR=$(mktemp -d /tmp/mailgate-e2e.XXXXXX)
mkdir -p "$STATE_DIR"
echo "$WORK_DIR" >"$STATE_DIR/work"
# The run uses copies of the binaries: a build during the run (the target
# directory is shared) must not swap them under it.
mkdir -p "$WORK_DIR/bin"
for b in mailgate-dataplane mailgate-control mailgatectl; do
  [ -x "$BIN_DIR/$b" ] || die "no $BIN_DIR/$b: build it first (cargo build -p mailgate-dataplane -p mailgate-control)"
  cp "$BIN_DIR/$b" "$WORK_DIR/bin/"
done
DATAPLANE=$WORK_DIR/bin/mailgate-dataplane
"$DATAPLANE" run --help >/dev/null 2>&1 || die "$BIN_DIR/mailgate-dataplane was built without DPDK (no 'run')"

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "$KEEP" = 1 ] && [ "$status" = 0 ]; then
    log "kept: namespaces $NS_IN/$NS_OUT, peers, work directory $WORK_DIR (scripts/e2e/run.sh --down)"
    exit 0
  fi
  stop_all_bg
  if [ -d "${WORK:-}/log" ]; then
    mkdir -p "$OUT/logs"
    cp "$WORK"/log/* "$OUT/logs/" 2>/dev/null || true
  fi
  netns_down
  # DPDK's runtime directory of the appliance's --file-prefix.
  rm -rf "$WORK_DIR" "$STATE_DIR" "${CONTROL_SOCKET:-}" "/var/run/dpdk/mg-$TOPO"
  rmdir "${STATE_DIR%/*}" 2>/dev/null || true
  [ "$status" = 0 ] || log "failed (status $status); results so far in $OUT"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

netns_up
log "topology up: $NS_IN ($IF_IN) <-> [$IF_IN_ROOT | mailgate | $IF_OUT_ROOT] <-> $NS_OUT ($IF_OUT)"
peers_prepare "$WORK_DIR"
peers_start
log "peers up: postfix, dovecot, web in $NS_OUT"
control_prepare "$OUT/control" "$WORK_DIR/bin"
control_start
log "control plane up: $CONTROL_URL, store $CONTROL_DIR/control.db"

MARKER=$(date +%s)-$$
python3 - "$OUT/run.json" "$MARKER" "$MODES" "$SCENARIOS" "$TOPO" "$(cd "$BIN_DIR" && pwd)" <<'EOF'
import json, sys
out, marker, modes, scenarios, topo, bin_dir = sys.argv[1:]
json.dump({"marker": marker, "modes": modes.split(","), "scenarios": scenarios.split(","),
           "topology": topo, "bin_dir": bin_dir}, open(out, "w"), indent=1)
EOF

now_rfc3339() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }

# True when the control plane holds at least COUNT records between SINCE and UNTIL.
api_holds() {
  [ "$(ctl sessions --json --limit 10000 --since "$1" --until "$2" | wc -l)" -ge "$3" ]
}

# Waits until Postfix has nothing left in its queue (delivered or bounced).
queue_drained() {
  [ -z "$(find "$PF_QUEUE"/incoming "$PF_QUEUE"/active "$PF_QUEUE"/maildrop -type f 2>/dev/null | head -1)" ]
}

for mode in ${MODES//,/ }; do
  dir=$OUT/$mode
  mkdir -p "$dir"
  policy=$OUT/policy-$mode.toml
  sed "s/^mode = \"block\"/mode = \"$mode\"/" "$E2E_DIR/policy.toml" >"$policy"
  grep -q "^mode = \"$mode\"" "$policy" || die "$policy: could not set mode $mode"
  appliance_config "$policy" "$dir/appliance.toml" "$(control_report_table "$TOPO-$mode")"
  mode_since=$(now_rfc3339)
  appliance_start "$DATAPLANE" "$dir/appliance.toml" "$dir/summary.json" "$dir/appliance.log"
  log "[$mode] appliance up"
  for scenario in ${SCENARIOS//,/ }; do
    sdir=$dir/$scenario
    mkdir -p "$sdir"
    capture_start "$sdir"
    since=$(now_rfc3339)
    ip netns exec "$NS_IN" python3 "$E2E_DIR/clients.py" "$scenario" --marker "$MARKER-$mode" \
      --ca "$CERT" --sha256 "$WEB_SHA256" >"$sdir/client.json" 2>"$sdir/client.log" ||
      die "clients.py $scenario failed: $(tail -5 "$sdir/client.log")"
    # The last segments (FINs, the server's answers) cross before the capture ends.
    sleep 1
    capture_stop "$sdir"
    echo "$since $(now_rfc3339)" >"$sdir/window"
    log "[$mode] $scenario: $(python3 "$E2E_DIR/report.py" steps "$sdir/client.json")"
  done
  wait_for 20 "Postfix to empty its queue" queue_drained || true
  appliance_stop || die "[$mode] the appliance did not stop cleanly: $(tail -3 "$dir/appliance.log")"
  mode_until=$(now_rfc3339)
  peers_mailbox_snapshot "$dir/mailbox"
  replayed=0
  for scenario in ${SCENARIOS//,/ }; do
    sdir=$dir/$scenario
    "$DATAPLANE" inspect "$sdir/capture.pcap" --config "$policy" >"$sdir/records.jsonl" \
      2>"$sdir/inspect.log" || die "inspect failed on $sdir/capture.pcap: $(cat "$sdir/inspect.log")"
    "$DATAPLANE" inspect "$sdir/capture.pcap" --config "$policy" --all-flows >"$sdir/records-all.jsonl" \
      2>"$sdir/inspect-all.log" || die "inspect --all-flows failed on $sdir/capture.pcap: $(cat "$sdir/inspect-all.log")"
    replayed=$((replayed + $(wc -l <"$sdir/records.jsonl")))
  done
  # The appliance hands its last records over as it exits; wait until the
  # store has as many as the replay found (the test compares them).
  wait_for 20 "$replayed records in the control plane" api_holds "$mode_since" "$mode_until" "$replayed" ||
    log "[$mode] the control plane holds fewer records than the replay found"
  for scenario in ${SCENARIOS//,/ }; do
    sdir=$dir/$scenario
    read -r since until <"$sdir/window"
    ctl sessions --json --limit 10000 --since "$since" --until "$until" >"$sdir/api-records.jsonl"
  done
  ctl sessions --limit 10000 --since "$mode_since" --until "$mode_until" >"$dir/mailgatectl-sessions.txt" 2>&1
  log "[$mode] appliance: $(python3 "$E2E_DIR/report.py" summary "$dir/summary.json")"
done
ctl status >"$OUT/control/status.txt"
control_stop
peers_stop
python3 "$E2E_DIR/report.py" run "$OUT" >"$OUT/report.txt"
log "results in $OUT (report.txt)"
