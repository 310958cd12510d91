# The appliance and the captures of the end-to-end topology (sourced by
# scripts/e2e/run.sh after lib.sh and netns.sh).
#
# `mailgate-dataplane run` bridges the root-side veth ends with DPDK
# net_af_packet ports (port 0 inside, port 1 outside). Each scenario is
# captured on the namespace side of both veths, in the direction towards
# the appliance only (`tcpdump -Q out`): merged, that is exactly what the
# appliance received, which `mailgate-dataplane inspect` then replays with
# the same policy for the session records. (DPDK's af_packet sends with
# PACKET_QDISC_BYPASS, so a capture on the root-side ends would miss what
# the appliance sends.)

# The EAL arguments: no hugepages, no PCI, the two veth ends, main lcore 0
# and one worker on lcore 1.
appliance_eal_args() {
  echo --no-huge -m 1024 --no-pci --file-prefix "mg-$TOPO" \
    --vdev "net_af_packet0,iface=$IF_IN_ROOT" --vdev "net_af_packet1,iface=$IF_OUT_ROOT" -l 0,1
}

# appliance_config POLICY OUT [MORE] — the file `run --config` takes: the
# policy, a [dataplane] table sized for two veths, then MORE (TOML text:
# the [dataplane.report] table).
appliance_config() {
  {
    cat "$1"
    printf '\n# Added by scripts/e2e/appliance.sh for the veth topology.\n'
    printf '[dataplane]\nmbufs = 8191\nstats_interval_s = 0\n'
    printf '%s\n' "${3:-}"
  } >"$2"
}

# appliance_start DATAPLANE CONFIG SUMMARY LOG — starts the appliance and
# waits until frames cross it (a ping from inside to the MX answers).
appliance_start() {
  local bin=$1 config=$2 summary=$3 logfile=$4
  # shellcheck disable=SC2046 # the EAL arguments are words
  start_bg appliance "$logfile" "$bin" run --config "$config" --summary-json "$summary" -- $(appliance_eal_args)
  local i
  for ((i = 0; i < 150; i++)); do
    grep -q 'worker(s) on lcore' "$logfile" 2>/dev/null && break
    live_pid appliance >/dev/null || {
      cat "$logfile" >&2
      die "mailgate-dataplane run exited at start-up"
    }
    sleep 0.2
  done
  grep -q 'worker(s) on lcore' "$logfile" || die "mailgate-dataplane run did not start in 30s: $(tail -5 "$logfile")"
  wait_for 15 "a ping through the appliance" \
    ip netns exec "$NS_IN" ping -n -q -c 1 -W 1 -I "$APPHOST" "$CORP_MX" || die "no traffic crosses the appliance"
}

# appliance_stop — SIGTERM: the appliance ends every flow, writes its
# summary and exits 0.
appliance_stop() {
  local status=0
  stop_bg appliance TERM 30 || status=$?
  [ "$status" = 0 ] || log "mailgate-dataplane run exited with status $status"
  return "$status"
}

# capture_start DIR — starts one tcpdump per namespace, towards the appliance.
capture_start() {
  local dir=$1 side ns dev
  for side in in out; do
    if [ "$side" = in ]; then ns=$NS_IN dev=$IF_IN; else ns=$NS_OUT dev=$IF_OUT; fi
    start_bg "capture-$side" "$dir/tcpdump-$side.log" \
      ip netns exec "$ns" tcpdump -i "$dev" -Q out -U -s 0 -n -w "$dir/capture-$side.pcap"
  done
  for side in in out; do
    wait_for 10 "tcpdump in the $side namespace" grep -q 'listening on' "$dir/tcpdump-$side.log" ||
      die "tcpdump did not start: $(cat "$dir/tcpdump-$side.log")"
  done
}

# capture_stop DIR — stops both captures and merges them, by time, into
# DIR/capture.pcap.
capture_stop() {
  local dir=$1
  stop_bg capture-in INT 10 || true
  stop_bg capture-out INT 10 || true
  mergecap -F pcap -w "$dir/capture.pcap" "$dir/capture-in.pcap" "$dir/capture-out.pcap" ||
    die "mergecap failed on $dir"
  rm -f "$dir/capture-in.pcap" "$dir/capture-out.pcap"
}
