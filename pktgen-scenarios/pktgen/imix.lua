-- pktgen-scenarios/pktgen/imix.lua: (d) IMIX UDP to VIP:53 (7 x 64 B, 4 x 594 B, 1 x 1518 B,
-- the "simple IMIX" proportions by packet count), through Pktgen's sequence packets.
-- Pktgen-DPDK 23.06.1 on DPDK 22.11. In the lab: sudo scripts/pktgen.sh imix; on real NICs
-- (../README.md):
--
--   pktgen -l 0-2 -a <PCI> -- -P -T -m '[1:2].0' -f pktgen-scenarios/pktgen/imix.lua
--
-- Sequence packets are fixed (no ranges): the 12 entries use 12 clients (198.18.0.1-12,
-- ports 1025-1036), so this measures per-packet cost by size, not table size. UDP, so no
-- handshake is needed. The entries are set with the CLI's `seq` command (pktgen.seqTable
-- puts entry N on port N in 23.06.1: common.lua) and checked against Pktgen's saved
-- configuration. The source MAC is the port's own (pktgen.pktStats mac_addr). Pktgen's rate
-- for a sequence is computed on the mean frame (361.8 B): VSNAT_PG_RATE % of line rate is
-- about 1/4.6 of the packets per second of 64-byte frames. Sends VSNAT_PG_SECONDS worth of
-- packets at that rate (at most twice that time, +5 s). Result line:
-- "imix mix=... tx_packets=N tx_mpps=X ...".
package.path = package.path .. ";pktgen-scenarios/pktgen/?.lua;?.lua"
local c = require("common")

c.main("imix", function()
    local p = c.port
    local sizes = {64, 64, 594, 64, 64, 594, 64, 1518, 64, 594, 64, 594}
    local stats = pktgen.pktStats(p)[tonumber(p)]
    local src_mac = stats and stats.mac_addr
    if src_mac == nil then error("no MAC address for port " .. p, 0) end
    src_mac = src_mac:lower()
    local dst_mac = c.dst_mac:lower()
    local lines, expected, total = {}, {"set " .. p .. " seq_cnt " .. #sizes}, 0
    for i, size in ipairs(sizes) do
        local src, sport = "198.18.0." .. i .. "/24", 1024 + i
        lines[#lines + 1] = string.format("seq %d %s %s %s %s %s %d 53 ipv4 udp 1 %d",
            i - 1, p, dst_mac, src_mac, c.vip, src, sport, size)
        -- `save` writes: seq <n> <port> <dst mac> <src mac> <dst ip> <src ip/len> <sport>
        -- <dport> ipv4 udp <vlan> <size> <teid>
        expected[#expected + 1] = string.format("seq %d %s %s %s %s %s %d 53 ipv4 udp 1 %d 0",
            i - 1, p, dst_mac, src_mac, c.vip, src, sport, size)
        total = total + size
    end
    c.cli(lines)
    pktgen.set(p, "seqCnt", #sizes)
    c.expect_saved(expected)
    pktgen.set(p, "rate", c.rate)
    local count = c.packets_for(total / #sizes, c.seconds)
    local r = c.send(p, count, 1, 2 * c.seconds + 5)
    c.report("imix", {{"mix", "7x64/4x594/1x1518"}, {"rate_pct", c.rate}, {"count", count},
        {"tx_packets", r.packets}, {"tx_mpps", string.format("%.3f", r.mpps)},
        {"seconds", r.seconds}, {"timed_out", r.timed_out and 1 or 0}})
end)
