-- pktgen-scenarios/pktgen/common.lua: shared settings and helpers of the vsnat Pktgen scenarios.
-- Written for Pktgen-DPDK 23.06.1 on DPDK 22.11 (not runnable on the vsnat build machine:
-- Pktgen is not a Debian package; see ../README.md). Loaded by each scenario with require("common").
--
-- Edit the settings below, or override them from the environment (VSNAT_PG_*), to match your
-- wiring: port 0 of Pktgen is cabled to vsnatd's outside NIC.
local M = {}

local function env(name, default)
    local v = os.getenv(name)
    if v == nil or v == "" then return default end
    return v
end

M.port = env("VSNAT_PG_PORT", "0")
-- vsnatd's outside MAC (printed at start: "interface outside on port 0 (...), MAC ...").
M.dst_mac = env("VSNAT_PG_DST_MAC", "02:00:c6:12:00:fe")
M.vip = env("VSNAT_PG_VIP", "198.18.0.100")
-- Clients: 198.18.0.1 .. 198.18.0.250 (the outside link 198.18.0.0/24, director .254).
M.src_ip_min = env("VSNAT_PG_SRC_MIN", "198.18.0.1")
M.src_ip_max = env("VSNAT_PG_SRC_MAX", "198.18.0.250")
M.sport_min = tonumber(env("VSNAT_PG_SPORT_MIN", "1024"))
-- Pktgen steps every range field on every packet, so the flows are lcm(#addresses, #ports):
-- 250 addresses and 4001 ports (coprime) give 1,000,250 distinct flows.
M.sport_max = tonumber(env("VSNAT_PG_SPORT_MAX", "5024"))
M.seconds = tonumber(env("VSNAT_PG_SECONDS", "30"))         -- measured time, bounded
M.rate = tonumber(env("VSNAT_PG_RATE", "100"))              -- % of line rate
M.out = env("VSNAT_PG_OUT", "pktgen-result.txt")

-- One range field: start, step, min, max.
local function range(field, port, start, inc, min, max)
    field(port, "start", start)
    field(port, "inc", inc)
    field(port, "min", min)
    field(port, "max", max)
end

-- 64-byte `proto` ("tcp" or "udp") packets from the client range (M.src_ip_min..max, source
-- ports M.sport_min..max, one step each: lcm(#addresses, #ports) flows) to M.vip:`dport`,
-- addressed to vsnatd's outside MAC. The caller sets the flags and turns the range on.
function M.flows_to_vip(port, proto, dport)
    pktgen.set_type(port, "ipv4")
    pktgen.set_proto(port, proto)
    pktgen.range.dst_mac(port, "start", M.dst_mac)
    range(pktgen.range.src_ip, port, M.src_ip_min, "0.0.0.1", M.src_ip_min, M.src_ip_max)
    range(pktgen.range.dst_ip, port, M.vip, "0.0.0.0", M.vip, M.vip)
    range(pktgen.range.src_port, port, M.sport_min, 1, M.sport_min, M.sport_max)
    range(pktgen.range.dst_port, port, dport, 0, dport, dport)
    range(pktgen.range.pkt_size, port, 64, 0, 64, 64)
end

-- TCP flags of range packets. Pktgen's CLI has `range <port> tcp_flags set|clr <flag>`
-- (Pktgen >= 21.x); its Lua name could not be checked here (no Pktgen on the build machine).
-- If this Pktgen has no Lua binding, the scenario stops and says what to type instead.
function M.tcp_flags(port, flag)
    if pktgen.range.tcp_flags ~= nil then
        pktgen.range.tcp_flags(port, "clr", "all")
        pktgen.range.tcp_flags(port, "set", flag)
        return
    end
    io.stderr:write("this Pktgen has no pktgen.range.tcp_flags: set the flags at the prompt with\n"
        .. "  range " .. port .. " tcp_flags clr all\n  range " .. port .. " tcp_flags set " .. flag
        .. "\nand start the port by hand (see ../README.md)\n")
    pktgen.quit()
end

-- Run port for `seconds` (bounded), sampling the rate once a second (Pktgen refreshes rate
-- statistics once a second). Writes per-second tx/rx pps and the medians to M.out.
function M.run_and_report(port, name, seconds)
    local idx = tonumber(port)
    local f = io.open(M.out, "a")
    local tx, rx = {}, {}
    pktgen.clr()
    pktgen.start(port)
    pktgen.delay(2000)   -- warm-up: the first second's rate is partial
    for _ = 1, seconds do
        pktgen.delay(1000)
        local s = pktgen.portStats(port, "rate")
        tx[#tx + 1] = s[idx].pkts_tx
        rx[#rx + 1] = s[idx].pkts_rx
    end
    pktgen.stop(port)
    table.sort(tx)
    table.sort(rx)
    local mtx, mrx = tx[math.floor((#tx + 1) / 2)], rx[math.floor((#rx + 1) / 2)]
    local line = string.format("%s: port %s tx median %.3f Mpps, rx median %.3f Mpps over %d s\n",
        name, port, mtx / 1e6, mrx / 1e6, seconds)
    f:write(line)
    f:close()
    io.stderr:write(line)
end


-- Distinct (address, port) flows the ranges produce.
function M.flow_count()
    local function ip4(s)
        local a, b, c2, d = s:match("(%d+)%.(%d+)%.(%d+)%.(%d+)")
        return ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c2)) * 256 + tonumber(d)
    end
    local na = ip4(M.src_ip_max) - ip4(M.src_ip_min) + 1
    local np = M.sport_max - M.sport_min + 1
    local x, y = na, np
    while y ~= 0 do x, y = y, x % y end
    return na // x * np
end

return M
