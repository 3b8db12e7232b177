"""pktgen-scenarios/trex/vsnat_common.py: shared pieces of the vsnat TRex STL profiles.

Written for TRex v3.x stateless (STL) Python API; not run on the vsnat build machine (TRex is
not a Debian package; see ../README.md). Addresses are in 198.18.0.0/15 only.
"""
from trex_stl_lib.api import (Ether, IP, STLPktBuilder, STLScVmRaw, STLVmFixIpv4,
                              STLVmFlowVar, STLVmTupleGen, STLVmWrFlowVar)

VIP = "198.18.0.100"
# vsnatd's outside MAC: "interface outside on port 0 (...), MAC ..." in its log.
DST_MAC = "02:00:c6:12:00:fe"
CLIENT_MIN, CLIENT_MAX = "198.18.0.1", "198.18.0.250"


def ether():
    return Ether(dst=DST_MAC)


def client_tuple_vm(flows, l4):
    """Every (client address, source port) pair in turn: 250 addresses x ceil(flows/250) ports.

    STLVmTupleGen walks addresses first, then ports, so each pair appears once per cycle of
    250 x ports packets: exactly `flows` (rounded up to a multiple of 250) distinct flows.
    """
    ports = max(1, -(-flows // 250))
    return STLScVmRaw([
        STLVmTupleGen(ip_min=CLIENT_MIN, ip_max=CLIENT_MAX, port_min=1024,
                      port_max=1024 + ports - 1, name="tuple"),
        STLVmWrFlowVar(fv_name="tuple.ip", pkt_offset="IP.src"),
        STLVmWrFlowVar(fv_name="tuple.port", pkt_offset=l4 + ".sport"),
        STLVmFixIpv4(offset="IP"),
    ])


def padded(pkt, size):
    """Pad the frame to `size` bytes without FCS (64 B on the wire -> 60)."""
    missing = max(0, size - 4 - len(pkt))
    return pkt / ("x" * missing)


def ip():
    return IP(dst=VIP)
