# The control plane of the end-to-end run (sourced by scripts/e2e/run.sh
# after lib.sh): `mailgate-control serve` in the root namespace with its
# SQLite store, API on loopback, the dataplane's Unix socket, EVE export;
# `mailgatectl` to read it. Its files stay in the results (DIR/control),
# so the store can be served again after the run:
#   mailgate-control serve --config DIR/control/control.toml
#   mailgatectl --server "$(cat DIR/control/url)" --token-file DIR/control/token sessions

# control_prepare DIR BIN_DIR — writes DIR/control.toml, a token and the URL.
control_prepare() {
  CONTROL_DIR=$1
  CONTROL_BIN=$2/mailgate-control
  MAILGATECTL=$2/mailgatectl
  if [ ! -x "$CONTROL_BIN" ] || [ ! -x "$MAILGATECTL" ]; then
    die "no $CONTROL_BIN or $MAILGATECTL: build them (cargo build -p mailgate-control)"
  fi
  mkdir -p "$CONTROL_DIR"
  # A socket path must be short (108 bytes), and stay valid for serving
  # the store again after the run.
  CONTROL_SOCKET=/run/mailgate-e2e-$TOPO-control.sock
  # A killed run's (its control plane is stopped by now).
  rm -f "$CONTROL_SOCKET"
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  CONTROL_URL=http://127.0.0.1:$port
  echo "$CONTROL_URL" >"$CONTROL_DIR/url"
  python3 -c 'import secrets; print(secrets.token_hex(16))' >"$CONTROL_DIR/token"
  chmod 600 "$CONTROL_DIR/token"
  cat >"$CONTROL_DIR/control.toml" <<EOF
# Written by scripts/e2e/control.sh for one end-to-end run.
[api]
listen = "127.0.0.1:$port"
token_file = "$CONTROL_DIR/token"

[storage]
db_path = "$CONTROL_DIR/control.db"

[channel]
unix_socket = "$CONTROL_SOCKET"

[eve]
path = "$CONTROL_DIR/eve.json"
EOF
}

control_start() {
  start_bg control "$CONTROL_DIR/control.log" "$CONTROL_BIN" serve --config "$CONTROL_DIR/control.toml"
  wait_for 30 "mailgate-control's API and socket" control_up || {
    cat "$CONTROL_DIR/control.log" >&2
    die "mailgate-control did not start"
  }
}

control_up() {
  [ -S "$CONTROL_SOCKET" ] && ctl status
}

control_stop() {
  stop_bg control TERM 10 || true
}

# ctl ARGS… — mailgatectl against this run's control plane.
ctl() {
  "$MAILGATECTL" --server "$CONTROL_URL" --token-file "$CONTROL_DIR/token" "$@"
}

# control_report_table GATEWAY — the [dataplane.report] table that makes
# the appliance report to this control plane as GATEWAY.
control_report_table() {
  cat <<EOF

[dataplane.report]
gateway = "$1"
flush_interval_ms = 100

[dataplane.report.endpoint]
transport = "unix"
path = "$CONTROL_SOCKET"
EOF
}
