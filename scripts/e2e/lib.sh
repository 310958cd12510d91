# Helpers shared by scripts/netns.sh, scripts/e2e/*.sh and scripts/demo.sh
# (sourced, not run): the address plan, the names of the topology, starting
# processes whose PIDs are recorded and stopping them by PID, and rendering
# the server config templates.
#
# Names are derived from MG_TOPO (default "mge2e"), so a demo and a test can
# hold their own namespaces side by side ("mgdemo" for the demo).

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$E2E_DIR/../.." && pwd)

# topology.env is KEY=VALUE lines (values may hold spaces): read, not sourced.
while IFS= read -r line || [ -n "$line" ]; do
  case $line in '' | '#'*) continue ;; esac
  key=${line%%=*}
  [[ $key =~ ^[A-Z][A-Z0-9_]*$ ]] || continue
  printf -v "$key" '%s' "${line#*=}"
done <"$E2E_DIR/topology.env"
unset line key

TOPO=${MG_TOPO:-mge2e}
if ! [[ $TOPO =~ ^[a-z][a-z0-9]{0,9}$ ]]; then
  echo "MG_TOPO=$TOPO: 1 to 10 lower-case letters and digits, starting with a letter" >&2
  exit 2
fi
NS_IN=$TOPO-in          # the clients' namespace
NS_OUT=$TOPO-out        # the servers' namespace
IF_IN=${TOPO}i0         # veth end inside NS_IN
IF_IN_ROOT=${TOPO}i1    # its peer in the root namespace (DPDK port 0, inside)
IF_OUT=${TOPO}o0        # veth end inside NS_OUT
IF_OUT_ROOT=${TOPO}o1   # its peer in the root namespace (DPDK port 1, outside)
# Where the PIDs of everything started are kept, so that a later run can
# stop what a killed one left behind; STATE_DIR/work names the run's work
# directory for the same reason.
STATE_DIR=/run/mailgate-e2e/$TOPO
PID_DIR=$STATE_DIR/pids
# Held by scripts/e2e/run.sh for its whole run (one run at a time).
E2E_LOCK=/run/mailgate-e2e.lock

log() { printf '[%s %s] %s\n' "$TOPO" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The start time of process PID (field 22 of /proc/PID/stat), to tell the
# recorded process from a later one that reused its PID.
proc_start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # shellcheck disable=SC2086 # the fields after the name, split on purpose
  set -- $stat
  echo "${20}"
}

# start_bg NAME LOGFILE CMD… — runs CMD in the background, output to
# LOGFILE, and records its PID under NAME. CMD must be a program, not a
# shell function (that would be a subshell's PID); `ip netns exec` execs
# the command, so with it the PID recorded is the daemon's own.
start_bg() {
  local name=$1 logfile=$2
  shift 2
  mkdir -p "$PID_DIR"
  # fd 9 is run.sh's lock (E2E_LOCK): a daemon must not hold it after run.sh dies.
  "$@" >"$logfile" 2>&1 </dev/null 9>&- &
  local pid=$!
  echo "$pid $(proc_start_time "$pid")" >"$PID_DIR/$name"
}

# The PID recorded under NAME if that process still runs, else nothing.
live_pid() {
  local file=$PID_DIR/$1 pid started
  [ -f "$file" ] || return 1
  read -r pid started <"$file" || return 1
  [ -n "$pid" ] && [ "$(proc_start_time "$pid")" = "$started" ] || return 1
  echo "$pid"
}

# stop_bg NAME [SIGNAL] [GRACE_SECS] — signals the process recorded under
# NAME, waits for it to exit, then SIGKILLs it. Returns its exit status when
# it was our child, 0 otherwise.
stop_bg() {
  local name=$1 sig=${2:-TERM} grace=${3:-10} pid status=0 i
  if pid=$(live_pid "$name"); then
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      [ "$(proc_start_time "$pid")" = "" ] && break
      # A zombie child counts as gone.
      [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
      sleep 0.1
    done
    if live_pid "$name" >/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
      log "$name (pid $pid) did not stop on SIG$sig; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || status=$?
    # 127: not our child (a killed run's leftover); nothing to report.
    [ "$status" != 127 ] || status=0
  fi
  rm -f "$PID_DIR/$name"
  return $status
}

# Stops every process recorded for this topology (a killed run's leftovers
# too), newest first.
stop_all_bg() {
  local names f
  [ -d "$PID_DIR" ] || return 0
  # Newest first (the names are ours: no spaces).
  mapfile -t names < <(ls -t "$PID_DIR")
  for f in "${names[@]}"; do
    stop_bg "$f" TERM 5 || true
  done
}

# wait_for SECS DESCRIPTION CMD… — retries CMD every 0.2 s until it succeeds.
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  log "timed out after ${secs}s waiting for $what"
  return 1
}

# render TEMPLATE OUT KEY… — copies TEMPLATE to OUT with every @KEY@
# replaced by the value of the shell variable KEY.
render() {
  local template=$1 out=$2 text key
  shift 2
  text=$(<"$template")
  for key in "$@"; do
    text=${text//@$key@/${!key}}
  done
  if [[ $text =~ @[A-Z_]+@ ]]; then
    die "$template: ${BASH_REMATCH[0]} has no value"
  fi
  printf '%s\n' "$text" >"$out"
}

# in_ns in|out CMD… — runs CMD in the clients' or the servers' namespace.
in_ns() {
  local side=$1
  shift
  case $side in
    in) ip netns exec "$NS_IN" "$@" ;;
    out) ip netns exec "$NS_OUT" "$@" ;;
    *) die "in_ns: side must be in or out" ;;
  esac
}
