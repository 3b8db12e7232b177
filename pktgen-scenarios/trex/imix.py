"""(d) IMIX to the VIP (vsnat pktgen-scenarios): UDP to :53, 64 / 594 / 1518 B frames in the
"simple IMIX" proportions 7 : 4 : 1 by packet count, many clients.

  trex> start -f pktgen-scenarios/trex/imix.py -p 0 -m 100% -d 30 -t flows=100000

-m scales all three streams together. Read: TX pps and bit/s, vsnatd's InPPS and InBPS
(vsnatctl list --rate).
"""
from trex_stl_lib.api import STLStream, STLTXCont, UDP

from vsnat_common import client_tuple_vm, ether, ip, padded, STLPktBuilder

IMIX = [(64, 7), (594, 4), (1518, 1)]


class VsnatImix:
    def get_streams(self, direction=0, flows=100000, **kwargs):
        streams = []
        for size, weight in IMIX:
            pkt = STLPktBuilder(pkt=padded(ether() / ip() / UDP(dport=53), size),
                                vm=client_tuple_vm(int(flows), "UDP"))
            streams.append(STLStream(packet=pkt, mode=STLTXCont(pps=weight * 100000)))
        return streams


def register():
    return VsnatImix()
