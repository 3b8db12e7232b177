-- pktgen-scenarios/pktgen/established.lua: (a) established TCP flows, 64 B, many clients to
-- VIP:80. Pktgen-DPDK 23.06.1 on DPDK 22.11 (not run on the vsnat build machine; ../README.md).
--
--   pktgen -l 0-2 -a <PCI of the NIC cabled to vsnatd's outside> -- -P -T -m '[1:2].0' \
--          -f pktgen-scenarios/pktgen/established.lua
--
-- Flows: clients 198.18.0.1-250 x source ports 1024-5024 (lcm(250, 4001) = 1,000,250 flows by
-- default) to 198.18.0.100:80. vsnatd forwards TCP only on connections it has seen open (a
-- SYN), so:
--   phase 1 opens them: the range's SYNs, twice over every flow, at 10% of line rate;
--   phase 2 sends ACKs over the same flows at VSNAT_PG_RATE % for VSNAT_PG_SECONDS:
--     every packet is a connection-table hit (SYN_RECV -> ESTABLISHED on the first ACK).
-- Read: tx Mpps here and vsnatd's forwarded rate (vsnatctl list --rate InPPS, or the inside
-- NIC's packets out); Pktgen's rx counts what comes back on port 0 (nothing, with real servers
-- elsewhere), or on port 1 when it is cabled to vsnatd's inside NIC (-m '[1:2].0,[3:4].1').
package.path = package.path .. ";pktgen-scenarios/pktgen/?.lua;?.lua"
local c = require("common")
local p = c.port
local flows = c.flow_count()

pktgen.screen("off")
c.flows_to_vip(p, "tcp", 80)
pktgen.set_range(p, "on")

-- Phase 1: SYNs, a bounded count (two passes, in case the NIC drops a few at start).
c.tcp_flags(p, "syn")
pktgen.set(p, "rate", 10)
pktgen.set(p, "count", 2 * flows)
pktgen.start(p)
pktgen.delay(math.floor(2 * flows / 1.4e6 * 1000) + 2000)  -- 10% of 10G = 1.48 Mpps
pktgen.stop(p)
pktgen.set(p, "count", 0)   -- 0: send until stopped

-- Phase 2: ACKs.
c.tcp_flags(p, "ack")
pktgen.set(p, "rate", c.rate)
c.run_and_report(p, "established " .. flows .. " flows 64 B", c.seconds)
pktgen.quit()
