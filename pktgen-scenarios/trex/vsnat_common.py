"""pktgen-scenarios/trex/vsnat_common.py: shared pieces of the vsnat TRex STL profiles.

Written for TRex v3.x stateless (STL) Python API; not run on the vsnat build machine (TRex is
not a Debian package; see ../README.md). Addresses are in 198.18.0.0/15 only.
"""
from trex_stl_lib.api import (Ether, IP, STLPktBuilder, STLScVmRaw, STLVmFixIpv4,
                              STLVmFlowVar, STLVmTupleGen, STLVmWrFlowVar)

VIP = "198.18.0.100"
# vsnatd's outside MAC: "interface outside on port 0 (...), MAC ..." in its log.
DST_MAC = "02:00:c6:12:00:fe"
# Clients: 198.18.0.101 .. 198.18.0.250, on the outside link above the VIP (.100) and below the
# director (.254): vsnatd drops packets from its own addresses (drop reason bad_source).
CLIENT_MIN, CLIENT_MAX, CLIENTS = "198.18.0.101", "198.18.0.250", 150
PORT_MIN = 1024
MAX_FLOWS = CLIENTS * (65536 - PORT_MIN)  # every client with every source port 1024-65535


def ether():
    return Ether(dst=DST_MAC)


def client_ports(flows):
    """Source ports per client address for `flows` flows: ceil(flows / CLIENTS), at least 1."""
    ports = max(1, -(-int(flows) // CLIENTS))
    if CLIENTS * ports > MAX_FLOWS:
        raise ValueError("flows=%s: at most %d (%d clients x source ports %d-65535)"
                         % (flows, MAX_FLOWS, CLIENTS, PORT_MIN))
    return ports


def flow_count(flows):
    """The number of distinct flows client_tuple_vm(flows, ...) walks: flows rounded up to a
    multiple of CLIENTS."""
    return CLIENTS * client_ports(flows)


def client_tuple_vm(flows, l4):
    """Every (client address, source port) pair in turn: CLIENTS addresses x client_ports(flows).

    STLVmTupleGen walks addresses first, then ports, and starts again from the first pair after
    limit_flows pairs (TRex's default: 100,000): set to the whole cycle, each pair appears once
    per cycle of flow_count(flows) packets, so there are exactly that many distinct flows.
    """
    ports = client_ports(flows)
    return STLScVmRaw([
        STLVmTupleGen(ip_min=CLIENT_MIN, ip_max=CLIENT_MAX, port_min=PORT_MIN,
                      port_max=PORT_MIN + ports - 1, limit_flows=CLIENTS * ports, name="tuple"),
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
