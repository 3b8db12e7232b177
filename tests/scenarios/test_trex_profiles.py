#!/usr/bin/env python3
"""Loads the TRex STL profiles in pktgen-scenarios/trex/ as TRex v3.x does and checks their packets.

TRex is not installed here, so the names the profiles import from `trex_stl_lib.api` (and its
newer spelling `trex.stl.api`) come from a stand-in below that keeps the signatures, defaults and
argument checks of TRex's classes and records what a profile builds; the packet layers (Ether,
IP, TCP, UDP) are the real scapy (Debian's python3-scapy), as in TRex. Each profile is loaded
the way `start -f PROFILE [-p PORT] -t flows=N` loads it: `register().get_streams(direction=,
port_id=, tunables=[...], flows=N)`. The test then checks the template packets byte by byte,
resolves the field engine's writes to packet offsets, runs the field engine over the template
(TRex's tuple generator, including its flow limit) and parses the results with scapy, and works
out the stream rates TRex gives for a multiplier (`-m 100%`, `-m 3mpps`) from its rule: every
stream is scaled by one factor, chosen so that the busiest moment of the profile's timeline
meets the request.

  /usr/bin/python3 tests/scenarios/test_trex_profiles.py [-v]     (meson test --suite unit)
"""

import importlib
import ipaddress
import itertools
import math
import sys
import types
import unittest
from pathlib import Path

sys.dont_write_bytecode = True  # as TRex's loader: no __pycache__ in pktgen-scenarios/trex

try:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import NoPayload, Packet
    from scapy.fields import IPField
except ImportError as e:  # a missing dependency is a failure, not a skip
    sys.exit(f"test_trex_profiles: scapy is missing ({e}): apt-get install python3-scapy "
             "(scripts/install-deps.sh), and run this with Debian's /usr/bin/python3")

PROFILE_DIR = Path(__file__).resolve().parents[2] / "pktgen-scenarios" / "trex"
PROFILES = ["established_tcp", "syn_flood", "udp_dns", "imix"]

VIP = ipaddress.ip_address("198.18.0.100")
BENCH_NET = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range
# Addresses that are not clients: the director's (outside, inside) and the real servers'. vsnatd
# drops a packet from the VIP or a director address (drop reason bad_source).
NOT_CLIENTS = {VIP} | {ipaddress.ip_address(a) for a in
                       ("198.18.0.254", "198.19.0.1", "198.19.0.2", "198.19.0.3")}

ETH_LEN, IP_SRC_AT, L4_SPORT_AT = 14, 12, 0  # Ether header; IPv4 src; TCP/UDP source port
LINE_10G = 10e9


# --------------------------------------------------------------------------------------------
# Stand-in for TRex's STL API: same names, keyword arguments and defaults as TRex v3.x (the
# defaults matter: a profile that leaves one out gets TRex's), the checks TRex makes when the
# object is built, and plain attributes to read back.

class STLError(Exception):
    pass


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _ipv4_int(v):
    """TRex takes an address as 'a.b.c.d' or as a number."""
    return int(ipaddress.IPv4Address(v)) if isinstance(v, str) else int(v)


class STLTXMode:
    def __init__(self, pps=None, bps_L1=None, bps_L2=None, percentage=None):
        given = {k: v for k, v in (("pps", pps), ("bps_L1", bps_L1), ("bps_L2", bps_L2),
                                   ("percentage", percentage)) if v is not None}
        if not given:
            given = {"pps": 1.0}  # TRex's default rate: 1 packet per second
        if len(given) != 1:
            raise STLError(f"rate: give one of pps, bps_L1, bps_L2, percentage, not {given}")
        (self.rate_type, self.rate), = given.items()
        if not _is_number(self.rate):
            raise STLError(f"{self.rate_type} must be a number, not {self.rate!r}")
        if self.rate_type == "percentage" and not 0 < self.rate <= 100:
            raise STLError(f"percentage {self.rate} not in (0, 100]")


class STLTXCont(STLTXMode):
    kind = "continuous"


class STLTXSingleBurst(STLTXMode):
    kind = "single_burst"

    def __init__(self, total_pkts=1, **kwargs):
        if not isinstance(total_pkts, int):
            raise STLError(f"total_pkts must be an int, not {total_pkts!r}")
        super().__init__(**kwargs)
        self.total_pkts = total_pkts


class STLTXMultiBurst(STLTXMode):
    kind = "multi_burst"

    def __init__(self, pkts_per_burst=1, ibg=0.0, count=1, **kwargs):
        if not isinstance(pkts_per_burst, int) or not isinstance(count, int):
            raise STLError("pkts_per_burst and count must be ints")
        super().__init__(**kwargs)
        self.pkts_per_burst, self.ibg, self.count = pkts_per_burst, ibg, count


class STLVmFlowVar:
    def __init__(self, name, init_value=None, min_value=0, max_value=255, size=4, step=1,
                 op="inc", value_list=None, split_to_cores=True, next_var=None):
        if size not in (1, 2, 4, 8):
            raise STLError(f"flow var {name}: size {size} not in 1, 2, 4, 8")
        if op not in ("inc", "dec", "random"):
            raise STLError(f"flow var {name}: op {op!r}")
        self.name, self.size, self.op, self.step = name, size, op, step
        self.min_value, self.max_value = _ipv4_int(min_value), _ipv4_int(max_value)
        self.init_value = self.min_value if init_value is None else _ipv4_int(init_value)
        if self.min_value > self.max_value:
            raise STLError(f"flow var {name}: min above max")

    def variables(self):
        return {self.name: self.size}


class STLVmTupleGen:
    def __init__(self, name, ip_min="0.0.0.1", ip_max="0.0.0.10", port_min=1025,
                 port_max=65535, limit_flows=100000, flags=0):
        for what, v in (("port_min", port_min), ("port_max", port_max),
                        ("limit_flows", limit_flows), ("flags", flags)):
            if not isinstance(v, int):
                raise STLError(f"tuple gen {name}: {what} must be an int, not {v!r}")
        if not 0 <= port_min <= port_max <= 65535:  # TRex's server reads them as uint16
            raise STLError(f"tuple gen {name}: ports {port_min}-{port_max} not in 0-65535")
        self.name, self.flags = name, flags
        self.ip_min, self.ip_max = _ipv4_int(ip_min), _ipv4_int(ip_max)
        if self.ip_min > self.ip_max:
            raise STLError(f"tuple gen {name}: ip_min above ip_max")
        self.port_min, self.port_max, self.limit_flows = port_min, port_max, limit_flows

    def variables(self):
        return {self.name + ".ip": 4, self.name + ".port": 2}

    def flows(self):
        """The (ip, port) pairs of one cycle, in the order TRex's dataplane walks them: the
        address moves first, the port when the address wraps; with limit_flows (0 = none) the
        generator goes back to the first pair after that many packets."""
        n_ip = self.ip_max - self.ip_min + 1
        n_port = self.port_max - self.port_min + 1
        cycle = n_ip * n_port if self.limit_flows == 0 else min(self.limit_flows, n_ip * n_port)
        for k in range(cycle):
            yield self.ip_min + k % n_ip, self.port_min + (k // n_ip) % n_port

    def cycle_length(self):
        n = (self.ip_max - self.ip_min + 1) * (self.port_max - self.port_min + 1)
        return n if self.limit_flows == 0 else min(self.limit_flows, n)


class STLVmWrFlowVar:
    def __init__(self, fv_name, pkt_offset, offset_fixup=0, add_val=0, is_big=True):
        if not isinstance(fv_name, str) or not isinstance(offset_fixup, int) \
                or not isinstance(add_val, int) or not isinstance(is_big, bool):
            raise STLError("STLVmWrFlowVar: bad argument types")
        self.fv_name, self.pkt_offset = fv_name, pkt_offset
        self.offset_fixup, self.add_val, self.is_big = offset_fixup, add_val, is_big


class STLVmFixIpv4:
    def __init__(self, offset):
        self.offset = offset


class CTRexVmInsFixHwCs:
    L4_TYPE_UDP, L4_TYPE_TCP, L4_TYPE_IP = 11, 13, 17


class STLVmFixChecksumHw:
    def __init__(self, l3_offset, l4_offset, l4_type):
        self.l3_offset, self.l4_offset, self.l4_type = l3_offset, l4_offset, l4_type


class STLScVmRaw:
    def __init__(self, list_of_commands=None, cache_size=None):
        self.commands = list(list_of_commands or [])
        self.cache_size = cache_size


class STLPktBuilder:
    def __init__(self, pkt=None, pkt_buffer=None, vm=None, path_relative_to_profile=False,
                 build_raw=False, remove_fcs=True):
        if pkt is None or pkt_buffer is not None:
            raise STLError("the stand-in takes a scapy packet (pkt=) only")
        if not isinstance(pkt, Packet):
            raise STLError(f"pkt must be a scapy packet, not {type(pkt).__name__}")
        self.pkt = pkt
        self.vm = vm if isinstance(vm, STLScVmRaw) else STLScVmRaw(vm)
        self.template = bytes(pkt)
        self._compile()

    def _compile(self):
        """Resolves names to offsets ('IP.src', 'TCP', 'IP:1.dst') and checks every write names a
        variable defined before it and lands inside the packet, as TRex does when it builds."""
        variables, self.writes, self.fixes = {}, [], []
        for cmd in self.vm.commands:
            if isinstance(cmd, (STLVmFlowVar, STLVmTupleGen)):
                variables.update(cmd.variables())
            elif isinstance(cmd, STLVmWrFlowVar):
                if cmd.fv_name not in variables:
                    raise STLError(f"write of unknown variable {cmd.fv_name!r}")
                at = cmd.pkt_offset
                if isinstance(at, str):
                    at = field_span(self.pkt, at)[0]
                at += cmd.offset_fixup
                size = variables[cmd.fv_name]
                if not 0 <= at <= len(self.template) - size:
                    raise STLError(f"write of {cmd.fv_name} at {at} outside the packet")
                self.writes.append((cmd, at, size))
            elif isinstance(cmd, STLVmFixIpv4):
                at = cmd.offset
                self.fixes.append(layer_offset(self.pkt, at) if isinstance(at, str) else at)
            else:
                raise STLError(f"the stand-in does not model {type(cmd).__name__}")
        self.variables = variables

    def generators(self):
        return [c for c in self.vm.commands if isinstance(c, STLVmTupleGen)]


class STLStream:
    def __init__(self, name=None, packet=None, mode=None, enabled=True, self_start=True,
                 isg=0.0, flow_stats=None, next=None, stream_id=None, action_count=0,
                 random_seed=0, mac_src_override_by_pkt=None, mac_dst_override_mode=None,
                 dummy_stream=False, start_paused=False, core_id=-1):
        if not isinstance(packet, STLPktBuilder):
            raise STLError("packet must be an STLPktBuilder")
        mode = STLTXCont(pps=1) if mode is None else mode  # TRex's default mode
        if not isinstance(mode, STLTXMode):
            raise STLError("mode must be STLTXCont, STLTXSingleBurst or STLTXMultiBurst")
        if not _is_number(isg):
            raise STLError("isg must be a number (microseconds)")
        self.name, self.packet, self.mode, self.enabled = name, packet, mode, enabled
        self.self_start, self.isg, self.next = self_start, isg, next


class STLProfile:
    def __init__(self, streams=None):
        streams = [] if streams is None else streams
        streams = streams if isinstance(streams, list) else [streams]
        if not all(isinstance(s, STLStream) for s in streams):
            raise STLError("a profile is a list of STLStream")
        self.streams = streams

    def get_streams(self):
        return self.streams


def install_stand_in():
    api = types.ModuleType("trex_stl_lib.api")
    for name, obj in list(globals().items()):
        if name.startswith(("STL", "CTRex")):
            setattr(api, name, obj)
    for cls in (Ether, IP, TCP, UDP):  # TRex's api module passes these on from scapy
        setattr(api, cls.__name__, cls)
    for name in ("trex_stl_lib", "trex", "trex.stl"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["trex_stl_lib.api"] = sys.modules["trex.stl.api"] = api
    sys.modules["trex_stl_lib"].api = sys.modules["trex.stl"].api = api


# --------------------------------------------------------------------------------------------
# Packets: where things are, and the field engine run over a template

def layers(pkt):
    while not isinstance(pkt, NoPayload):
        yield pkt
        pkt = pkt.payload


def find_layer(pkt, spec):
    """'IP' or 'IP:1' (the second IP header), matched by layer name or class, as TRex does."""
    name, _, nth = spec.partition(":")
    found = [p for p in layers(pkt) if name in (p.name, type(p).__name__)]
    if len(found) <= int(nth or 0):
        raise STLError(f"no layer {spec}")
    return found[int(nth or 0)]


def layer_offset(pkt, spec):
    return len(pkt) - len(find_layer(pkt, spec))


def field_span(pkt, spec):
    """(offset, size) of 'LAYER[:n].field' in the built packet: the packet is parsed back from
    its bytes (every field explicit, so nothing is recomputed), built once with the field all
    zeros and once all ones, and the bytes compared."""
    layer_spec, _, field = spec.rpartition(".")
    parsed = type(pkt)(bytes(pkt))
    nth = list(layers(parsed)).index(find_layer(parsed, layer_spec))
    builds = []
    for fill in (0x00, 0xFF):
        copy = parsed.copy()
        target = list(layers(copy))[nth]
        fld = target.get_field(field)
        if isinstance(fld, IPField):
            setattr(target, field, "0.0.0.0" if fill == 0 else "255.255.255.255")
        else:
            setattr(target, field, 0 if fill == 0 else (1 << 8 * fld.sz) - 1)
        builds.append(bytes(copy))
    changed = [i for i, (a, b) in enumerate(zip(*builds)) if a != b]
    if not changed or changed != list(range(changed[0], changed[-1] + 1)):
        raise STLError(f"cannot place field {spec}")
    return changed[0], len(changed)


def ipv4_checksum_ok(header):
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, len(header), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def fix_ipv4(frame, at):
    ihl = (frame[at] & 0x0F) * 4
    frame[at + 10:at + 12] = b"\0\0"
    total = sum(int.from_bytes(frame[i:i + 2], "big") for i in range(at, at + ihl, 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    frame[at + 10:at + 12] = (~total & 0xFFFF).to_bytes(2, "big")


def run_field_engine(builder, count):
    """The first `count` frames the stream sends: each tuple generator steps once per packet,
    then the writes and checksum fixes in program order."""
    (gen,) = builder.generators()
    values = itertools.cycle(list(gen.flows()))
    for _ in range(count):
        ip, port = next(values)
        var = {gen.name + ".ip": ip, gen.name + ".port": port}
        frame = bytearray(builder.template)
        for cmd, at, size in builder.writes:
            value = (var[cmd.fv_name] + cmd.add_val) % (1 << 8 * size)
            frame[at:at + size] = value.to_bytes(size, "big" if cmd.is_big else "little")
        for at in builder.fixes:
            fix_ipv4(frame, at)
        yield bytes(frame)


# --------------------------------------------------------------------------------------------
# Rates: what TRex sends for a multiplier

def frame_size(stream):
    return len(stream.packet.template) + 4  # on the wire, with the FCS TRex leaves out


def base_pps(stream, line_bps):
    t, v = stream.mode.rate_type, stream.mode.rate
    wire_bits = (frame_size(stream) + 20) * 8  # + preamble and inter-frame gap
    return {"pps": v, "bps_L1": v / wire_bits, "bps_L2": v / (frame_size(stream) * 8),
            "percentage": line_bps * v / 100 / wire_bits}[t]


def peak(streams, line_bps, metric):
    """The profile's busiest moment at multiplier 1, in `metric` (pps or L1 bit/s) summed over
    the streams sending then: self-starting streams start after their isg; a burst's `next`
    stream starts when the burst ends, after its own isg."""
    by_name = {s.name: s for s in streams if s.name}
    events = []
    for root in (s for s in streams if s.self_start and s.enabled):
        t, s, seen = 0.0, root, set()
        while s is not None and id(s) not in seen:
            seen.add(id(s))
            t += s.isg / 1e6
            pps = base_pps(s, line_bps)
            rate = pps if metric == "pps" else pps * (frame_size(s) + 20) * 8
            end = t + s.mode.total_pkts / pps if s.mode.kind == "single_burst" else math.inf
            events += [(t, rate), (end, -rate)]
            if end == math.inf or s.next is None:
                break
            t, s = end, by_name[s.next]
    level, top = 0.0, 0.0
    for _, delta in sorted(events):  # at equal times the stops (negative) come first
        level += delta
        top = max(top, level)
    return top


def pps_at(streams, multiplier, line_bps=LINE_10G):
    """Per stream, the packets per second TRex sends for '-m 100%' (('percent', 100)) or
    '-m 3mpps' (('pps', 3e6)): one factor for all streams, so that the busiest moment is what
    was asked for."""
    kind, value = multiplier
    if kind == "percent":
        factor = value / 100 * line_bps / peak(streams, line_bps, "bps_L1")
    else:
        factor = value / peak(streams, line_bps, "pps")
    return [base_pps(s, line_bps) * factor for s in streams]


# --------------------------------------------------------------------------------------------

def load_profile(name, port_id=0, **tunables):
    """As TRex's console loads `start -f NAME.py -p PORT -t k=v,...`: a fresh import from the
    profile's directory, then register().get_streams() with the direction (port parity), the
    port, the tunables as keywords (typed as the console types them) and as an argparse list."""
    install_stand_in()
    sys.path.insert(0, str(PROFILE_DIR))
    try:
        for mod in (name, "vsnat_common"):
            sys.modules.pop(mod, None)
        module = importlib.import_module(name)
        argv = [a for k, v in tunables.items() for a in ("--" + k, str(v))]
        streams = module.register().get_streams(direction=port_id % 2, port_id=port_id,
                                                tunables=argv, **tunables)
        return STLProfile(streams).get_streams()
    finally:
        sys.path.remove(str(PROFILE_DIR))


def client_count():
    common = sys.modules["vsnat_common"]
    return _ipv4_int(common.CLIENT_MAX) - _ipv4_int(common.CLIENT_MIN) + 1


class ProfileChecks(unittest.TestCase):
    """Checks shared by every scenario: one template, one tuple generator, its writes."""

    def check_stream(self, stream, proto, dport, size, flags=None):
        pkt = Ether(stream.packet.template)
        self.assertEqual(frame_size(stream), size, "frame size on the wire (with FCS)")
        self.assertIn(IP, pkt)
        self.assertEqual(pkt[IP].dst, str(VIP))
        self.assertEqual(pkt[IP].proto, {"tcp": 6, "udp": 17}[proto])
        self.assertEqual(pkt[IP].len, size - 4 - ETH_LEN, "IP total length")
        self.assertTrue(ipv4_checksum_ok(bytes(pkt[IP])[:20]), "template IPv4 checksum")
        l4 = pkt[TCP] if proto == "tcp" else pkt[UDP]
        self.assertEqual(l4.dport, dport)
        if flags is not None:
            self.assertEqual(str(l4.flags), flags, "TCP flags")
        self.check_field_engine(stream.packet)

    def check_field_engine(self, builder):
        gens = builder.generators()
        self.assertEqual(len(gens), 1, "one tuple generator (client address, source port)")
        gen = gens[0]
        lo, hi = ipaddress.ip_address(gen.ip_min), ipaddress.ip_address(gen.ip_max)
        self.assertIn(lo, BENCH_NET)
        self.assertIn(hi, BENCH_NET)
        self.assertTrue(all(not lo <= a <= hi for a in NOT_CLIENTS),
                        f"client range {lo}-{hi} holds a VIP, director or real server address")
        self.assertGreaterEqual(gen.port_min, 1024)
        self.assertLessEqual(gen.port_max, 65535)
        l4_at = ETH_LEN + 20
        writes = {cmd.fv_name: (at, size) for cmd, at, size in builder.writes}
        self.assertEqual(writes, {gen.name + ".ip": (ETH_LEN + IP_SRC_AT, 4),
                                  gen.name + ".port": (l4_at + L4_SPORT_AT, 2)},
                         "client address to IP.src, client port to the L4 source port")
        self.assertEqual(builder.fixes, [ETH_LEN], "IPv4 header checksum fixed after writes")

    def check_frames(self, stream, proto, dport, flags=None, cycles=2):
        """Runs the field engine over two cycles of the generator: every frame a valid IPv4
        packet from a client in range to VIP:dport, each (client, port) once per cycle."""
        (gen,) = stream.packet.generators()
        seen = []
        for frame in run_field_engine(stream.packet, cycles * gen.cycle_length()):
            pkt = Ether(frame)
            self.assertEqual(len(frame), len(stream.packet.template))
            self.assertTrue(ipv4_checksum_ok(frame[ETH_LEN:ETH_LEN + 20]), "IPv4 checksum")
            self.assertEqual(pkt[IP].dst, str(VIP))
            l4 = pkt[TCP] if proto == "tcp" else pkt[UDP]
            self.assertEqual(l4.dport, dport)
            if flags is not None:
                self.assertEqual(str(l4.flags), flags)
            self.assertTrue(gen.ip_min <= _ipv4_int(pkt[IP].src) <= gen.ip_max)
            self.assertTrue(gen.port_min <= l4.sport <= gen.port_max)
            seen.append((pkt[IP].src, l4.sport))
        n = gen.cycle_length()
        self.assertEqual(len(set(seen)), n)
        self.assertEqual(seen[:n], seen[n:2 * n], "the same flows every cycle")

    def check_flow_count(self, streams, asked):
        """flows=N gives N flows (rounded up to a whole number of ports per client address)."""
        expected = client_count() * -(-asked // client_count())
        for s in streams:
            (gen,) = s.packet.generators()
            self.assertEqual(gen.cycle_length(), expected,
                             f"distinct flows per cycle for flows={asked}")


class EstablishedTcp(ProfileChecks):
    def test_default(self):
        streams = load_profile("established_tcp")
        self.assertEqual(len(streams), 2)
        syn, ack = streams
        self.check_stream(syn, "tcp", 80, 64, flags="S")
        self.check_stream(ack, "tcp", 80, 64, flags="A")
        self.check_flow_count(streams, 1000000)

    def test_one_syn_per_flow_then_acks(self):
        syn, ack = load_profile("established_tcp", flows=1000)
        self.assertEqual(syn.mode.kind, "single_burst")
        (gen,) = syn.packet.generators()
        self.assertEqual(syn.mode.total_pkts, gen.cycle_length(), "one SYN per flow")
        self.assertTrue(syn.self_start)
        self.assertEqual(syn.next, ack.name)
        self.assertFalse(ack.self_start, "the ACKs start after the SYN burst")
        self.assertEqual(ack.mode.kind, "continuous")
        self.assertGreater(ack.isg, 0, "a gap after the SYNs")
        self.check_flow_count([syn, ack], 1000)
        self.check_frames(syn, "tcp", 80, flags="S")
        self.check_frames(ack, "tcp", 80, flags="A")
        self.assertEqual(list(run_field_engine(syn.packet, gen.cycle_length()))[5][26:36],
                         list(run_field_engine(ack.packet, gen.cycle_length()))[5][26:36],
                         "the n-th ACK is on the n-th SYN's flow")

    def test_rates_at_line_rate(self):
        """-m 100%: the SYNs at syn_pps (1 Mpps), the ACKs at line rate."""
        syn, ack = load_profile("established_tcp")
        syn_pps, ack_pps = pps_at([syn, ack], ("percent", 100))
        self.assertAlmostEqual(syn_pps, 1e6, delta=1)
        line_pps_64 = LINE_10G / ((64 + 20) * 8)
        self.assertAlmostEqual(ack_pps, line_pps_64, delta=line_pps_64 * 1e-6)


class SynFlood(ProfileChecks):
    def test_default(self):
        (s,) = load_profile("syn_flood")
        self.check_stream(s, "tcp", 80, 64, flags="S")
        self.assertEqual(s.mode.kind, "continuous")
        (gen,) = s.packet.generators()
        asked, clients = 10000000, client_count()
        self.assertEqual(gen.cycle_length(),
                         min(clients * -(-asked // clients), clients * (65536 - 1024)),
                         "flows=10M, or every client with every port 1024-65535 once")

    def test_flows(self):
        (s,) = load_profile("syn_flood", flows=3000)
        self.check_flow_count([s], 3000)
        self.check_frames(s, "tcp", 80, flags="S")

    def test_rate(self):
        (s,) = load_profile("syn_flood")
        self.assertAlmostEqual(pps_at([s], ("pps", 3e6))[0], 3e6)


class UdpDns(ProfileChecks):
    def test_default(self):
        (s,) = load_profile("udp_dns")
        self.check_stream(s, "udp", 53, 64)
        self.assertEqual(s.mode.kind, "continuous")
        self.check_flow_count([s], 1000000)

    def test_flows(self):
        (s,) = load_profile("udp_dns", flows=1000)
        self.check_flow_count([s], 1000)
        self.check_frames(s, "udp", 53)


class Imix(ProfileChecks):
    def test_default(self):
        streams = load_profile("imix")
        self.assertEqual(sorted(frame_size(s) for s in streams), [64, 594, 1518])
        for s in streams:
            self.check_stream(s, "udp", 53, frame_size(s))
            self.assertEqual(s.mode.kind, "continuous")
            self.assertTrue(s.self_start)
        self.check_flow_count(streams, 100000)

    def test_seven_four_one_by_packets(self):
        streams = sorted(load_profile("imix"), key=frame_size)
        pps = pps_at(streams, ("percent", 100))
        self.assertEqual([round(p / pps[2], 9) for p in pps], [7, 4, 1])
        l1 = sum(p * (frame_size(s) + 20) * 8 for p, s in zip(pps, streams))
        self.assertAlmostEqual(l1 / LINE_10G, 1.0, places=6)

    def test_flows(self):
        streams = load_profile("imix", flows=500)
        self.check_flow_count(streams, 500)
        for s in streams:
            self.check_frames(s, "udp", 53)


class Loading(unittest.TestCase):
    def test_every_profile_is_tested(self):
        on_disk = {p.stem for p in PROFILE_DIR.glob("*.py")} - {"vsnat_common"}
        self.assertEqual(on_disk, set(PROFILES))

    def test_both_directions_load(self):
        """`start` without -p loads a profile once per port, direction = port % 2."""
        for name in PROFILES:
            for port in (0, 1):
                self.assertTrue(load_profile(name, port_id=port), f"{name} on port {port}")

    def test_tuple_generator_model(self):
        """The stand-in's generator walks as TRex's dataplane does, flow limit included."""
        gen = STLVmTupleGen("t", ip_min="10.0.0.1", ip_max="10.0.0.3", port_min=5, port_max=6,
                            limit_flows=4)
        self.assertEqual(list(gen.flows()), [(0x0A000001, 5), (0x0A000002, 5),
                                             (0x0A000003, 5), (0x0A000001, 6)])
        self.assertEqual(STLVmTupleGen("t", port_min=1, port_max=1000,
                                       ip_min=1, ip_max=1000).cycle_length(), 100000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
