"""(b) SYN flood of new connections to VIP:80, 64 B (vsnat pktgen-scenarios).

Every packet a SYN from a different (client address, source port) until the tuple generator
wraps: flows distinct SYNs per cycle (default 10,000,000, capped at 150 clients x 64512 source
ports = 9,676,800). A SYN repeated on a SYN_RECV connection is a table hit, so for pure
new-connection work size vsnatd's max_connections above flows and measure before the first
wrap (flows / pps seconds).

  trex> start -f pktgen-scenarios/trex/syn_flood.py -p 0 -m 3mpps -d 3 -t flows=10000000

Read: vsnatd's CPS (vsnatctl list --rate) and connections_created (vsnatctl stats --json) per
second against TRex's TX pps; drops by reason in vsnatctl stats (table_full once full).
"""
from trex_stl_lib.api import STLStream, STLTXCont, TCP

from vsnat_common import client_tuple_vm, ether, ip, MAX_FLOWS, padded, STLPktBuilder


class VsnatSynFlood:
    def get_streams(self, direction=0, flows=10000000, **kwargs):
        flows = min(int(flows), MAX_FLOWS)
        pkt = STLPktBuilder(pkt=padded(ether() / ip() / TCP(dport=80, flags="S", seq=1000), 64),
                            vm=client_tuple_vm(flows, "TCP"))
        return [STLStream(packet=pkt, mode=STLTXCont())]


def register():
    return VsnatSynFlood()
