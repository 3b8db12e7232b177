-- pktgen-scenarios/pktgen/syn_flood.lua: (b) a SYN flood of new connections to VIP:80, 64 B.
-- Pktgen-DPDK 23.06.1 on DPDK 22.11 (not run on the vsnat build machine; ../README.md).
--
--   pktgen -l 0-2 -a <PCI> -- -P -T -m '[1:2].0' -f pktgen-scenarios/pktgen/syn_flood.lua
--
-- Every packet is a SYN from a client (address, port) pair; with the default ranges the pairs
-- repeat after 1,000,250 packets (well under a second at 10 GbE line rate), so make vsnatd's
-- table small enough to see new-connection work, or widen the ranges: with
-- VSNAT_PG_SRC_MIN=198.18.0.1 VSNAT_PG_SRC_MAX=198.19.255.250 (and vsnatd's outside prefix
-- 198.18.0.0/15) there are 131,067 x 4001 distinct flows. A repeated SYN on a SYN_RECV
-- connection is a table hit, not a new connection: read vsnatd's new connections per second
-- (vsnatctl list --rate, CPS; vsnatctl stats: connections_created) next to Pktgen's tx Mpps,
-- and the drops by reason (table_full once the table is full).
package.path = package.path .. ";pktgen-scenarios/pktgen/?.lua;?.lua"
local c = require("common")
local p = c.port

pktgen.screen("off")
c.flows_to_vip(p, "tcp", 80)
c.tcp_flags(p, "syn")
pktgen.set_range(p, "on")
pktgen.set(p, "rate", c.rate)
c.run_and_report(p, "syn flood " .. c.flow_count() .. " flows 64 B", c.seconds)
pktgen.quit()
