#!/usr/bin/env python3
"""Reads IPVS sync messages (protocol version 1), written from Linux's own definitions and not
from vsnat's C++, so that the two can check each other (check_sync_vectors.py).

The layouts are the kernel's (net/netfilter/ipvs/ip_vs_sync.c), all big-endian:

  struct ip_vs_sync_mesg      reserved u8, syncid u8, size u16, nr_conns u8, version s8,
                              spare u16
  struct ip_vs_sync_v4        type u8, protocol u8, ver_size u16, flags u32, state u16,
                              cport u16, vport u16, dport u16, fwmark u32, timeout u32,
                              caddr, vaddr, daddr (4 bytes each)
  struct ip_vs_sync_v6        the same, type & STYPE_F_INET6, 16-byte addresses
  options                     type u8, length u8, data; IPVS_OPT_SEQ_DATA (1) is
                              struct ip_vs_sync_conn_options: two struct ip_vs_seq
                              {init_seq, delta, previous_delta}

and the decisions are those of ip_vs_process_message and ip_vs_proc_sync_conn: a fault in the
message drops it from there on (the records before it stay read), a record the kernel cannot
use alone is dropped and counted (a protocol other than TCP or UDP, a state out of the
protocol's range, an unknown option without IPVS_OPT_F_PARAM). IPv6 records' addresses are
printed in RFC 5952's form, IPv4 ones dotted. The names of the faults are
the ones vsnat's decoder reports (src/dp/sync_wire.hpp), so that both can be compared.

  sync_decode.py [--syncid N] DATAGRAM...

prints, for each file, one JSON line per record read, then one line with the file's outcome.
"""

import argparse
import ipaddress
import json
import struct
import sys

MESG = struct.Struct("!BBHBbH")  # struct ip_vs_sync_mesg
MESG_V0_SIZE = 4  # struct ip_vs_sync_mesg_v0: nr_conns, syncid, size
SYNC_PROTO_VER = 1

# struct ip_vs_sync_v4 / _v6 up to the addresses, which follow.
CONN = struct.Struct("!BBHIHHHHII")
SYNC_V4_SIZE = CONN.size + 3 * 4
SYNC_V6_SIZE = CONN.size + 3 * 16
STYPE_F_INET6 = 1 << 0
SVER_SHIFT = 12
SVER_MASK = 0x0FFF

IPVS_OPT_SEQ_DATA = 1
IPVS_OPT_PE_DATA = 2
IPVS_OPT_PE_NAME = 3
IPVS_OPT_F_PARAM = 1 << (7 - 1)
CONN_OPTIONS = struct.Struct("!6I")  # struct ip_vs_sync_conn_options
IP_VS_PEDATA_MAXLEN = 255
IP_VS_PENAME_MAXLEN = 16

IP_VS_CONN_F_TEMPLATE = 0x1000
NUM_STATES = {6: 11, 17: 1}  # IP_VS_TCP_S_LAST, IP_VS_UDP_S_LAST

ERRORS = ["none", "too_short", "bad_size", "foreign_syncid", "version0", "bad_version",
          "truncated", "bad_record", "bad_record_version", "bad_option"]


class Dropped(Exception):
    """The rest of the message is dropped, for the reason given."""


def address(raw):
    """An address as text: dotted for 4 bytes, RFC 5952 for 16."""
    return str(ipaddress.ip_address(bytes(raw)))


def read_conn(buf, start, end, result):
    """One sync_conn in buf[start:end], as ip_vs_proc_sync_conn."""
    (stype, protocol, _ver_size, flags, state, cport, vport, dport, fwmark,
     timeout) = CONN.unpack_from(buf, start)
    if stype & STYPE_F_INET6:
        p = start + SYNC_V6_SIZE
    elif stype == 0:
        p = start + SYNC_V4_SIZE
    else:
        raise Dropped("bad_record")
    if p > end:
        raise Dropped("bad_record")

    seq = None
    seen = set()
    while p < end:
        if p + 2 > end:
            raise Dropped("bad_option")
        ptype, plen = buf[p], buf[p + 1]
        p += 2
        if plen == 0 or p + plen > end:
            raise Dropped("bad_option")
        kind = ptype & ~IPVS_OPT_F_PARAM
        if kind == IPVS_OPT_SEQ_DATA:
            if plen != CONN_OPTIONS.size or kind in seen:
                raise Dropped("bad_option")
            seq = CONN_OPTIONS.unpack_from(buf, p)
        elif kind in (IPVS_OPT_PE_DATA, IPVS_OPT_PE_NAME):
            limit = IP_VS_PEDATA_MAXLEN if kind == IPVS_OPT_PE_DATA else IP_VS_PENAME_MAXLEN
            if plen > limit or kind in seen:
                raise Dropped("bad_option")
        elif not ptype & IPVS_OPT_F_PARAM:
            result["skipped"]["option"] += 1  # an unknown mandatory parameter
            return
        seen.add(kind)
        p += plen

    if protocol not in NUM_STATES:
        result["skipped"]["protocol"] += 1
        return
    if not flags & IP_VS_CONN_F_TEMPLATE and state >= NUM_STATES[protocol]:
        result["skipped"]["state"] += 1
        return
    addrs = start + CONN.size
    width = 16 if stype & STYPE_F_INET6 else 4
    result["records"].append({
        "protocol": protocol, "flags": flags, "state": state,
        "client": address(buf[addrs:addrs + width]), "client_port": cport,
        "vip": address(buf[addrs + width:addrs + 2 * width]), "vport": vport,
        "real": address(buf[addrs + 2 * width:addrs + 3 * width]), "real_port": dport,
        "fwmark": fwmark, "timeout": timeout,
        "in_seq": list(seq[:3]) if seq else None,
        "out_seq": list(seq[3:]) if seq else None,
    })


def read_message(buf, want_syncid, result):
    """ip_vs_process_message."""
    buflen = len(buf)
    if buflen < MESG_V0_SIZE:
        raise Dropped("too_short")
    syncid, size = buf[1], int.from_bytes(buf[2:4], "big")
    if size != buflen:
        raise Dropped("bad_size")
    result["syncid"] = syncid
    if want_syncid != 0 and syncid != want_syncid:
        raise Dropped("foreign_syncid")
    if buf[0] != 0:
        raise Dropped("version0")  # the kernel would read it as version 0
    if buflen < MESG.size:
        raise Dropped("too_short")
    _reserved, _syncid, _size, nr_conns, version, spare = MESG.unpack_from(buf)
    if version != SYNC_PROTO_VER or spare != 0:
        raise Dropped("bad_version")

    msg_end = MESG.size
    for _ in range(nr_conns):
        p = msg_end
        if p + SYNC_V4_SIZE > buflen:
            raise Dropped("truncated")
        ver_size = int.from_bytes(buf[p + 2:p + 4], "big")
        size = ver_size & SVER_MASK
        msg_end = p + size
        if msg_end > buflen:
            raise Dropped("bad_record")
        if ver_size >> SVER_SHIFT:
            raise Dropped("bad_record_version")
        read_conn(buf, p, msg_end, result)
        msg_end = p + ((size + 3) & ~3)


def decode(buf, want_syncid=0):
    """What a datagram holds: {"syncid", "error", "records", "skipped"}."""
    result = {"syncid": 0, "error": "none", "records": [],
              "skipped": {"protocol": 0, "state": 0, "option": 0}}
    try:
        read_message(bytes(buf), want_syncid, result)
    except Dropped as e:
        result["error"] = str(e)
    return result


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--syncid", type=int, default=0,
                        help="the backup's sync group (0: any, as the kernel's default)")
    parser.add_argument("datagrams", nargs="+", help="files of one sync message each")
    args = parser.parse_args(argv)
    for path in args.datagrams:
        with open(path, "rb") as f:
            result = decode(f.read(), args.syncid)
        for i, record in enumerate(result["records"]):
            print(json.dumps({"file": path, "record": i, **record}))
        print(json.dumps({"file": path, "syncid": result["syncid"], "error": result["error"],
                          "records": len(result["records"]), "skipped": result["skipped"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
