-- pktgen-scenarios/pktgen/established.lua: (a) established TCP flows, 64 B, many clients to
-- VIP:80. Pktgen-DPDK 23.06.1 on DPDK 22.11. In the lab: sudo scripts/pktgen.sh established;
-- on real NICs (../README.md):
--
--   pktgen -l 0-2 -a <PCI of the NIC cabled to vsnatd's outside> -- -P -T -m '[1:2].0' \
--          -f pktgen-scenarios/pktgen/established.lua
--
-- Flows: clients 198.18.0.1-96 x source ports 1024-9215 to 198.18.0.100:80: lcm(96, 8192)
-- = 24,576 flows, exactly one range pool (common.lua), so every start of the port sends the
-- same flows, each once per pass. (The clients stay below the VIP, .100: vsnatd drops packets
-- from its own addresses as bad_source.) vsnatd opens a TCP connection only on a SYN (no RST) and
-- drops anything else without one as no_connection, so:
--   phase syn: the range's SYNs, two passes over every flow (a SYN on a SYN_RECV connection
--     leaves it as it is); each connection is then SYN_RECV;
--   phase ack: ACKs over the same flows, VSNAT_PG_RATE % of line rate for VSNAT_PG_SECONDS
--     (bounded in count and time): the first ACK of a flow makes it ESTABLISHED, every packet
--     is a connection-table hit, rewritten and forwarded.
-- The real servers must not answer (a real TCP stack answers those ACKs with RSTs, which end
-- the connections): in the lab scripts/pktgen.sh points the real servers' addresses at a MAC
-- no host has; on real NICs cable the inside to a port that only counts.
-- Result lines (VSNAT_PG_OUT and stderr): "established phase=syn ..." and
-- "established phase=ack ... tx_packets=N tx_mpps=X ...".
package.path = package.path .. ";pktgen-scenarios/pktgen/?.lua;?.lua"
local c = require("common")

c.main("established", function()
    local p = c.port
    local cl = c.clients({"198.18.0.1", "198.18.0.96", 1024, 9215})
    if c.pool % cl.flows ~= 0 then
        error(string.format("%d flows do not divide the range pool (%d): the ACK phase would "
            .. "send flows the SYN phase did not open", cl.flows, c.pool), 0)
    end
    c.flows_to_vip(p, cl, "tcp", 80)
    pktgen.set(p, "rate", c.rate)

    -- Phase syn: two passes over the pool.
    c.tcp_flags(p, {"syn"})
    local syn_count = 2 * c.pool
    local _, pps = c.packets_for(64, 1)
    local syn = c.send(p, syn_count, 1, 2 * syn_count / pps + 5)
    c.report("established", {{"phase", "syn"}, {"flows", cl.flows},
        {"tx_packets", syn.packets}, {"seconds", syn.seconds}})
    if syn.timed_out or syn.packets < syn_count then
        error(string.format("the SYN phase sent %d of %d packets", syn.packets, syn_count), 0)
    end
    c.phase_boundary("syn", "ack")

    -- Phase ack: the measurement.
    c.tcp_flags(p, {"ack"})
    local count = c.packets_for(64, c.seconds)
    local ack = c.send(p, count, 1, 2 * c.seconds + 5)
    c.report("established", {{"phase", "ack"}, {"flows", cl.flows}, {"rate_pct", c.rate},
        {"count", count}, {"tx_packets", ack.packets}, {"tx_mpps", string.format("%.3f", ack.mpps)},
        {"seconds", ack.seconds}, {"timed_out", ack.timed_out and 1 or 0}})
end)
