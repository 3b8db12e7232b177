-- pktgen-scenarios/pktgen/common.lua: shared settings and helpers of the vsnat Pktgen scenarios.
-- For Pktgen-DPDK 23.06.1 on DPDK 22.11: run in the namespace lab by scripts/pktgen.sh, or on
-- real NICs (../README.md). Loaded by each scenario with require("common").
--
-- What Pktgen 23.06.1 offers, and what these scripts do about it (app/lpktgenlib.c,
-- app/cli-functions.c, app/pktgen-range.c, app/pktgen.c of its source):
--  * Range packets take their protocol from pktgen.range.ip_proto; pktgen.set_proto only sets
--    the single-packet mode's. flows_to_vip() sets the range's.
--  * No Lua call sets the TCP flags of range packets; the CLI does:
--    `range <port> tcp flag set|clr urg|ack|psh|rst|syn|fin|all`. tcp_flags() writes those
--    lines to a command file and runs it with pktgen.load() (pktgen.run("cmd", FILE) refuses
--    two arguments in 23.06.1). Pktgen does not tell a script that the CLI refused a line, and
--    no Lua call reads the flags back (the range page and `save` show a copy the CLI does not
--    update): vsnatd's counters are the check. scripts/pktgen.sh fails when a SYN phase opens
--    fewer connections than there are flows, or when vsnatd forwards less than 99% of what
--    was sent (ACKs without a connection are dropped as no_connection); on real NICs, read
--    them yourself (vsnatctl stats).
--  * pktgen.seqTable and pktgen.seq take the port list from their first argument (the
--    sequence number) instead of their second: sequence entry N lands on port N. imix.lua
--    sets its sequence with the CLI's `seq` command instead.
--  * What the CLI and the Lua calls set is checked where Pktgen can show it: saved() reads
--    back Pktgen's own `save` of its configuration (range fields, protocol, sequence).
--  * Range packets are built at each start, one per mbuf of the TX queue's range pool
--    (24,576 mbufs), continuing the range sequence from where the previous build stopped; the
--    pool is then sent round and round. One start therefore sends at most 24,576 distinct
--    flows per TX queue, and the next start the following ones. Ranges whose sequence repeats
--    every 24,576 packets (or a divisor of that) give the same flows at every start.
--
-- Any error (a missing Lua call, a bad setting, a failed command file, a phase that did not
-- finish) stops the scenario: it writes "ERROR <scenario>: <why>" to the result file and to
-- stderr and quits Pktgen.
local M = {}

-- Mbufs of one TX queue's range pool in Pktgen 23.06.1 (MAX_MBUFS_PER_PORT,
-- app/pktgen-constants.h).
M.pool = 24576

local function env(name, default)
    local v = os.getenv(name)
    if v == nil or v == "" then return default end
    return v
end

local function env_number(name, default)
    local v = tonumber(env(name, tostring(default)))
    if v == nil then error(name .. " is not a number: " .. tostring(os.getenv(name)), 0) end
    return v
end

M.port = env("VSNAT_PG_PORT", "0")
M.out = env("VSNAT_PG_OUT", "pktgen-result.txt")
-- vsnatd's outside MAC (printed at start: "interface outside on port 0 (...), MAC ...").
-- The default is the lab's (scripts/lab.sh: vsn-out).
M.dst_mac = env("VSNAT_PG_DST_MAC", "02:00:c6:12:00:fe")
M.vip = env("VSNAT_PG_VIP", "198.18.0.100")
-- With VSNAT_PG_SYNC set (a directory), the established scenario waits there between its
-- phases for a harness (scripts/pktgen.sh) to read vsnatd's counters; unset, it goes on.
M.sync = env("VSNAT_PG_SYNC", "")

-- Numeric settings; a bad value is reported by M.main (an error while the scenario is being
-- loaded would leave Pktgen waiting at its prompt).
local settings_ok, settings_err = pcall(function()
    M.seconds = env_number("VSNAT_PG_SECONDS", 10)   -- sending time at the set rate
    M.rate = env_number("VSNAT_PG_RATE", 1)          -- % of the port's line rate
    if M.seconds < 1 or M.seconds > 600 then error("VSNAT_PG_SECONDS must be 1..600", 0) end
    if M.rate <= 0 or M.rate > 100 then error("VSNAT_PG_RATE must be in (0, 100]", 0) end
end)

local function ip4(s)
    local a, b, c, d = tostring(s):match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    if a == nil then error("not an IPv4 address: " .. tostring(s), 0) end
    return ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d)
end

local function gcd(x, y)
    while y ~= 0 do x, y = y, x % y end
    return x
end

-- Client ranges of a scenario: `defaults` = {src_min, src_max, sport_min, sport_max}, each
-- overridable from the environment (VSNAT_PG_SRC_MIN/MAX, VSNAT_PG_SPORT_MIN/MAX).
function M.clients(defaults)
    local c = {
        src_min = env("VSNAT_PG_SRC_MIN", defaults[1]),
        src_max = env("VSNAT_PG_SRC_MAX", defaults[2]),
        sport_min = env_number("VSNAT_PG_SPORT_MIN", defaults[3]),
        sport_max = env_number("VSNAT_PG_SPORT_MAX", defaults[4]),
    }
    c.addresses = ip4(c.src_max) - ip4(c.src_min) + 1
    c.ports = c.sport_max - c.sport_min + 1
    if c.addresses < 1 or c.ports < 1 or c.sport_min < 1 or c.sport_max > 65535 then
        error(string.format("bad client ranges %s-%s, ports %d-%d", c.src_min, c.src_max,
            c.sport_min, c.sport_max), 0)
    end
    -- Pktgen steps every range field on every packet: the (address, port) pairs repeat after
    -- lcm(addresses, ports) packets, which is the number of distinct flows.
    c.flows = c.addresses // gcd(c.addresses, c.ports) * c.ports
    return c
end

local function need(fn, name)
    if fn == nil then error("this Pktgen has no " .. name .. " (written for 23.06.1)", 0) end
    return fn
end

-- One range field: start, step, min, max.
local function range(name, port, start, inc, min, max)
    local f = need(pktgen.range[name], "pktgen.range." .. name)
    f(port, "start", start)
    f(port, "inc", inc)
    f(port, "min", min)
    f(port, "max", max)
end

-- 64-byte `proto` ("tcp" or "udp") range packets from the clients `c` (M.clients) to
-- M.vip:`dport`, addressed to vsnatd's outside MAC; range mode on; checked against Pktgen's
-- saved configuration. TCP flags: M.tcp_flags.
function M.flows_to_vip(port, c, proto, dport)
    need(pktgen.set_type, "pktgen.set_type")(port, "ipv4")
    need(pktgen.range.ip_proto, "pktgen.range.ip_proto")(port, proto)
    need(pktgen.range.dst_mac, "pktgen.range.dst_mac")(port, "start", M.dst_mac)
    range("src_ip", port, c.src_min, "0.0.0.1", c.src_min, c.src_max)
    range("dst_ip", port, M.vip, "0.0.0.0", M.vip, M.vip)
    range("src_port", port, c.sport_min, 1, c.sport_min, c.sport_max)
    range("dst_port", port, dport, 0, dport, dport)
    range("pkt_size", port, 64, 0, 64, 64)
    need(pktgen.set_range, "pktgen.set_range")(port, "on")
    local r = "range " .. port .. " "
    M.expect_saved({"enable " .. port .. " range", r .. "proto " .. proto,
        r .. "dst mac start " .. M.dst_mac:lower(), r .. "dst ip start " .. M.vip,
        r .. "src ip min " .. c.src_min, r .. "src ip max " .. c.src_max,
        r .. "src port min " .. c.sport_min, r .. "src port max " .. c.sport_max,
        r .. "dst port start " .. dport, r .. "size start 64", r .. "size inc 0"})
end

-- Pktgen's configuration as it has it now: the lines of `pktgen.save` (a command file), as a
-- set. Fails when Pktgen cannot save.
function M.saved()
    local path = M.out .. ".save.pkt"   -- not *.lua: Pktgen would save Lua
    need(pktgen.save, "pktgen.save")(path)
    local lines = {}
    local f = io.open(path, "r")
    if f == nil then error("pktgen.save wrote no " .. path, 0) end
    for line in f:lines() do lines[line] = true end
    f:close()
    os.remove(path)
    return lines
end

-- Fails unless Pktgen's saved configuration has every line of `expected`.
function M.expect_saved(expected)
    local saved = M.saved()
    for _, line in ipairs(expected) do
        if not saved[line] then error("Pktgen did not take the setting '" .. line .. "'", 0) end
    end
end

-- Runs CLI command lines through a command file (pktgen.load). Fails when the file cannot be
-- written or Pktgen cannot execute it.
function M.cli(lines)
    local load = need(pktgen.load, "pktgen.load")
    local path = M.out .. ".cmd.pkt"   -- not *.lua: Pktgen would run that as Lua
    local f, err = io.open(path, "w")
    if f == nil then error("cannot write " .. path .. ": " .. tostring(err), 0) end
    f:write(table.concat(lines, "\n") .. "\n")
    f:close()
    load(path)
    os.remove(path)
end

local flag_names = {urg = true, ack = true, psh = true, rst = true, syn = true, fin = true}

-- The TCP flags of range packets: exactly `flags` (a list such as {"syn"}).
function M.tcp_flags(port, flags)
    local lines = {"range " .. port .. " tcp flag clr all"}
    for _, flag in ipairs(flags) do
        if not flag_names[flag] then error("unknown TCP flag " .. tostring(flag), 0) end
        lines[#lines + 1] = "range " .. port .. " tcp flag set " .. flag
    end
    M.cli(lines)
end

-- Waits (at most 10 s) until `port` reports its link up; returns the speed in Mbit/s. Pktgen
-- reads link states once a second, and computes its rate from the speed.
local function wait_link(port)
    local link_state = need(pktgen.linkState, "pktgen.linkState")
    local state
    for _ = 1, 100 do
        state = tostring(link_state(port)[tonumber(port)])
        local mbps = tonumber(state:match("^<UP%-(%d+)%-"))
        if mbps ~= nil and mbps > 0 then return mbps end
        pktgen.delay(100)
    end
    error("port " .. port .. " link not up within 10 s: " .. state, 0)
end

-- Packets `seconds` at M.rate take for frames of `frame_bytes` (with the CRC) on the port
-- (a net_af_packet port says 10 Gbit/s), and that rate in packets per second.
function M.packets_for(frame_bytes, seconds)
    -- On the wire a frame also takes preamble, start delimiter and inter-frame gap: 20 bytes.
    local pps = M.link_mbps * 1e6 / ((frame_bytes + 20) * 8) * M.rate / 100
    return math.max(1, math.ceil(pps * seconds)), pps
end

local function sending(port)
    return need(pktgen.isSending, "pktgen.isSending")(port)[tonumber(port)] == "y"
end

local function median(t)
    if #t == 0 then return 0 end
    local s = {}
    for i, v in ipairs(t) do s[i] = v end
    table.sort(s)
    return s[(#s + 1) // 2]
end

-- Sends on `port`: `rounds` starts of `count` packets each, for at most `limit_s` seconds in
-- all (both bounds hold; count 0 is refused). Each start rebuilds the range pool (see the top
-- of this file). Returns {packets, mpps, seconds, rounds, timed_out}: packets from the port's
-- counter (cleared first); mpps the median of the TX rate Pktgen measures each second, sampled
-- once a second while sending, the partial first sample left out (for runs too short for a
-- whole-second sample, packets over the time spent sending).
function M.send(port, count, rounds, limit_s)
    if count < 1 or rounds < 1 then error("M.send needs a count and rounds", 0) end
    local idx = tonumber(port)
    local samples, ticks, done = {}, 0, 0
    local limit = math.floor(limit_s * 100)   -- in 10 ms ticks
    local function tick()
        pktgen.delay(10)
        ticks = ticks + 1
        if ticks % 100 == 0 then
            samples[#samples + 1] = pktgen.portStats(port, "rate")[idx].pkts_tx
        end
    end
    need(pktgen.set, "pktgen.set")(port, "count", count)
    pktgen.clr()
    pktgen.delay(1100)   -- a whole statistics period after the clear
    while done < rounds and ticks < limit do
        pktgen.start(port)
        done = done + 1
        tick()
        while sending(port) and ticks < limit do tick() end
    end
    local timed_out = sending(port)
    pktgen.stop(port)
    pktgen.delay(1100)   -- the counters are read once a second
    local packets = pktgen.portStats(port, "port")[idx].opackets
    table.remove(samples, 1)
    -- Under two seconds there is no whole-second sample: packets over the time spent sending.
    local pps = #samples > 0 and median(samples) or packets / math.max(ticks / 100, 0.01)
    return {packets = packets, mpps = pps / 1e6, seconds = ticks / 100, rounds = done,
        timed_out = timed_out}
end

-- Appends `line` to M.out and writes it to stderr.
local function write_result(line)
    local f = io.open(M.out, "a")
    if f ~= nil then
        f:write(line)
        f:close()
    end
    io.stderr:write(line)
end

-- Appends one result line ("<scenario> key=value ...") to M.out and stderr.
function M.report(scenario, fields)
    local parts = {scenario}
    for _, kv in ipairs(fields) do parts[#parts + 1] = kv[1] .. "=" .. tostring(kv[2]) end
    write_result(table.concat(parts, " ") .. "\n")
end

local function exists(path)
    local f = io.open(path, "r")
    if f == nil then return false end
    f:close()
    return true
end

-- Between two phases: with M.sync set, creates M.sync/<done>.done and waits (at most 120 s) for
-- M.sync/<next>.go from the harness; without it, waits 2 s for the last packets to drain.
function M.phase_boundary(done, next)
    if M.sync == "" then
        pktgen.delay(2000)
        return
    end
    local f, err = io.open(M.sync .. "/" .. done .. ".done", "w")
    if f == nil then error("cannot write to VSNAT_PG_SYNC: " .. tostring(err), 0) end
    f:close()
    for _ = 1, 1200 do
        if exists(M.sync .. "/" .. next .. ".go") then return end
        pktgen.delay(100)
    end
    error("no " .. next .. ".go in " .. M.sync .. " within 120 s", 0)
end

-- Runs `body` with the screen off; whatever happens, quits Pktgen. An error is reported as
-- "ERROR <scenario>: <message>" in M.out and on stderr.
function M.main(scenario, body)
    local ok, err = pcall(function()
        if not settings_ok then error(settings_err, 0) end
        need(pktgen.screen, "pktgen.screen")("off")
        M.link_mbps = wait_link(M.port)
        body()
    end)
    if not ok then
        pcall(pktgen.stop, M.port)
        write_result("ERROR " .. scenario .. ": " .. tostring(err) .. "\n")
    end
    pktgen.quit()
end

return M
