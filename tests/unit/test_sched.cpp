// Schedulers: exact sequences as LVS produces them, least-connection choices against scripted
// counts, hashing stability, Maglev's disruption bound, and the connection thresholds.
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "dp/sched/mh.hpp"
#include "dp/sched/scheduler.hpp"

using namespace vsnat::dp;

namespace {

std::vector<Destination> servers(std::vector<uint32_t> weights) {
    std::vector<Destination> out;
    for (size_t i = 0; i < weights.size(); ++i) {
        Destination d;
        d.ip = htonl(0xc6130000 + static_cast<uint32_t>(i) + 2);  // 198.19.0.2, .3, ...
        d.port = htons(80);
        d.dest_id = static_cast<uint16_t>(i);
        d.weight = weights[i];
        out.push_back(d);
    }
    return out;
}

// Counts scripted by the test.
struct ScriptedLoad : ServerLoad {
    std::vector<uint64_t> active_conns, inactive_conns;
    uint64_t active(uint16_t id) const override {
        return id < active_conns.size() ? active_conns[id] : 0;
    }
    uint64_t inactive(uint16_t id) const override {
        return id < inactive_conns.size() ? inactive_conns[id] : 0;
    }
};

// A scheduler with the state its kind shares between workers, as Snapshot::finalize makes them.
struct Built {
    std::unique_ptr<SharedSchedulerState> shared;
    std::unique_ptr<Scheduler> scheduler;
};

Built build(SchedulerKind kind, const std::vector<Destination>& s) {
    Built b;
    b.shared = make_shared_state(kind, s);
    b.scheduler = make_scheduler(kind, s, *b.shared);
    return b;
}

// An inbound key from client `src` to `dst`, host-order addresses.
FlowKey flow(uint32_t src, uint32_t dst = 0xc6120064, uint16_t src_port = 40000) {
    FlowKey k;
    k.src_ip = htonl(src);
    k.dst_ip = htonl(dst);
    k.src_port = htons(src_port);
    k.dst_port = htons(80);
    k.protocol = 6;
    return k;
}

char letter(int32_t pick) {
    return pick == Scheduler::kNone ? '-' : static_cast<char>('A' + pick);
}

// n picks for one flow key under fixed counts.
std::string sequence(SchedulerKind kind, const std::vector<Destination>& s, int n,
                     const ScriptedLoad& load = {}) {
    Built b = build(kind, s);
    std::string out;
    for (int i = 0; i < n; ++i) {
        out += letter(b.scheduler->pick(s, flow(0), load));
    }
    return out;
}

// n picks where each picked server gains one active connection, as if every one established.
std::string growing(SchedulerKind kind, const std::vector<Destination>& s, int n) {
    Built b = build(kind, s);
    ScriptedLoad load;
    load.active_conns.assign(s.size(), 0);
    std::string out;
    for (int i = 0; i < n; ++i) {
        const int32_t pick = b.scheduler->pick(s, flow(0), load);
        out += letter(pick);
        if (pick != Scheduler::kNone) {
            ++load.active_conns[static_cast<size_t>(pick)];
        }
    }
    return out;
}

// The one pick for each of `clients` (host-order addresses).
std::vector<int32_t> picks(Scheduler& sched, const std::vector<Destination>& s,
                           const std::vector<uint32_t>& clients, const ServerLoad& load) {
    std::vector<int32_t> out;
    for (uint32_t c : clients) {
        out.push_back(sched.pick(s, flow(c), load));
    }
    return out;
}

std::vector<uint32_t> client_range(uint32_t first, uint32_t count) {
    std::vector<uint32_t> out;
    for (uint32_t i = 0; i < count; ++i) {
        // Spread over the address space: consecutive addresses are not what arrives.
        out.push_back(first + i * 2654435761u);
    }
    return out;
}

}  // namespace

// ---- rr, wrr ---------------------------------------------------------------------------

TEST_CASE("wrr: weights 4,3,2 give A A B A B C A B C, repeating", "[sched]") {
    CHECK(sequence(SchedulerKind::wrr, servers({4, 3, 2}), 18) == "AABABCABCAABABCABC");
}

TEST_CASE("wrr: the seed's 1:2 gives exactly one A and two B in every three", "[sched]") {
    const std::string seq = sequence(SchedulerKind::wrr, servers({1, 2}), 300);
    for (size_t i = 0; i < seq.size(); i += 3) {
        std::string group = seq.substr(i, 3);
        INFO("group at " << i << ": " << group);
        CHECK(std::count(group.begin(), group.end(), 'A') == 1);
        CHECK(std::count(group.begin(), group.end(), 'B') == 2);
    }
    CHECK(seq.substr(0, 3) == "BAB");
}

TEST_CASE("wrr: gcd stepping (4,2 -> A A B) and weight 0 quiesces", "[sched]") {
    CHECK(sequence(SchedulerKind::wrr, servers({4, 2}), 6) == "AABAAB");
    CHECK(sequence(SchedulerKind::wrr, servers({0, 3, 0}), 4) == "BBBB");
    CHECK(sequence(SchedulerKind::wrr, servers({0, 0}), 3) == "---");
    CHECK(sequence(SchedulerKind::wrr, servers({}), 1) == "-");
    CHECK(sequence(SchedulerKind::wrr, servers({65535, 1}), 65537).find('B') != std::string::npos);
}

TEST_CASE("wrr: an overloaded server is skipped in its turns, as LVS does", "[sched]") {
    auto s = servers({4, 3, 2});
    s[1].max_connections = 5;
    ScriptedLoad load;
    load.inactive_conns = {0, 5, 0};
    // cw 4: A; cw 3: A (B skipped); cw 2: A C; cw 1: A C.
    CHECK(sequence(SchedulerKind::wrr, s, 12, load) == "AAACACAAACAC");
    // All overloaded: none, at once.
    s[0].max_connections = s[2].max_connections = 1;
    load.active_conns = {1, 0, 1};
    CHECK(sequence(SchedulerKind::wrr, s, 2, load) == "--");
}

TEST_CASE("rr: in order, skipping quiesced and overloaded servers", "[sched]") {
    CHECK(sequence(SchedulerKind::rr, servers({1, 5, 1}), 6) == "ABCABC");
    CHECK(sequence(SchedulerKind::rr, servers({1, 0, 1}), 4) == "ACAC");
    CHECK(sequence(SchedulerKind::rr, servers({0, 0}), 2) == "--");
    auto s = servers({1, 1, 1});
    s[2].max_connections = 2;
    ScriptedLoad load;
    load.active_conns = {0, 0, 2};
    CHECK(sequence(SchedulerKind::rr, s, 4, load) == "ABAB");
}

// ---- lc, wlc, sed, nq ------------------------------------------------------------------

TEST_CASE("lc: least active * 256 + inactive, weights ignored except 0", "[sched]") {
    auto s = servers({1, 5, 1});
    ScriptedLoad load;
    load.active_conns = {3, 2, 2};
    load.inactive_conns = {0, 0, 1};
    CHECK(sequence(SchedulerKind::lc, s, 1, load) == "B");  // 768, 512, 513
    load.inactive_conns = {0, 1, 0};
    CHECK(sequence(SchedulerKind::lc, s, 1, load) == "C");  // 768, 513, 512
    load.inactive_conns = {0, 0, 0};
    CHECK(sequence(SchedulerKind::lc, s, 1, load) == "B");  // a tie goes to the first
    CHECK(sequence(SchedulerKind::lc, servers({1, 0, 1}), 1, load) == "C");
    CHECK(sequence(SchedulerKind::lc, servers({0, 0}), 1, load) == "-");
    // Weight 5 earns B nothing: connections alternate.
    CHECK(growing(SchedulerKind::lc, servers({1, 5, 1}), 9) == "ABCABCABC");
}

TEST_CASE("wlc: least (active * 256 + inactive) / weight, cross-multiplied", "[sched]") {
    ScriptedLoad load;
    load.active_conns = {10, 10, 10};
    CHECK(sequence(SchedulerKind::wlc, servers({1, 2, 3}), 1, load) == "C");
    load.active_conns = {1, 1};
    load.inactive_conns = {5, 0};
    CHECK(sequence(SchedulerKind::wlc, servers({1, 1}), 1, load) == "B");  // 261 vs 256
    load.inactive_conns = {0, 0};
    CHECK(sequence(SchedulerKind::wlc, servers({1, 1}), 1, load) == "A");  // a tie
    // 300 inactive outweigh one active connection: 256 + 300 vs 512.
    load.active_conns = {1, 2};
    load.inactive_conns = {300, 0};
    CHECK(sequence(SchedulerKind::wlc, servers({1, 1}), 1, load) == "B");
    load.inactive_conns = {200, 0};
    CHECK(sequence(SchedulerKind::wlc, servers({1, 1}), 1, load) == "A");
    CHECK(sequence(SchedulerKind::wlc, servers({0, 0}), 1, load) == "-");
    // From nothing, weights 1,2,3: worked out by hand from LVS's loop.
    CHECK(growing(SchedulerKind::wlc, servers({1, 2, 3}), 8) == "ABCCBCAB");
    const std::string many = growing(SchedulerKind::wlc, servers({1, 2, 3}), 600);
    CHECK(std::count(many.begin(), many.end(), 'A') == 100);
    CHECK(std::count(many.begin(), many.end(), 'B') == 200);
    CHECK(std::count(many.begin(), many.end(), 'C') == 300);
}

TEST_CASE("sed: least (active + 1) / weight; inactive connections do not count", "[sched]") {
    CHECK(growing(SchedulerKind::sed, servers({1, 2, 3}), 6) == "CBCABC");
    ScriptedLoad load;
    load.inactive_conns = {100, 0};
    CHECK(sequence(SchedulerKind::sed, servers({1, 1}), 1, load) == "A");
    // An idle server of weight 1 loses to a busy one of weight 3: (0+1)/1 > (1+1)/3.
    load.active_conns = {0, 1};
    CHECK(sequence(SchedulerKind::sed, servers({1, 3}), 1, load) == "B");
}

TEST_CASE("nq: an idle server first, else as sed", "[sched]") {
    CHECK(growing(SchedulerKind::nq, servers({1, 3}), 7) == "ABBBBBA");
    ScriptedLoad load;
    load.active_conns = {0, 1};  // sed would pick B here
    CHECK(sequence(SchedulerKind::nq, servers({1, 3}), 1, load) == "A");
    load.active_conns = {2, 0, 0};
    CHECK(sequence(SchedulerKind::nq, servers({5, 0, 1}), 1, load) == "C");  // B is quiesced
}

// ---- sh, dh ----------------------------------------------------------------------------

TEST_CASE("sh: LVS's weighted 256 buckets, hashed from the client address", "[sched]") {
    // Weights 1,2 fill the buckets A B B A B B ...; client n lands in bucket
    // (n * 0x61C88647) >> 24: 0 -> 0, 1 -> 97, 2 -> 195, 3 -> 37.
    const auto s = servers({1, 2});
    Built b = build(SchedulerKind::sh, s);
    ScriptedLoad load;
    CHECK(picks(*b.scheduler, s, {0, 1, 2, 3}, load) == std::vector<int32_t>{0, 1, 0, 1});
    // The port does not matter, and the same client always gets the same server.
    for (uint16_t port = 1000; port < 1050; ++port) {
        CHECK(b.scheduler->pick(s, flow(1, 0xc6120064, port), load) == 1);
    }
    // Another instance (another worker) agrees on every client.
    Built other = build(SchedulerKind::sh, s);
    const auto clients = client_range(0x0a000001, 2000);
    CHECK(picks(*other.scheduler, s, clients, load) == picks(*b.scheduler, s, clients, load));
}

TEST_CASE("sh: a quiesced or overloaded server's clients fall back, the others stay", "[sched]") {
    auto s = servers({1, 2});
    s[1].max_connections = 1;
    Built b = build(SchedulerKind::sh, s);
    ScriptedLoad load;
    load.active_conns = {0, 1};
    // Client 1's bucket 97 is B's; LVS's walk starts at 2 * 97 = 194 (B), then 195 (A).
    CHECK(picks(*b.scheduler, s, {0, 1, 2, 3}, load) == std::vector<int32_t>{0, 0, 0, 0});
    // Weights 0,1 still give A one bucket in turn (LVS), whose clients go on to B.
    const auto q = servers({0, 1});
    Built b2 = build(SchedulerKind::sh, q);
    CHECK(picks(*b2.scheduler, q, {0, 1, 2, 3}, ScriptedLoad{}) ==
          std::vector<int32_t>{1, 1, 1, 1});
    CHECK(sequence(SchedulerKind::sh, servers({0, 0}), 1) == "-");
    CHECK(sequence(SchedulerKind::sh, servers({}), 1) == "-");
}

TEST_CASE("dh: the destination (the VIP) picks the server; weights only quiesce", "[sched]") {
    // dh's table gives each server one bucket in turn: A B A B ... whatever the weights.
    const auto s = servers({1, 5});
    Built b = build(SchedulerKind::dh, s);
    ScriptedLoad load;
    std::vector<int32_t> by_vip;
    for (uint32_t vip : {0u, 1u, 2u, 3u}) {
        by_vip.push_back(b.scheduler->pick(s, flow(0x0a000001, vip), load));
    }
    CHECK(by_vip == std::vector<int32_t>{0, 1, 1, 1});  // buckets 0, 97, 195, 37
    // Every client of one VIP reaches the same server.
    for (uint32_t client : client_range(0x0a000001, 200)) {
        CHECK(b.scheduler->pick(s, flow(client, 1), load) == 1);
    }
    auto q = servers({1, 0});
    Built b2 = build(SchedulerKind::dh, q);
    CHECK(b2.scheduler->pick(q, flow(0x0a000001, 1), load) == 0);  // falls back from B
}

// ---- mh --------------------------------------------------------------------------------

TEST_CASE("mh: the table is fully populated and shares follow the weights", "[sched]") {
    const auto s = servers({1, 2, 3, 4});
    const std::vector<uint16_t> t = MaglevHash::build_table(s);
    REQUIRE(t.size() == MaglevHash::kTableSize);
    std::vector<uint32_t> count(s.size());
    for (uint16_t slot : t) {
        REQUIRE(slot < s.size());
        ++count[slot];
    }
    for (size_t i = 0; i < s.size(); ++i) {
        const double share = static_cast<double>(count[i]) / MaglevHash::kTableSize;
        INFO("server " << i << " share " << share);
        CHECK(share == Approx(static_cast<double>(i + 1) / 10).margin(0.001));
    }
    // Weight 0 takes no slot; no weight at all leaves the table empty.
    const std::vector<uint16_t> q = MaglevHash::build_table(servers({3, 0, 3}));
    CHECK(std::count(q.begin(), q.end(), 1) == 0);
    CHECK(std::count(q.begin(), q.end(), 0) == Approx(65537 / 2).margin(1));
    const std::vector<uint16_t> none = MaglevHash::build_table(servers({0, 0}));
    CHECK(std::all_of(none.begin(), none.end(),
                      [](uint16_t v) { return v == SharedSchedulerState::kEmpty; }));
    CHECK(sequence(SchedulerKind::mh, servers({0, 0}), 1) == "-");
}

TEST_CASE("mh: every instance, and every director, picks the same server for a client", "[sched]") {
    const auto s = servers({1, 1, 1, 1, 1});
    Built a = build(SchedulerKind::mh, s);
    const auto copy = s;  // another process's snapshot: equal config, other memory
    Built b = build(SchedulerKind::mh, copy);
    CHECK(a.shared->slots == b.shared->slots);
    const auto clients = client_range(0xc6120001, 5000);
    ScriptedLoad load;
    CHECK(picks(*a.scheduler, s, clients, load) == picks(*b.scheduler, copy, clients, load));
    // Pinned values: the hashes are fixed, so a change here breaks agreement with directors
    // running an older vsnat.
    CHECK(picks(*a.scheduler, s, {0xc6120001, 0xc6120002, 0xc6120003, 0xc6120004, 0x0a000001},
                load) == std::vector<int32_t>{1, 0, 4, 3, 2});
    // The client port does not matter.
    for (uint16_t port = 1000; port < 1050; ++port) {
        CHECK(a.scheduler->pick(s, flow(0xc6120001, 0xc6120064, port), load) == 1);
    }
}

TEST_CASE("mh: removing one of N servers moves little more than its 1/N of clients", "[sched]") {
    constexpr size_t kServers = 10;
    const auto all = servers(std::vector<uint32_t>(kServers, 1));
    auto fewer = all;
    fewer.erase(fewer.begin() + 4);  // the fifth server goes: the others keep their ids
    Built before = build(SchedulerKind::mh, all);
    Built after = build(SchedulerKind::mh, fewer);
    const auto clients = client_range(0x0a000001, 100000);
    ScriptedLoad load;
    const auto p0 = picks(*before.scheduler, all, clients, load);
    const auto p1 = picks(*after.scheduler, fewer, clients, load);
    size_t moved = 0, had_removed = 0;
    for (size_t i = 0; i < clients.size(); ++i) {
        const uint16_t was = all[static_cast<size_t>(p0[i])].dest_id;
        const uint16_t now = fewer[static_cast<size_t>(p1[i])].dest_id;
        had_removed += was == 4;
        moved += was != now;
    }
    const double share = static_cast<double>(moved) / static_cast<double>(clients.size());
    INFO("moved " << moved << " of " << clients.size() << ", " << had_removed
                  << " were on the removed server");
    CHECK(had_removed == Approx(clients.size() / kServers).epsilon(0.05));
    // Those had to move; Maglev moves a few more (measured here: 10.3% for 1/10).
    CHECK(share <= 1.1 / kServers);
}

TEST_CASE("mh: an overloaded server's clients go elsewhere, the others stay", "[sched]") {
    auto s = servers({1, 1, 1});
    Built b = build(SchedulerKind::mh, s);
    const auto clients = client_range(0x0a000001, 3000);
    const auto free_run = picks(*b.scheduler, s, clients, ScriptedLoad{});
    s[1].max_connections = 4;
    Built limited = build(SchedulerKind::mh, s);
    ScriptedLoad load;
    load.active_conns = {0, 4, 0};
    const auto overloaded = picks(*limited.scheduler, s, clients, load);
    for (size_t i = 0; i < clients.size(); ++i) {
        if (free_run[i] == 1) {
            CHECK(overloaded[i] != 1);
            CHECK(overloaded[i] != Scheduler::kNone);
        } else {
            CHECK(overloaded[i] == free_run[i]);
        }
    }
    s[0].max_connections = s[2].max_connections = 1;
    load.inactive_conns = {1, 0, 1};
    Built full = build(SchedulerKind::mh, s);
    CHECK(full.scheduler->pick(s, flow(clients[0]), load) == Scheduler::kNone);
}

// ---- fo --------------------------------------------------------------------------------

TEST_CASE("fo: the highest weight available server, the first of equals", "[sched]") {
    CHECK(sequence(SchedulerKind::fo, servers({3, 5, 5, 1}), 4) == "BBBB");
    auto s = servers({3, 5, 5, 1});
    s[1].max_connections = 10;
    ScriptedLoad load;
    load.active_conns = {0, 10};
    CHECK(sequence(SchedulerKind::fo, s, 2, load) == "CC");
    CHECK(sequence(SchedulerKind::fo, servers({0, 0, 2}), 2) == "CC");
    CHECK(sequence(SchedulerKind::fo, servers({0, 0}), 1) == "-");
}

// ---- thresholds ------------------------------------------------------------------------

TEST_CASE("thresholds: overloaded at max, available again below min (hysteresis)", "[sched]") {
    auto s = servers({1});
    s[0].max_connections = 10;
    s[0].min_connections = 5;
    Built b = build(SchedulerKind::rr, s);
    ScriptedLoad load;
    auto at = [&](uint64_t active, uint64_t inactive) {
        load.active_conns = {active};
        load.inactive_conns = {inactive};
        return letter(b.scheduler->pick(s, flow(0), load));
    };
    // Active and inactive connections both count. Rising: available up to 9.
    CHECK(at(4, 5) == 'A');
    CHECK(at(5, 5) == '-');  // 10: overloaded
    CHECK(at(3, 4) == '-');  // 7: still, until below 5
    CHECK(at(5, 0) == '-');  // 5: not below
    CHECK(at(2, 2) == 'A');  // 4: available again
    CHECK(at(9, 0) == 'A');  // 9: below max, not overloaded
    CHECK(at(10, 0) == '-');
}

TEST_CASE("thresholds: without min_connections, available again below 3/4 of max", "[sched]") {
    for (SchedulerKind kind : {SchedulerKind::wlc, SchedulerKind::fo, SchedulerKind::sh,
                               SchedulerKind::mh, SchedulerKind::nq}) {
        auto s = servers({1});
        s[0].max_connections = 8;
        Built b = build(kind, s);
        ScriptedLoad load;
        auto at = [&](uint64_t active) {
            load.active_conns = {active};
            return letter(b.scheduler->pick(s, flow(7), load));
        };
        INFO("scheduler " << static_cast<int>(kind));
        CHECK(at(7) == 'A');
        CHECK(at(8) == '-');
        CHECK(at(6) == '-');  // 6 * 4 == 8 * 3: not below
        CHECK(at(5) == 'A');
        CHECK(at(7) == 'A');
    }
}

TEST_CASE("thresholds: every worker's scheduler of a service shares the overload flag", "[sched]") {
    auto s = servers({1, 1});
    s[1].max_connections = 10;
    s[1].min_connections = 5;
    auto shared = make_shared_state(SchedulerKind::lc, s);
    auto worker0 = make_scheduler(SchedulerKind::lc, s, *shared);
    auto worker1 = make_scheduler(SchedulerKind::lc, s, *shared);
    ScriptedLoad load;
    load.active_conns = {20, 10};
    CHECK(worker0->pick(s, flow(0), load) == 0);  // B at its max: A, though busier
    // B drops to 7: worker 1 never saw it at 10, yet knows it is still overloaded.
    load.active_conns = {20, 7};
    CHECK(worker1->pick(s, flow(0), load) == 0);
    load.active_conns = {20, 4};
    CHECK(worker1->pick(s, flow(0), load) == 1);
    CHECK(worker0->pick(s, flow(0), load) == 1);
}
