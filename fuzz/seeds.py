#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target from real captures.

    seeds.py --out DIR [--toml FILE]... CAPTURE...

Reads pcap / pcapng captures (gzip-compressed or not; Ethernet, raw IP,
BSD loopback, Linux cooked v1/v2), follows their TCP sessions, and writes
small seeds in each target's input format (docs/fuzzing.md) to
DIR/<target>/. Policy files given with --toml seed the `config` target.
Standard library only, so it runs wherever the fuzz script does; it is not
a faithful decoder (the targets are the real ones), only good enough to
give the fuzzer realistic starting points.
"""

import argparse
import gzip
import hashlib
import os
import struct
import sys

# Link types, as in pcap-linktype(7).
LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_LOOP = 0, 1, 101, 108
LINK_SLL, LINK_IPV4, LINK_IPV6, LINK_SLL2 = 113, 228, 229, 276

# Per-target bounds that keep every seed small.
MAX_SEED = 16 * 1024
MAX_LINES = 60
MAX_FLOW_FRAMES = 40
MAX_CAPTURE_FRAMES = 64
MAX_DECODE_FRAMES = 12
MAX_ENGINE_FLOWS = 12
PCAP_PREFIX = 8 * 1024

SMTP_PORTS = {25, 465, 587, 2525}
IMAP_PORTS = {143, 993}
POP3_PORTS = {110, 995}


def read_file(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def packets(data):
    """Yields (timestamp ns, link type, packet bytes) of a pcap or pcapng capture."""
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        yield from pcapng_packets(data)
        return
    formats = {
        b"\xd4\xc3\xb2\xa1": ("<", 1000),
        b"\xa1\xb2\xc3\xd4": (">", 1000),
        b"\x4d\x3c\xb2\xa1": ("<", 1),
        b"\xa1\xb2\x3c\x4d": (">", 1),
    }
    if magic not in formats or len(data) < 24:
        raise ValueError("not a pcap or pcapng capture")
    endian, frac_ns = formats[magic]
    link = struct.unpack(endian + "I", data[20:24])[0] & 0xFFFF
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[pos : pos + 16])
        pos += 16
        yield sec * 1_000_000_000 + frac * frac_ns, link, data[pos : pos + incl]
        pos += incl


def pcapng_packets(data):
    pos, endian, links = 0, "<", []
    while pos + 12 <= len(data):
        if data[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":
            endian = "<" if data[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        btype, blen = struct.unpack(endian + "II", data[pos : pos + 8])
        if blen < 12 or pos + blen > len(data):
            return
        body = data[pos + 8 : pos + blen - 4]
        if btype == 1 and len(body) >= 2:  # interface description
            links.append(struct.unpack(endian + "H", body[:2])[0])
        elif btype == 6 and len(body) >= 20:  # enhanced packet (µs stamps assumed)
            ifid, hi, lo, incl, _orig = struct.unpack(endian + "IIIII", body[:20])
            if ifid < len(links):
                yield ((hi << 32) | lo) * 1000, links[ifid], body[20 : 20 + incl]
        elif btype == 3 and len(body) >= 4 and links:  # simple packet
            yield 0, links[0], body[4:]
        pos += blen


def to_ethernet(link, pkt):
    """The packet as an Ethernet frame, as the dataplane's capture reader makes it."""
    if link == LINK_ETHERNET:
        return pkt
    if link in (LINK_RAW, LINK_IPV4, LINK_IPV6):
        ip = pkt
    elif link in (LINK_NULL, LINK_LOOP):
        ip = pkt[4:]
    elif link == LINK_SLL:
        ip = pkt[16:]
    elif link == LINK_SLL2:
        ip = pkt[20:]
    else:
        return None
    version = ip[0] >> 4 if ip else 0
    ethertype = {4: 0x0800, 6: 0x86DD}.get(version, 0)
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01" + struct.pack(">H", ethertype) + ip


def decode(frame):
    """(src, dst, sport, dport, seq, flags, payload) of a TCP frame, else None."""
    if len(frame) < 14:
        return None
    ethertype, pos = struct.unpack(">H", frame[12:14])[0], 14
    while ethertype in (0x8100, 0x88A8, 0x9100) and pos + 4 <= len(frame):
        ethertype, pos = struct.unpack(">H", frame[pos + 2 : pos + 4])[0], pos + 4
    if ethertype == 0x8864 and pos + 8 <= len(frame):
        ppp = struct.unpack(">H", frame[pos + 6 : pos + 8])[0]
        ethertype, pos = {0x21: 0x0800, 0x57: 0x86DD}.get(ppp, 0), pos + 8
    ip = frame[pos:]
    if ethertype == 0x0800:
        return decode_ipv4(ip)
    if ethertype == 0x86DD:
        return decode_ipv6(ip)
    return None


def decode_ipv4(ip):
    if len(ip) < 20 or ip[0] >> 4 != 4:
        return None
    ihl = (ip[0] & 15) * 4
    total = struct.unpack(">H", ip[2:4])[0]
    if struct.unpack(">H", ip[6:8])[0] & 0x3FFF:
        return None  # a fragment
    body = ip[ihl:total] if total >= ihl else ip[ihl:]
    if ip[9] == 6:
        return decode_tcp(ip[12:16], ip[16:20], body)
    if ip[9] == 41:
        return decode_ipv6(body)
    return None


def decode_ipv6(ip):
    if len(ip) < 40 or ip[0] >> 4 != 6:
        return None
    nxt, rest = ip[6], ip[40 : 40 + struct.unpack(">H", ip[4:6])[0]]
    for _ in range(8):
        if nxt == 6:
            return decode_tcp(ip[8:24], ip[24:40], rest)
        if nxt not in (0, 43, 60, 44) or len(rest) < 8:
            return None
        nxt, rest = rest[0], rest[8 * (rest[1] + 1) :]
    return None


def decode_tcp(src, dst, seg):
    if len(seg) < 20:
        return None
    sport, dport, seq = struct.unpack(">HHI", seg[:8])
    off = (seg[12] >> 4) * 4
    return bytes(src), bytes(dst), sport, dport, seq, seg[13], seg[off:], seg


class Flow:
    """One TCP session: its frames, and each direction's in-order bytes."""

    def __init__(self, client, server_port):
        self.client = client  # (addr, port) of the initiator
        self.server_port = server_port
        self.frames = []  # (ts, frame)
        self.syn = False
        self.base = {}  # direction -> sequence number of stream byte 0
        self.segs = {0: [], 1: []}  # direction -> [(offset, payload, packet index)]

    def add(self, direction, seq, flags, payload, index):
        syn = flags & 0x02
        if syn:
            self.base.setdefault(direction, (seq + 1) & 0xFFFFFFFF)
            if not flags & 0x10:
                self.syn = True
        if payload:
            base = self.base.setdefault(direction, seq)
            off = (seq - base) & 0xFFFFFFFF
            if off < 1 << 20:
                self.segs[direction].append((off, payload, index))

    def stream(self, direction):
        """(bytes, arrival packet index of each byte) of the in-order prefix."""
        data, when = bytearray(), []
        for off, payload, index in sorted(self.segs[direction], key=lambda s: (s[0], s[2])):
            if off > len(data):
                break
            fresh = payload[len(data) - off :]
            data += fresh
            when += [index] * len(fresh)
        return bytes(data), when


def flows_of(frames):
    flows, order = {}, []
    for index, (_, frame) in enumerate(frames):
        tcp = decode(frame)
        if tcp is None:
            continue
        src, dst, sport, dport, seq, flags, payload, _ = tcp
        a, b = (src, sport), (dst, dport)
        key = (min(a, b), max(a, b))
        flow = flows.get(key)
        if flow is None:
            syn_only = flags & 0x12 == 0x02
            server_first = not syn_only and (sport < dport or sport in SMTP_PORTS | IMAP_PORTS | POP3_PORTS)
            flow = Flow(b, sport) if server_first else Flow(a, dport)
            flows[key] = flow
            order.append(flow)
        flow.frames.append(frame)
        flow.add(0 if a == flow.client else 1, seq, flags, payload, index)
    return order


def transcript(flow):
    """[(side, line)] of both directions, in the order their line ends arrived."""
    events = []
    for direction, side in ((0, b"C"), (1, b"S")):
        data, when = flow.stream(direction)
        start = 0
        while len(events) < 4 * MAX_LINES:
            lf = data.find(b"\n", start)
            if lf < 0:
                break
            line = data[start:lf].rstrip(b"\r")[:1024]
            events.append((when[lf], direction, side, line))
            start = lf + 1
    events.sort()
    return [(side, line) for _, _, side, line in events[:MAX_LINES]]


def kind_of(flow, lines):
    """The mail protocol a session speaks, by its greeting, else by the server's port."""
    first_server = next((line for side, line in lines if side == b"S"), b"")
    if first_server.startswith(b"220"):
        return "smtp"
    if first_server.startswith(b"* "):
        return "imap"
    if first_server.startswith((b"+OK", b"-ERR")):
        return "pop3"
    port = flow.server_port
    for kind, ports in (("smtp", SMTP_PORTS), ("imap", IMAP_PORTS), ("pop3", POP3_PORTS)):
        if port in ports and lines:
            return kind
    return None


class Writer:
    """Writes seeds to DIR/<target>/<sha1 of the seed>, deduplicated."""

    def __init__(self, out):
        self.out, self.counts = out, {}

    def seed(self, target, data):
        data = bytes(data[:MAX_SEED])
        if not data:
            return
        folder = os.path.join(self.out, target)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, hashlib.sha1(data).hexdigest())
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
            self.counts[target] = self.counts.get(target, 0) + 1


def frame_records(frames, options):
    out, last = bytearray([options]), None
    for ts, frame in frames:
        delta = 0 if last is None else max(0, min((ts - last) // 1000, 0xFFFFFFFF))
        last = ts
        frame = frame[:0xFFFF]
        record = struct.pack(">HI", len(frame), delta) + frame
        if len(out) + len(record) > MAX_SEED:
            break
        out += record
    return out


def fragment_seed(segments):
    """TCP segments (IP payloads) cut into 64-byte IP fragments, last piece first."""
    out = bytearray(struct.pack(">BH", 4, 4096))
    for n, segment in enumerate(segments):
        flags = 0b10 if n % 2 else 0  # every other one over IPv6
        flags |= (n % 4) << 2
        pieces = [(i, segment[i : i + 64]) for i in range(0, min(len(segment), 4096), 64)]
        for k, (off, piece) in reversed(list(enumerate(pieces))):
            more = 1 if off + len(piece) < len(segment) else 0
            out += struct.pack(">BHBB", flags | more, k * 8, len(piece), 1) + piece
    return out


def sasl_seeds(lines):
    """(mechanism, responses) of each AUTH / AUTHENTICATE exchange in a transcript."""
    found = []
    for i, (side, line) in enumerate(lines):
        if side != b"C":
            continue
        words = line.split()
        upper = [w.upper() for w in words]
        if upper[:1] == [b"AUTH"] and len(words) >= 2:
            mech, initial = words[1], words[2:3]
        elif len(upper) >= 3 and upper[1] == b"AUTHENTICATE":
            mech, initial = words[2], words[3:4]
        else:
            continue
        responses = list(initial)
        for side2, line2 in lines[i + 1 : i + 8]:
            if side2 == b"C":
                responses.append(line2)
        found.append((mech, responses))
    return found


def ntlm_authenticate(user):
    """An NTLM AUTHENTICATE (type 3) message naming `user` (UTF-16LE)."""
    name = user.encode("utf-16-le")
    domain = "CORP".encode("utf-16-le")
    header_len = 64
    fields = [b"", b"", domain, name, b"", b""]  # LM, NT, domain, user, host, session key
    offset, descriptors, payload = header_len, b"", b""
    for field in fields:
        descriptors += struct.pack("<HHI", len(field), len(field), offset)
        offset += len(field)
        payload += field
    return b"NTLMSSP\0" + struct.pack("<I", 3) + descriptors + struct.pack("<I", 0x00000001) + payload


# Decoded first responses of each mechanism the SASL reader knows, for the
# harness's raw mode (it base64-encodes them). No line may contain "\n".
RAW_SASL = [
    (b"PLAIN", [b"\0alice\0secret"]),
    (b"PLAIN", [b"admin\0alice\0secret"]),
    (b"LOGIN", [b"alice", b"secret"]),
    (b"CRAM-MD5", [b"alice 3f2c4e5a6b7c8d9e0f1a2b3c4d5e6f70"]),
    (b"DIGEST-MD5", [b'username="alice",realm="example.org",nonce="abc",cnonce="def",nc=00000001,qop=auth']),
    (b"SCRAM-SHA-256", [b"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL", b"c=biws,r=x,p=y"]),
    (b"SCRAM-SHA-1", [b"n,a=admin,n=al=2Cice,r=abc"]),
    (b"XOAUTH2", [b"user=alice@example.org\x01auth=Bearer ya29.token\x01\x01"]),
    (b"OAUTHBEARER", [b"n,a=alice@example.org,\x01host=mx\x01auth=Bearer token\x01\x01"]),
    (b"NTLM", [b"NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2", ntlm_authenticate("alice")]),
    (b"EXTERNAL", [b"alice"]),
    (b"GSSAPI", [b"\x60\x82\x01\x00"]),
]


def capture_seeds(writer, path):
    data = read_file(path)
    name = os.path.basename(path)
    frames = []
    for ts, link, pkt in packets(data):
        frame = to_ethernet(link, pkt)
        if frame is not None:
            frames.append((ts, frame))

    # pcap: the capture itself when small, else its first blocks (a cut capture is a case too).
    raw = open(path, "rb").read()
    if len(raw) <= MAX_SEED:
        writer.seed("pcap", raw)
    else:
        prefix = data[:PCAP_PREFIX]
        writer.seed("pcap", gzip.compress(prefix, mtime=0) if raw[:2] == b"\x1f\x8b" else prefix)

    # engine: the start of the whole capture, under both policies.
    head = frames[:MAX_CAPTURE_FRAMES]
    writer.seed("engine", frame_records(head, 0b1100))
    writer.seed("engine", frame_records(head, 0b1111))

    segments = [tcp[7] for tcp in map(decode, (f for _, f in frames)) if tcp and tcp[6]][:4]
    if segments:
        writer.seed("fragments", fragment_seed(segments))

    decoded, engine_flows = 0, 0
    ts_of = {id(f): ts for ts, f in frames}
    for flow in flows_of(frames):
        if engine_flows < MAX_ENGINE_FLOWS and (flow.segs[0] or flow.segs[1]):
            flow_frames = [(ts_of.get(id(f), 0), f) for f in flow.frames[:MAX_FLOW_FRAMES]]
            writer.seed("engine", frame_records(flow_frames, 0b1101))
            engine_flows += 1
        for frame in flow.frames[:3]:
            if decoded < MAX_DECODE_FRAMES:
                writer.seed("decode", frame)
                decoded += 1

        client, _ = flow.stream(0)
        server, _ = flow.stream(1)
        for direction, stream in ((0, client), (1, server)):
            if stream:
                writer.seed("line", bytes([0xFF, 7]) + stream[:2048])
                writer.seed("line", bytes([0x10, 200]) + stream[:2048])
            segs = sorted(flow.segs[direction], key=lambda s: s[2])[:MAX_FLOW_FRAMES]
            if segs and direction in flow.base:
                out = bytearray(struct.pack(">HI", 4096, flow.base[direction]))
                for off, payload, _ in segs:
                    for i in range(0, min(len(payload), 1024), 255):
                        chunk = payload[i : i + 255]
                        out += struct.pack(">IB", off + i, len(chunk)) + chunk
                writer.seed("reassembly", out)

        hello = client.find(b"\x16\x03")
        if hello >= 0 and client[hello + 5 : hello + 6] == b"\x01":
            writer.seed("client_hello", b"\x80" + client[hello : hello + 4096])
        if client[:1] in (b"\x04", b"\x05"):
            part = client[:512]
            writer.seed("socks", struct.pack(">H", len(part)) + part + server[:512])

        lines = transcript(flow)
        if lines:
            writer.seed("detect", b"\n".join(line for _, line in lines[:6]))
        kind = kind_of(flow, lines)
        if kind:
            header = b"new" if flow.syn else b"mid"
            writer.seed(kind, header + b"\n" + b"\n".join(side + line for side, line in lines) + b"\n")
            for mech, responses in sasl_seeds(lines):
                writer.seed("sasl", mech + b"\n" + b"\n".join(responses))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="seed corpus directory (one folder per target)")
    parser.add_argument("--toml", action="append", default=[], help="a policy file seeding the config target")
    parser.add_argument("captures", nargs="*")
    args = parser.parse_args()
    writer = Writer(args.out)
    for path in args.captures:
        try:
            capture_seeds(writer, path)
        except (ValueError, OSError, EOFError, struct.error) as e:
            print(f"seeds.py: {path}: skipped: {e}", file=sys.stderr)
    for mech, responses in RAW_SASL:
        writer.seed("sasl", b"+" + mech + b"\n" + b"\n".join(responses))
    for path in args.toml:
        with open(path, "rb") as f:
            writer.seed("config", f.read())
    summary = ", ".join(f"{t} {n}" for t, n in sorted(writer.counts.items()))
    print(f"seeds.py: {summary}")


if __name__ == "__main__":
    main()
