"""(c) UDP to VIP:53, 64 B, many clients (vsnat pktgen-scenarios).

The first packet of a flow opens its connection (UDP state, 5 min), the rest are table hits.
Needs the udp service 198.18.0.100:53 in vsnatd's config. Tunable: flows (default 1,000,000).

  trex> start -f pktgen-scenarios/trex/udp_dns.py -p 0 -m 100% -d 30 -t flows=1000000

Read: TX pps, vsnatd's InPPS and CPS (vsnatctl list --rate).
"""
from trex_stl_lib.api import STLStream, STLTXCont, UDP

from vsnat_common import client_tuple_vm, ether, ip, padded, STLPktBuilder


class VsnatUdpDns:
    def get_streams(self, direction=0, flows=1000000, **kwargs):
        pkt = STLPktBuilder(pkt=padded(ether() / ip() / UDP(dport=53), 64),
                            vm=client_tuple_vm(int(flows), "UDP"))
        return [STLStream(packet=pkt, mode=STLTXCont())]


def register():
    return VsnatUdpDns()
