-- pktgen-scenarios/pktgen/udp_dns.lua: (c) UDP to VIP:53, 64 B, many clients.
-- Pktgen-DPDK 23.06.1 on DPDK 22.11. In the lab: sudo scripts/pktgen.sh udp_dns; on real NICs
-- (../README.md):
--
--   pktgen -l 0-2 -a <PCI> -- -P -T -m '[1:2].0' -f pktgen-scenarios/pktgen/udp_dns.lua
--
-- Range packets are UDP because pktgen.range.ip_proto says so (common.lua). Flows: clients
-- 198.18.0.1-96 x source ports 1024-9215 (24,576 flows, one range pool) to
-- 198.18.0.100:53. UDP needs no handshake: the first packet of a flow opens its connection
-- (state UDP, 5 min), later ones are table hits. Needs a udp service on 198.18.0.100:53.
-- Sends VSNAT_PG_SECONDS worth of packets at VSNAT_PG_RATE % of line rate (at most twice that
-- time, +5 s). Result line: "udp_dns flows=N tx_packets=N tx_mpps=X ...".
package.path = package.path .. ";pktgen-scenarios/pktgen/?.lua;?.lua"
local c = require("common")

c.main("udp_dns", function()
    local p = c.port
    local cl = c.clients({"198.18.0.1", "198.18.0.96", 1024, 9215})
    c.flows_to_vip(p, cl, "udp", 53)
    pktgen.set(p, "rate", c.rate)
    local count = c.packets_for(64, c.seconds)
    local r = c.send(p, count, 1, 2 * c.seconds + 5)
    c.report("udp_dns", {{"flows", math.min(cl.flows, c.pool)}, {"rate_pct", c.rate},
        {"count", count}, {"tx_packets", r.packets}, {"tx_mpps", string.format("%.3f", r.mpps)},
        {"seconds", r.seconds}, {"timed_out", r.timed_out and 1 or 0}})
end)
