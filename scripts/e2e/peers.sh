# The real peers of the end-to-end topology, all in the outside namespace
# and all under one work directory (sourced by scripts/e2e/run.sh after
# lib.sh and netns.sh):
#   * Postfix: 25 (STARTTLS, AUTH after TLS through Dovecot SASL), 587,
#     465 (wrapper mode), 2525 and 8025; virtual Maildir delivery;
#   * Dovecot: IMAP 143 (STARTTLS), IMAPS 993, POP3 110 (STLS), POP3S 995;
#   * web.py: HTTP 80 and HTTPS 443 serving a 10 MB random file;
# with one self-signed certificate (CN mx.corp.test, every server name in
# its SAN) and the users of topology.env (password "Pw-secret-<user>").
# Each daemon runs in the foreground of `ip netns exec` with its PID
# recorded (lib.sh start_bg) and is stopped by that PID.

# The users' password; the only place it is spelt out.
peer_password() { printf 'Pw-secret-%s' "$1"; }

# peers_prepare WORK — writes certificates, configs, users, mailboxes and
# the web root under WORK (created; must be reachable by the daemons' users).
peers_prepare() {
  local work=$1 u
  mkdir -p "$work"/{log,tls,postfix,postfix-queue,postfix-data,mail,dovecot/run,dovecot/state,www}
  chmod 755 "$work"
  WORK=$work
  CERT=$work/tls/cert.pem
  KEY=$work/tls/key.pem
  PF_CONF=$work/postfix
  PF_QUEUE=$work/postfix-queue
  PF_DATA=$work/postfix-data
  MAIL_DIR=$work/mail
  MAIL_UID=$(id -u nobody)
  MAIL_GID=$(id -g nobody)

  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$KEY" -out "$CERT" \
    -subj "/CN=$MX_NAME" -addext "subjectAltName=DNS:$MX_NAME,DNS:$PROVIDER_NAME,DNS:$WEB_NAME" 2>/dev/null ||
    die "openssl could not make the test certificate"
  chmod 644 "$CERT"
  chmod 600 "$KEY"

  : >"$PF_CONF/vmailbox"
  : >"$work/dovecot/users"
  for u in $MAIL_USERS; do
    echo "$u@$MAIL_DOMAIN $MAIL_DOMAIN/$u/" >>"$PF_CONF/vmailbox"
    echo "$u:{PLAIN}$(peer_password "$u")" >>"$work/dovecot/users"
    mkdir -p "$MAIL_DIR/$MAIL_DOMAIN/$u"/{cur,new,tmp}
  done
  chown -R "$MAIL_UID:$MAIL_GID" "$MAIL_DIR"
  chown root:dovecot "$work/dovecot/users"
  chown postfix:postfix "$PF_DATA"
  chmod 640 "$work/dovecot/users"

  local keys=(WORK CERT KEY PF_CONF PF_QUEUE PF_DATA MAIL_DIR MAIL_UID MAIL_GID MAIL_DOMAIN MX_NAME CORP_MX PROVIDER TOPO)
  render "$E2E_DIR/templates/postfix-main.cf" "$PF_CONF/main.cf" "${keys[@]}"
  render "$E2E_DIR/templates/postfix-master.cf" "$PF_CONF/master.cf" "${keys[@]}"
  render "$E2E_DIR/templates/dovecot.conf" "$work/dovecot/dovecot.conf" "${keys[@]}"

  head -c $((10 * 1024 * 1024)) /dev/urandom >"$work/www/10m.bin"
  WEB_SHA256=$(sha256sum "$work/www/10m.bin" | cut -d' ' -f1)
}

# peers_start — starts Postfix, Dovecot and the web server in the outside
# namespace and waits until each listens.
peers_start() {
  # Creates the queue directories and checks the configuration.
  in_ns out postfix -c "$PF_CONF" check 2>"$WORK/log/postfix-check.log" ||
    die "postfix check failed: $(cat "$WORK/log/postfix-check.log")"
  # Dovecot first: Postfix's SASL socket is Dovecot's.
  start_bg dovecot "$WORK/log/dovecot.out" ip netns exec "$NS_OUT" dovecot -F -c "$WORK/dovecot/dovecot.conf"
  start_bg postfix "$WORK/log/postfix.out" ip netns exec "$NS_OUT" /usr/lib/postfix/sbin/master -c "$PF_CONF" -s
  start_bg web "$WORK/log/web.out" ip netns exec "$NS_OUT" python3 "$E2E_DIR/web.py" --root "$WORK/www" \
    --cert "$CERT" --key "$KEY" "$WEB" "$WEB6"
  local port
  for port in 25 587 465 2525 8025 143 993 110 995; do
    wait_for 20 "a listener on $CORP_MX:$port" peer_listens "$CORP_MX" "$port" || peers_failed
  done
  for port in 80 443; do
    wait_for 20 "a listener on $WEB:$port" peer_listens "$WEB" "$port" || peers_failed
  done
  wait_for 10 "Dovecot's SASL socket" test -S "$PF_QUEUE/private/auth" || peers_failed
}

# True when something in the outside namespace listens on ADDRESS:PORT.
peer_listens() {
  in_ns out ss -Hltn "src $1:$2" | grep -q LISTEN
}

peers_failed() {
  local f
  for f in "$WORK"/log/*; do
    log "--- $f"
    tail -n 20 "$f" >&2 || true
  done
  die "the peers did not start"
}

peers_stop() {
  stop_bg web TERM 5 || true
  stop_bg postfix TERM 10 || true
  stop_bg dovecot TERM 10 || true
}

# peers_mailbox_snapshot DEST — copies every delivered message (all users'
# Maildirs) to DEST/<user>/<file>.
peers_mailbox_snapshot() {
  local dest=$1 u f
  for u in $MAIL_USERS; do
    mkdir -p "$dest/$u"
    for f in "$MAIL_DIR/$MAIL_DOMAIN/$u"/new/* "$MAIL_DIR/$MAIL_DOMAIN/$u"/cur/*; do
      [ -f "$f" ] && cp "$f" "$dest/$u/"
    done
  done
  return 0
}
