#!/usr/bin/env python3
"""The client side of the end-to-end scenarios, run in the inside namespace
by scripts/e2e/run.sh:

    clients.py SCENARIO --marker M --ca CERT --sha256 HEX

Each scenario drives real mail and web clients (swaks, curl, openssl
s_client, Python's smtplib/imaplib/poplib) from the inside hosts of
topology.env to the outside servers, and prints one JSON object: the
scenario and its steps, each with the client, source, destination, port and
what the client saw:

    outcome  "ok"       the client finished its job
             "refused"  the connection was refused (an RST answered the SYN)
             "reset"    the connection was reset or closed under the client
             "timeout"  nothing came back in time
             "error"    anything else (detail says what)

Clients never print a password: the outputs of a run are searched for one.
Every message sent carries the marker and the scenario in its Subject, so
that a mailbox can be searched for it.
"""

import argparse
import hashlib
import imaplib
import json
import os
import poplib
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 8


def topology():
    """topology.env as a dict (KEY=VALUE lines, like lib.sh reads them)."""
    values = {}
    with open(os.path.join(HERE, "topology.env"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            if re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
                values[key] = value
    return values


T = topology()


def password(user):
    """The test users' password (scripts/e2e/peers.sh sets the same)."""
    return "Pw-secret-" + user


def classify_exception(e):
    """What a Python client's exception says about the connection."""
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(
        e,
        (
            ConnectionResetError,
            BrokenPipeError,
            ConnectionAbortedError,
            smtplib.SMTPServerDisconnected,
            imaplib.IMAP4.abort,
            ssl.SSLEOFError,
            ssl.SSLZeroReturnError,
            EOFError,
        ),
    ):
        return "reset"
    if isinstance(e, poplib.error_proto) and "EOF" in str(e):
        return "reset"
    if isinstance(e, ssl.SSLError) and ("EOF" in str(e) or "reset" in str(e).lower()):
        return "reset"
    return "error"


def classify_text(text):
    """What a command-line client's error output says about the connection."""
    t = text.lower()
    if "refused" in t:
        return "refused"
    if "timed out" in t or "timeout" in t:
        return "timeout"
    if any(
        k in t
        for k in (
            "reset",
            "errno=104",
            "recv failure",
            "unexpected eof",
            "connection closed",
            "remote host closed",
            "lost connection",
            "server closed",
            "broken pipe",
            "eof was observed",
        )
    ):
        return "reset"
    return "error"


class Run:
    """Collects the steps of one scenario."""

    def __init__(self, scenario, marker, ca, sha256):
        self.scenario = scenario
        self.marker = marker
        self.ca = ca
        self.sha256 = sha256
        self.steps = []

    def subject(self, step):
        return f"mailgate-e2e {self.marker} {self.scenario} {step}"

    def step(self, name, client, src, dst, port, fn):
        """Runs fn (returns a detail string, or a dict of extra fields) and records the outcome."""
        started = time.monotonic()
        entry = {"name": name, "client": client, "src": src, "dst": dst, "port": port}
        try:
            result = fn()
            entry["outcome"] = "ok"
            if isinstance(result, dict):
                entry.update(result)
            else:
                entry["detail"] = result or ""
        except Failed as e:
            entry["outcome"] = e.outcome
            entry["detail"] = e.detail
        except Exception as e:  # noqa: BLE001 - every failure is an outcome
            entry["outcome"] = classify_exception(e)
            entry["detail"] = f"{type(e).__name__}: {e}"
        entry["secs"] = round(time.monotonic() - started, 3)
        self.steps.append(entry)

    def report(self):
        return {"scenario": self.scenario, "marker": self.marker, "steps": self.steps}


class Failed(Exception):
    """A command-line client failed; outcome from its output."""

    def __init__(self, outcome, detail):
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


def run_cmd(args, stdin=b"", timeout=TIMEOUT * 2):
    """Runs a command-line client; its stdout on success, Failed otherwise."""
    try:
        p = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise Failed("timeout", f"{args[0]}: no answer in {timeout}s") from e
    if p.returncode != 0:
        text = (p.stderr + p.stdout).decode("utf-8", "replace")
        last = " | ".join(line.strip() for line in text.strip().splitlines()[-3:])
        raise Failed(classify_text(text), f"{args[0]} exit {p.returncode}: {last}")
    return p.stdout


def message(subject, sender, rcpt):
    return (
        f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{abs(hash(subject))}@{T['MAIL_DOMAIN']}>\r\n\r\n"
        "Sent through the mailgate end-to-end test.\r\n"
    )


def verified_context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    return ctx


def unverified_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# --- Python clients bound to a source address -------------------------------


class BoundIMAP4(imaplib.IMAP4):
    """imaplib.IMAP4 connecting from a chosen source address."""

    def __init__(self, host, port, source, timeout):
        self._source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))


class BoundPOP3(poplib.POP3):
    """poplib.POP3 connecting from a chosen source address."""

    def __init__(self, host, port, source, timeout):
        self._source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))


class BoundPOP3S(BoundPOP3):
    """POP3 over implicit TLS (995) from a chosen source address."""

    def __init__(self, host, port, source, timeout, context):
        self._context = context
        super().__init__(host, port, source, timeout)

    def _create_socket(self, timeout):
        sock = super()._create_socket(timeout)
        return self._context.wrap_socket(sock, server_hostname=self.host)


def smtp_send(run, step, src, host, port, helo, rcpt, starttls=True, sni=None, context=None, user=None):
    """One SMTP transaction with smtplib; sni overrides the name sent in the ClientHello."""
    with smtplib.SMTP(host, port, local_hostname=helo, timeout=TIMEOUT, source_address=(src, 0)) as s:
        s.ehlo()
        if starttls:
            if sni is not None:
                # smtplib sends the host it connected to as SNI; a client
                # that names another server is what the policy must catch.
                s._host = sni  # noqa: SLF001
            s.starttls(context=context)
            s.ehlo()
        if user:
            s.login(user, password(user))
        sender = f"{step}@{T['MAIL_DOMAIN']}"
        s.sendmail(sender, [rcpt], message(run.subject(step), sender, rcpt))
    return f"sent to {rcpt}"


def swaks(run, step, src, host, port, helo, rcpt, extra):
    """One SMTP transaction with swaks."""
    sender = f"{step}@{T['MAIL_DOMAIN']}"
    args = [
        "swaks", "--server", host, "--port", str(port), "--local-interface", src, "--ehlo", helo,
        "--from", sender, "--to", rcpt, "--header", f"Subject: {run.subject(step)}",
        "--timeout", str(TIMEOUT),
    ] + extra
    run_cmd(args)
    return f"sent to {rcpt}"


# --- Scenarios ----------------------------------------------------------------


def relay_mail(run):
    """1. The approved relay hands mail to the corp MX over STARTTLS (SNI mx.corp.test)."""
    mx, relay, helo = T["MX_NAME"], T["RELAY"], T["RELAY_HELO"]
    tls = ["--tls", "--tls-sni", mx, "--tls-verify", "--tls-ca-path", run.ca]
    auth = ["--auth", "PLAIN", "--auth-user", "alice", "--auth-password", password("alice")]
    run.step("swaks", "swaks", relay, mx, 25,
             lambda: swaks(run, "swaks", relay, mx, 25, helo, f"alice@{T['MAIL_DOMAIN']}", tls + auth))
    run.step("smtplib", "python-smtplib", relay, mx, 25,
             lambda: smtp_send(run, "smtplib", relay, mx, 25, helo, f"alice@{T['MAIL_DOMAIN']}",
                               context=verified_context(run.ca), user="alice"))

    def curl_smtp():
        body = message(run.subject("curl"), f"curl@{T['MAIL_DOMAIN']}", f"bob@{T['MAIL_DOMAIN']}")
        run_cmd(["curl", "-sS", "--max-time", str(TIMEOUT), "--interface", relay, "--ssl-reqd", "--cacert", run.ca,
                 f"smtp://{mx}:25/{helo}", "--mail-from", f"curl@{T['MAIL_DOMAIN']}",
                 "--mail-rcpt", f"bob@{T['MAIL_DOMAIN']}", "-T", "-"], stdin=body.encode())
        return f"sent to bob@{T['MAIL_DOMAIN']}"

    run.step("curl", "curl", relay, mx, 25, curl_smtp)


def workstation_smtp(run):
    """2. A workstation speaks SMTP to the corp MX directly."""
    mx, ws = T["MX_NAME"], T["WORKSTATION"]
    helo = "ws23.corp.test"
    run.step("swaks", "swaks", ws, mx, 25,
             lambda: swaks(run, "swaks", ws, mx, 25, helo, f"alice@{T['MAIL_DOMAIN']}", ["--tls-optional"]))
    run.step("smtplib", "python-smtplib", ws, mx, 25,
             lambda: smtp_send(run, "smtplib", ws, mx, 25, helo, f"alice@{T['MAIL_DOMAIN']}", starttls=False))


def mailbox_login(run):
    """3. Mailbox access: approved (IMAPS to mx.corp.test) and not (another provider, in clear or by SNI)."""
    mx, provider, ws, app = T["MX_NAME"], T["PROVIDER_NAME"], T["WORKSTATION"], T["APPHOST"]

    def curl_imaps_approved():
        out = run_cmd(["curl", "-sS", "--max-time", str(TIMEOUT), "--interface", ws, "--cacert", run.ca,
                       "--user", f"alice:{password('alice')}", f"imaps://{mx}/INBOX", "-X", "EXAMINE INBOX"])
        return out.decode("utf-8", "replace").strip().splitlines()[-1] if out.strip() else "examined"

    run.step("imaps-approved", "curl", ws, mx, 993, curl_imaps_approved)

    def imap_cleartext(src, user):
        def go():
            c = BoundIMAP4(provider, 143, src, TIMEOUT)
            try:
                c.login(user, password(user))
                c.select("INBOX", readonly=True)
                c.logout()
            finally:
                try:
                    c.shutdown()
                except OSError:
                    pass
            return f"logged in as {user}"

        return go

    run.step("imap-login", "python-imaplib", ws, provider, 143, imap_cleartext(ws, "bob"))

    def pop3_cleartext():
        c = BoundPOP3(provider, 110, ws, TIMEOUT)
        try:
            c.user("carol")
            c.pass_(password("carol"))
            count, _ = c.stat()
            c.quit()
        finally:
            try:
                c.close()
            except OSError:
                pass
        return f"logged in as carol, {count} messages"

    run.step("pop3-login", "python-poplib", ws, provider, 110, pop3_cleartext)

    def openssl_imap_starttls():
        run_cmd(["openssl", "s_client", "-brief", "-bind", f"{ws}:0", "-connect", f"{provider}:143",
                 "-starttls", "imap", "-servername", provider, "-CAfile", run.ca, "-verify_return_error"],
                stdin=b"a1 LOGOUT\r\n")
        return "STARTTLS handshake done"

    run.step("imap-starttls", "openssl-s_client", ws, provider, 143, openssl_imap_starttls)

    def pop3s():
        c = BoundPOP3S(provider, 995, ws, TIMEOUT, verified_context(run.ca))
        try:
            c.user("carol")
            c.pass_(password("carol"))
            c.quit()
        finally:
            try:
                c.close()
            except OSError:
                pass
        return "logged in as carol"

    run.step("pop3s-login", "python-poplib", ws, provider, 995, pop3s)

    def curl_pop3s():
        run_cmd(["curl", "-sS", "--max-time", str(TIMEOUT), "--interface", ws, "--cacert", run.ca,
                 "--user", f"carol:{password('carol')}", f"pop3s://{provider}/"])
        return "LIST done"

    run.step("pop3s-curl", "curl", ws, provider, 995, curl_pop3s)
    run.step("imap-apphost", "python-imaplib", app, provider, 143, imap_cleartext(app, "bob"))


def bad_sni(run):
    """4. The relay starts TLS on its approved path but names another server in the ClientHello."""
    mx, relay, helo = T["MX_NAME"], T["RELAY"], T["RELAY_HELO"]
    wrong = "exfil.other-provider.test"

    def openssl_smtp():
        run_cmd(["openssl", "s_client", "-brief", "-bind", f"{relay}:0", "-connect", f"{mx}:25",
                 "-starttls", "smtp", "-name", helo, "-servername", wrong], stdin=b"QUIT\r\n")
        return "STARTTLS handshake done"

    run.step("openssl", "openssl-s_client", relay, mx, 25, openssl_smtp)
    run.step("smtplib", "python-smtplib", relay, mx, 25,
             lambda: smtp_send(run, "smtplib", relay, mx, 25, helo, f"alice@{T['MAIL_DOMAIN']}",
                               sni=wrong, context=unverified_context()))


def nonstandard_port(run):
    """5. The application host speaks SMTP on 2525 and on 8025."""
    mx, app = T["MX_NAME"], T["APPHOST"]
    helo = "app30.corp.test"
    for port in (2525, 8025):
        run.step(f"swaks-{port}", "swaks", app, mx, port,
                 lambda port=port: swaks(run, f"swaks-{port}", app, mx, port, helo, f"alice@{T['MAIL_DOMAIN']}", []))
    run.step("smtplib-8025", "python-smtplib", app, mx, 8025,
             lambda: smtp_send(run, "smtplib-8025", app, mx, 8025, helo, f"alice@{T['MAIL_DOMAIN']}", starttls=False))


def web(run):
    """6. Ping and ping -6 across the appliance, and a 10 MB download over HTTP, HTTPS and HTTP/IPv6."""
    app, app6 = T["APPHOST"], T["APPHOST6"]
    for key in ("CORP_MX", "PROVIDER", "WEB"):
        for family, src in (("", app), ("6", app6)):
            dst = T[key + family]
            run.step(f"ping{family}-{key.lower()}", "ping", src, dst, None,
                     lambda dst=dst, src=src, family=family: ping(dst, src, family))

    def download(url, src, extra):
        def go():
            started = time.monotonic()
            out = run_cmd(["curl", "-sS", "-g", "--max-time", "60", "--interface", src] + extra + [url], timeout=90)
            secs = max(time.monotonic() - started, 1e-6)
            digest = hashlib.sha256(out).hexdigest()
            if digest != run.sha256:
                raise Failed("error", f"sha256 {digest} of {len(out)} bytes, expected {run.sha256}")
            return {"detail": f"sha256 ok, {len(out)} bytes", "bytes": len(out),
                    "throughput_mbit_s": round(len(out) * 8 / secs / 1e6, 1)}

        return go

    name = T["WEB_NAME"]
    run.step("http", "curl", app, name, 80, download(f"http://{name}/10m.bin", app, []))
    run.step("https", "curl", app, name, 443, download(f"https://{name}/10m.bin", app, ["--cacert", run.ca]))
    run.step("http6", "curl", app6, T["WEB6"], 80, download(f"http://[{T['WEB6']}]/10m.bin", app6, []))


def ping(dst, src, family):
    args = ["ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "2", "-I", src, dst]
    if family == "6":
        args.insert(1, "-6")
    run_cmd(args)
    return "2/2 answered"


SCENARIOS = {
    "relay_mail": relay_mail,
    "workstation_smtp": workstation_smtp,
    "mailbox_login": mailbox_login,
    "bad_sni": bad_sni,
    "nonstandard_port": nonstandard_port,
    "web": web,
}


def main():
    parser = argparse.ArgumentParser(description="Client side of one end-to-end scenario.")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--marker", required=True, help="put in every Subject, to find the messages again")
    parser.add_argument("--ca", required=True, help="the servers' self-signed certificate")
    parser.add_argument("--sha256", required=True, help="of the web server's 10 MB file")
    args = parser.parse_args()
    run = Run(args.scenario, args.marker, args.ca, args.sha256)
    SCENARIOS[args.scenario](run)
    json.dump(run.report(), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
