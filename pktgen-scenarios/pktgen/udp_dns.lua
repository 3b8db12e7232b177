-- pktgen-scenarios/pktgen/udp_dns.lua: (c) UDP to VIP:53, 64 B, many clients.
-- Pktgen-DPDK 23.06.1 on DPDK 22.11 (not run on the vsnat build machine; ../README.md).
--
--   pktgen -l 0-2 -a <PCI> -- -P -T -m '[1:2].0' -f pktgen-scenarios/pktgen/udp_dns.lua
--
-- UDP needs no handshake: the first packet of a flow opens its connection (state UDP, 5 min),
-- later ones are table hits. Needs a udp service on 198.18.0.100:53 in vsnatd's config
-- (../README.md). Read: tx Mpps, vsnatd's InPPS (vsnatctl list --rate) and CPS.
package.path = package.path .. ";pktgen-scenarios/pktgen/?.lua;?.lua"
local c = require("common")
local p = c.port

pktgen.screen("off")
c.flows_to_vip(p, "udp", 53)
pktgen.set_range(p, "on")
pktgen.set(p, "rate", c.rate)
c.run_and_report(p, "udp :53 " .. c.flow_count() .. " flows 64 B", c.seconds)
pktgen.quit()
