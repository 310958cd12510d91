#!/usr/bin/env python3
"""Readable summaries of an end-to-end run's results (scripts/e2e/run.sh):

    report.py run OUT          the whole run: per mode, sessions reported,
                               blocked, by rule (the live records the
                               control plane stored), what the clients saw,
                               throughput, and commands to look further
    report.py steps FILE       one line: the outcomes in a client.json
    report.py summary FILE     one line: the counters of a summary.json
    report.py records FILE     the same report for one records file (JSON lines)
"""

import collections
import json
import os
import sys

BLOCKING = {"drop", "reset"}
WOULD_BLOCK = {"would_drop", "would_reset"}
# The live appliance's records of a scenario, as the control plane serves them.
RECORDS = "api-records.jsonl"
# Sessions listed by `report.py records`.
SAMPLE = 20


def read_records(path):
    records = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    records.append(json.loads(line))
    return records


def steps_line(path):
    with open(path, encoding="utf-8") as f:
        steps = json.load(f)["steps"]
    counts = collections.Counter(s["outcome"] for s in steps)
    return ", ".join(f"{outcome} {n}" for outcome, n in sorted(counts.items()))


def summary_line(path):
    with open(path, encoding="utf-8") as f:
        s = json.load(f)
    return "rx {} tx {} frames, policy drops {}, RSTs sent {}, {:.1f}s".format(
        s["packets_rx"], s["packets_tx"], s["packets_dropped_policy"], s["rst_sent"], s["duration_s"]
    )


def describe_records(records, indent="  "):
    """Sessions reported (mail, or a mail port), blocked, by rule."""
    lines = []
    mail = [r for r in records if r.get("mail_proto")]
    actions = collections.Counter(r["verdict"]["action"] for r in records)
    blocked = sum(n for a, n in actions.items() if a in BLOCKING)
    would = sum(n for a, n in actions.items() if a in WOULD_BLOCK)
    lines.append(
        f"{indent}sessions reported: {len(records)} ({len(mail)} mail, {len(records) - len(mail)} with no mail protocol seen), "
        f"blocked {blocked}, "
        f"would block {would}, alerts {actions.get('alert', 0)}, passed {actions.get('pass', 0)}"
    )
    by_rule = collections.Counter(
        (r["verdict"].get("rule") or "(no rule)", r["verdict"]["action"]) for r in records if r.get("mail_proto")
        or r["verdict"]["action"] != "pass"
    )
    if by_rule:
        lines.append(f"{indent}by rule:")
        width = max(len(rule) for rule, _ in by_rule)
        for (rule, action), n in sorted(by_rule.items()):
            lines.append(f"{indent}  {rule:<{width}}  {action:<12} {n}")
    return lines


def session_line(r):
    v = r["verdict"]
    what = r.get("mail_proto") or "tcp"
    facts = []
    smtp, tls = r.get("smtp") or {}, r.get("tls") or {}
    if smtp.get("helo"):
        facts.append(f"helo {smtp['helo']}")
    for proto in ("smtp", "imap", "pop3"):
        p = r.get(proto) or {}
        if p.get("starttls"):
            facts.append("starttls")
        if p.get("user"):
            facts.append(f"user {p['user']}")
    if tls.get("sni"):
        facts.append(f"sni {tls['sni']}")
    at = f" at {v['decided_at']}" if v.get("decided_at") else ""
    return "{}:{} -> {}:{} {} {}{} [{}]{}".format(
        r["src_ip"], r["src_port"], r["dest_ip"], r["dest_port"], what, v["action"], at,
        v.get("rule") or "-", (" " + ", ".join(facts)) if facts else ""
    )


def run_report(out):
    with open(os.path.join(out, "run.json"), encoding="utf-8") as f:
        run = json.load(f)
    lines = [f"mailgate end-to-end run {run['marker']} (topology {run['topology']}), results in {out}"]
    for mode in run["modes"]:
        mdir = os.path.join(out, mode)
        lines.append("")
        summary = os.path.join(mdir, "summary.json")
        counters = summary_line(summary) if os.path.exists(summary) else "no summary (the appliance did not stop cleanly)"
        lines.append(f"{mode} mode — appliance: {counters}")
        records = []
        for scenario in run["scenarios"]:
            records += read_records(os.path.join(mdir, scenario, RECORDS))
        lines += describe_records(records)
        lines.append("  scenarios (what the clients saw; the sessions the appliance recorded):")
        throughput = []
        for scenario in run["scenarios"]:
            client = os.path.join(mdir, scenario, "client.json")
            if not os.path.exists(client):
                continue
            lines.append(f"    {scenario:<18} {steps_line(client)}")
            for r in sorted(read_records(os.path.join(mdir, scenario, RECORDS)), key=lambda r: r["ts"]):
                if r.get("mail_proto") or r["verdict"]["action"] != "pass":
                    lines.append(f"      {session_line(r)}")
            with open(client, encoding="utf-8") as f:
                for s in json.load(f)["steps"]:
                    if "throughput_mbit_s" in s:
                        throughput.append(f"{s['name']} {s['throughput_mbit_s']} Mbit/s")
        if throughput:
            lines.append("  throughput through the appliance (10 MB download): " + ", ".join(throughput))
    first = run["modes"][0]
    control = os.path.join(out, "control")
    bins = run.get("bin_dir", ".")
    lines += [
        "",
        "look further:",
        f"  cat {out}/{first}/mailgatectl-sessions.txt        # every session, as mailgatectl listed it",
        "  # serve the run's SQLite store again, and ask it:",
        f"  {bins}/mailgate-control serve --config {control}/control.toml &",
        f"  {bins}/mailgatectl --server $(cat {control}/url) --token-file {control}/token sessions --action reset",
        f"  jq . {out}/{first}/mailbox_login/{RECORDS}        # the records, from the API",
        f"  jq . {out}/{first}/mailbox_login/client.json      # what each client saw",
        f"  {bins}/mailgate-dataplane inspect {out}/{first}/bad_sni/capture.pcap --config {out}/policy-{first}.toml",
        f"  tshark -r {out}/{first}/bad_sni/capture.pcap -Y 'smtp || tls.handshake.type == 1'",
        f"  head -3 {control}/eve.json                          # EVE JSON for a SIEM",
    ]
    return "\n".join(lines)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("run", "steps", "summary", "records"):
        print(__doc__, file=sys.stderr)
        return 2
    what, path = sys.argv[1:]
    if what == "run":
        print(run_report(path))
    elif what == "steps":
        print(steps_line(path))
    elif what == "summary":
        print(summary_line(path))
    else:
        records = read_records(path)
        print("\n".join(describe_records(records, indent="")))
        shown = [r for r in records if r.get("mail_proto") or r["verdict"]["action"] != "pass"]
        # Blocked ones first; a sample when there are many.
        shown.sort(key=lambda r: r["verdict"]["action"] == "pass")
        print("sessions:")
        for r in shown[:SAMPLE]:
            print("  " + session_line(r))
        if len(shown) > SAMPLE:
            print(f"  … and {len(shown) - SAMPLE} more")
    return 0


if __name__ == "__main__":
    sys.exit(main())
