#!/usr/bin/env python3
"""bench/flowgen.py — write a pcap of 64-byte TCP packets of N flows to the VIP (scripts/bench.sh).

usage: bench/flowgen.py --flows N --out FILE [--data-per-flow K] [--vip A] [--port P]
                        [--dst-mac M] [--src-mac M]

The file holds, in this order: one SYN per flow, then K rounds of one ACK per flow (no payload).
Replayed in a loop by net_pcap's infinite_rx=1, the first pass opens every connection
(SYN: NONE -> SYN_RECV) and establishes it (client ACK: SYN_RECV -> ESTABLISHED). Later passes
replay the SYNs onto ESTABLISHED connections; LVS's client-side table keeps ESTABLISHED on a
SYN (ip_vs_proto_tcp.c "INPUT" row syn, column sES), and conn_reuse only reschedules from
TIME_WAIT/CLOSE, so every packet of the steady state is a table hit on an established
connection. The SYN share is 1/(K+1) of the packets.

K = 0 writes SYNs only, for scripts/bench-kernel.sh's cost window: a conntrack router (the
kernel's) sees no SYN-ACK from servers that drop what they get, keeps each connection in
SYN_SENT and finds its client's ACK invalid (it rejects it with a reset instead of forwarding
it), while a repeated SYN is a valid retransmission that it forwards from the entry. With SYNs
only, both directors forward every packet through a table hit.

Clients: 198.18.0.1-250 except the VIP's and director's addresses, source ports from 1024 up,
so N flows use ceil(N / 248) ports per address (N <= 248 x 64512). Only 198.18.0.0/15 is used.
Every frame is 60 bytes (64 on a wire with the FCS): Ethernet, IPv4 (DF, TTL 64, checksum
correct), TCP (checksum correct), 6 bytes of padding. Python's standard library only.
"""

import argparse
import ipaddress
import struct
import sys

FRAME_LEN = 60  # 64 with the FCS
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # LINKTYPE_ETHERNET


def client_addresses(vip: int, director: int) -> list[int]:
    base = int(ipaddress.IPv4Address("198.18.0.0"))
    return [base + i for i in range(1, 251) if base + i not in (vip, director)]


def fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def words(b: bytes) -> int:
    return sum(struct.unpack(f"!{len(b) // 2}H", b))


def mac_bytes(text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != 6:
        raise ValueError(f"bad MAC {text!r}")
    return bytes(int(p, 16) for p in parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data-per-flow", type=int, default=1)
    ap.add_argument("--vip", default="198.18.0.100")
    ap.add_argument("--director", default="198.18.0.254")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--dst-mac", default="02:00:c6:12:00:fe")
    ap.add_argument("--src-mac", default="02:00:c6:12:00:01")
    a = ap.parse_args()

    vip = int(ipaddress.IPv4Address(a.vip))
    if not ipaddress.IPv4Address(a.vip) in ipaddress.IPv4Network("198.18.0.0/15"):
        ap.error("the VIP must be in 198.18.0.0/15")
    clients = client_addresses(vip, int(ipaddress.IPv4Address(a.director)))
    if not 1 <= a.flows <= len(clients) * 64512:
        ap.error(f"--flows must be 1..{len(clients) * 64512}")
    if not 0 <= a.data_per_flow <= 16:
        ap.error("--data-per-flow must be 0..16")

    eth = mac_bytes(a.dst_mac) + mac_bytes(a.src_mac) + b"\x08\x00"
    pad = bytes(FRAME_LEN - 54)
    rec_header = struct.pack("<IIII", 0, 0, FRAME_LEN, FRAME_LEN)
    # IPv4: version/IHL, TOS, total length 40, id 0, DF, TTL 64, TCP; checksum and source vary.
    ip_fixed = 0x4500 + 40 + 0x4000 + ((64 << 8) | 6) + (vip >> 16) + (vip & 0xFFFF)
    # TCP pseudo header (source varies) + fixed header words: dport, data offset 5, window.
    tcp_fixed = (vip >> 16) + (vip & 0xFFFF) + 6 + 20 + a.port + 0x5000 + 65535

    def frame(src: int, sport: int, seq: int, ack: int, flags: int) -> bytes:
        src_words = (src >> 16) + (src & 0xFFFF)
        ip_sum = 0xFFFF - fold(ip_fixed + src_words)
        ip = struct.pack("!BBHHHBBHII", 0x45, 0, 40, 0, 0x4000, 64, 6, ip_sum, src, vip)
        t = (tcp_fixed + src_words + sport + (seq >> 16) + (seq & 0xFFFF) + (ack >> 16) +
             (ack & 0xFFFF) + flags)
        tcp_sum = 0xFFFF - fold(t)
        tcp = struct.pack("!HHIIBBHHH", sport, a.port, seq, ack, 0x50, flags, 65535, tcp_sum, 0)
        return rec_header + eth + ip + tcp + pad

    n_clients = len(clients)
    flows = [(clients[i % n_clients], 1024 + i // n_clients) for i in range(a.flows)]
    with open(a.out, "wb") as out:
        out.write(PCAP_HEADER)
        chunk = []
        for src, sport in flows:
            chunk.append(frame(src, sport, 1000, 0, 0x02))  # SYN
        out.write(b"".join(chunk))
        for _ in range(a.data_per_flow):
            chunk = [frame(src, sport, 1001, 1, 0x10) for src, sport in flows]  # ACK
            out.write(b"".join(chunk))
    total = a.flows * (1 + a.data_per_flow)
    print(f"flowgen: {a.out}: {a.flows} flows, {total} packets of {FRAME_LEN + 4} B "
          f"({a.flows} SYN + {a.data_per_flow} x {a.flows} ACK), clients "
          f"{ipaddress.IPv4Address(clients[0])}-{ipaddress.IPv4Address(clients[-1])} "
          f"-> {a.vip}:{a.port}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
