"""(a) Established TCP flows, 64 B, many clients to VIP:80 (vsnat pktgen-scenarios).

Two streams: a one-shot burst of one SYN per flow (opens the connections in vsnatd: it
forwards TCP only on connections it saw open), then, after it, ACKs over the same flows,
continuous: every packet a connection-table hit. Tunables: flows (default 1,000,000),
syn_pps (rate of the opening burst at -m 100%, default 1 Mpps). -m scales both streams by one
factor: at -m 100% the SYNs go at syn_pps and the ACKs at line rate; -m 50% halves both.

  trex> start -f pktgen-scenarios/trex/established_tcp.py -p 0 -m 100% -d 30 -t flows=1000000

Read: TX pps (TRex `stats`/tui) and vsnatd's InPPS (vsnatctl list --rate); with port 1 cabled to
vsnatd's inside link, RX on port 1 is what vsnatd forwarded (opackets of port 1 in stats).
"""
from trex_stl_lib.api import STLStream, STLTXCont, STLTXSingleBurst, TCP

from vsnat_common import client_tuple_vm, ether, flow_count, ip, padded, STLPktBuilder


class VsnatEstablished:
    def get_streams(self, direction=0, flows=1000000, syn_pps=1000000, **kwargs):
        flows = int(flows)
        n = flow_count(flows)  # one SYN per flow
        syn = STLPktBuilder(pkt=padded(ether() / ip() / TCP(dport=80, flags="S", seq=1000), 64),
                            vm=client_tuple_vm(flows, "TCP"))
        ack = STLPktBuilder(pkt=padded(ether() / ip() / TCP(dport=80, flags="A", seq=1001, ack=1),
                                       64),
                            vm=client_tuple_vm(flows, "TCP"))
        return [
            STLStream(name="open", packet=syn, mode=STLTXSingleBurst(total_pkts=n, pps=syn_pps),
                      next="established"),
            # At line rate for -m 100% (TRex's default rate, 1 pps, would get the SYNs' factor).
            STLStream(name="established", self_start=False, packet=ack,
                      mode=STLTXCont(percentage=100),
                      isg=1000000.0),  # 1 s after the SYNs: the table is filled
        ]


def register():
    return VsnatEstablished()
