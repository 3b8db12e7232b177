-- pktgen-scenarios/pktgen/syn_flood.lua: (b) a SYN flood of new connections to VIP:80, 64 B.
-- Pktgen-DPDK 23.06.1 on DPDK 22.11. In the lab: sudo scripts/pktgen.sh syn_flood; on real
-- NICs (../README.md):
--
--   pktgen -l 0-2 -a <PCI> -- -P -T -m '[1:2].0' -f pktgen-scenarios/pktgen/syn_flood.lua
--
-- Every packet is a SYN of a flow not seen before: clients 198.18.0.101-250 x source ports
-- 1025-65535 (lcm(150, 64511) = 9,676,650 flows) to 198.18.0.100:80 (the clients skip the
-- VIP, .100: vsnatd drops packets from its own addresses as bad_source). A range pool holds
-- 24,576 packets (common.lua) and is rebuilt with the next flows at each start, so the flood
-- is sent in rounds of one pool each: start, send the pool once, start again. It stops after
-- the packets VSNAT_PG_SECONDS take at VSNAT_PG_RATE % of line rate, or after twice that time
-- (+5 s), and refuses to run when those packets would repeat a flow. Read vsnatd's
-- connections_created next to the packets sent (scripts/pktgen.sh does), and the drops by
-- reason (table_full when the table is too small: size max_connections above the packets).
-- Result line: "syn_flood flows=N tx_packets=N tx_mpps=X rounds=R ...".
package.path = package.path .. ";pktgen-scenarios/pktgen/?.lua;?.lua"
local c = require("common")

c.main("syn_flood", function()
    local p = c.port
    local cl = c.clients({"198.18.0.101", "198.18.0.250", 1025, 65535})
    c.flows_to_vip(p, cl, "tcp", 80)
    c.tcp_flags(p, {"syn"})
    pktgen.set(p, "rate", c.rate)
    local want = c.packets_for(64, c.seconds)
    local rounds = math.ceil(want / c.pool)
    if rounds * c.pool > cl.flows then
        error(string.format("%d SYNs would repeat flows (%d distinct): widen the ranges or "
            .. "lower VSNAT_PG_SECONDS / VSNAT_PG_RATE", rounds * c.pool, cl.flows), 0)
    end
    local r = c.send(p, c.pool, rounds, 2 * c.seconds + 5)
    c.report("syn_flood", {{"flows", r.rounds * c.pool}, {"rate_pct", c.rate},
        {"count", rounds * c.pool}, {"tx_packets", r.packets},
        {"tx_mpps", string.format("%.3f", r.mpps)}, {"rounds", r.rounds},
        {"seconds", r.seconds}, {"timed_out", r.timed_out and 1 or 0}})
end)
