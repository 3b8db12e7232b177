-- pktgen-scenarios/pktgen/imix.lua: (d) IMIX UDP to VIP:53 (7 x 64 B, 4 x 594 B, 1 x 1518 B,
-- the "simple IMIX" proportions, by packet count), through Pktgen's sequence packets.
-- Pktgen-DPDK 23.06.1 on DPDK 22.11 (not run on the vsnat build machine; ../README.md).
--
--   pktgen -l 0-2 -a <PCI> -- -P -T -m '[1:2].0' -f pktgen-scenarios/pktgen/imix.lua
--
-- Sequence packets are fixed (no ranges): the 12 entries use 12 clients (198.18.0.1-12), so
-- this measures per-packet cost by size, not table size. UDP so that no handshake is needed.
-- Read: tx Mpps and Gbit/s, vsnatd's InPPS/InBPS (vsnatctl list --rate).
package.path = package.path .. ";pktgen-scenarios/pktgen/?.lua;?.lua"
local c = require("common")
local p = c.port
local sizes = {64, 64, 594, 64, 64, 594, 64, 1518, 64, 594, 64, 594}

pktgen.screen("off")
for i, size in ipairs(sizes) do
    pktgen.seqTable(i - 1, p, {
        ["eth_dst_addr"] = c.dst_mac,
        ["ip_dst_addr"] = c.vip,
        ["ip_src_addr"] = "198.18.0." .. i .. "/24",
        ["sport"] = 1024 + i,
        ["dport"] = 53,
        ["ethType"] = "ipv4",
        ["ipProto"] = "udp",
        ["vlanid"] = 1,
        ["pktSize"] = size,
    })
end
pktgen.set(p, "seqCnt", #sizes)
pktgen.set(p, "rate", c.rate)
c.run_and_report(p, "imix 7:4:1 (64/594/1518 B)", c.seconds)
pktgen.quit()
