// The neighbor table: removal and slot reuse behind lock-free readers, aging with time as a
// parameter, and readers that never see a MAC that is not their key's while the writer churns.
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "dp/neighbor.hpp"

using namespace vsnat;
using dp::NeighborAging;
using dp::NeighborKind;
using dp::NeighborTable;
using Result = NeighborTable::SetResult;

namespace {

uint32_t host(uint32_t i) {
    return htonl(0xc6120000 + i);  // 198.18.x.y
}

// A MAC that names its address and a version: a reader can tell whose it is.
MacAddress mac_of(uint32_t ip, uint8_t version = 0) {
    MacAddress m{};
    m[0] = 0x02;
    m[1] = version;
    std::memcpy(&m[2], &ip, 4);
    return m;
}

uint32_t ip_in(const MacAddress& m) {
    uint32_t ip;
    std::memcpy(&ip, &m[2], 4);
    return ip;
}

struct Events {
    std::vector<NeighborAging> seen;
    bool send = true;  // what a probe's sender answers
    std::function<bool(const NeighborAging&)> fn() {
        return [this](const NeighborAging& a) {
            seen.push_back(a);
            return a.what != NeighborAging::What::probe || send;
        };
    }
    size_t count(NeighborAging::What w) const {
        return static_cast<size_t>(std::count_if(
            seen.begin(), seen.end(), [w](const NeighborAging& a) { return a.what == w; }));
    }
};

}  // namespace

TEST_CASE("neighbors: set, find, change, erase, and the slot taken again", "[neighbor]") {
    NeighborTable t(16);
    MacAddress mac;
    CHECK(t.set(0, host(1), mac_of(host(1)), NeighborKind::learned, 0) == Result::added);
    CHECK(t.set(1, host(1), mac_of(host(1), 1), NeighborKind::learned, 0) == Result::added);
    CHECK(t.size() == 2);
    REQUIRE(t.lookup(0, host(1), mac));
    CHECK(mac == mac_of(host(1)));
    CHECK(t.find(1, host(1)) == mac_of(host(1), 1));  // per port
    CHECK(t.set(0, host(1), mac_of(host(1)), NeighborKind::learned, 5) == Result::confirmed);
    CHECK(t.set(0, host(1), mac_of(host(1), 7), NeighborKind::learned, 5) == Result::changed);
    CHECK(t.find(0, host(1)) == mac_of(host(1), 7));
    CHECK(t.erase(0, host(1)));
    CHECK_FALSE(t.erase(0, host(1)));
    CHECK_FALSE(t.lookup(0, host(1), mac));
    CHECK(t.find(1, host(1)) == mac_of(host(1), 1));
    CHECK(t.size() == 1);
    CHECK(t.set(0, host(1), mac_of(host(1), 2), NeighborKind::learned, 9) == Result::added);
    CHECK(t.find(0, host(1)) == mac_of(host(1), 2));
    CHECK(t.kind(0, host(1)) == NeighborKind::learned);
    CHECK(t.kind(0, host(2)) == std::nullopt);
}

TEST_CASE("neighbors: a full table takes new hosts once old ones are removed", "[neighbor]") {
    NeighborTable t(64);
    for (uint32_t i = 0; i < 64; ++i) {
        REQUIRE(t.set(0, host(i), mac_of(host(i)), NeighborKind::learned, 0) == Result::added);
    }
    CHECK(t.set(0, host(1000), mac_of(host(1000)), NeighborKind::learned, 0) == Result::full);
    CHECK(t.set(0, host(3), mac_of(host(3), 1), NeighborKind::learned, 0) == Result::changed);
    CHECK(t.erase(0, host(10)));
    CHECK(t.set(0, host(1000), mac_of(host(1000)), NeighborKind::learned, 0) == Result::added);
    CHECK(t.size() == 64);
}

TEST_CASE("neighbors: in a full table a next hop or a static entry takes a learned one's place",
          "[neighbor]") {
    NeighborTable t(4);
    t.set(0, host(1), mac_of(host(1)), NeighborKind::learned, 3000);
    t.set(0, host(2), mac_of(host(2)), NeighborKind::learned, 1000);  // used longest ago
    t.set(0, host(3), mac_of(host(3)), NeighborKind::learned, 2000);
    t.set(0, host(4), mac_of(host(4)), NeighborKind::next_hop, 0);
    CHECK(t.set(0, host(5), mac_of(host(5)), NeighborKind::learned, 4000) == Result::full);
    CHECK(t.set(0, host(6), mac_of(host(6)), NeighborKind::next_hop, 4000) == Result::added);
    CHECK_FALSE(t.find(0, host(2)).has_value());
    CHECK(t.set(0, host(7), mac_of(host(7)), NeighborKind::fixed, 4000) == Result::added);
    CHECK_FALSE(t.find(0, host(3)).has_value());
    CHECK(t.set(0, host(8), mac_of(host(8)), NeighborKind::fixed, 4000) == Result::added);
    CHECK_FALSE(t.find(0, host(1)).has_value());
    // Nothing learned is left to give way.
    CHECK(t.set(0, host(9), mac_of(host(9)), NeighborKind::fixed, 4000) == Result::full);
    CHECK(t.size() == 4);
    for (uint32_t i : {4, 6, 7, 8}) {
        CHECK(t.find(0, host(i)) == mac_of(host(i)));
    }
}

TEST_CASE("neighbors: churn through tombstones keeps every key findable", "[neighbor]") {
    // 32 live keys in 64 slots, one replaced per round for 200,000 rounds: chains run through
    // tombstones and reused slots all the time. A removal that broke a chain (an emptied slot
    // in front of a live key) would lose a live key; a reuse that left a tombstone for ever
    // would fill the table.
    NeighborTable t(32);
    constexpr uint32_t kLive = 32, kRounds = 200000;
    for (uint32_t i = 0; i < kLive; ++i) {
        REQUIRE(t.set(0, host(i), mac_of(host(i)), NeighborKind::learned, 0) == Result::added);
    }
    uint32_t lost = 0, wrong = 0, stale = 0;
    for (uint32_t r = 0; r < kRounds; ++r) {
        REQUIRE(t.erase(0, host(r)));
        REQUIRE(t.set(0, host(r + kLive), mac_of(host(r + kLive)), NeighborKind::learned, 0) ==
                Result::added);
        if (r % 97 == 0) {
            for (uint32_t i = r + 1; i <= r + kLive; ++i) {
                MacAddress mac;
                if (!t.lookup(0, host(i), mac)) {
                    ++lost;
                } else if (mac != mac_of(host(i))) {
                    ++wrong;
                }
            }
            stale += t.find(0, host(r)).has_value() ? 1 : 0;
        }
    }
    CHECK(lost == 0);
    CHECK(wrong == 0);
    CHECK(stale == 0);
    CHECK(t.size() == kLive);
}

TEST_CASE("neighbors: an unused learned entry expires after kIdleMs", "[neighbor]") {
    NeighborTable t(16);
    t.set(0, host(1), mac_of(host(1)), NeighborKind::learned, 1000);
    t.set(0, host(2), mac_of(host(2)), NeighborKind::next_hop, 1000);
    t.set(0, host(3), mac_of(host(3)), NeighborKind::fixed, 1000);
    Events ev;
    for (uint64_t now = 2000; now < 1000 + NeighborTable::kIdleMs; now += 1000) {
        t.age(now, ev.fn());
    }
    CHECK(ev.seen.empty());
    CHECK(t.find(0, host(1)).has_value());
    t.age(1000 + NeighborTable::kIdleMs, ev.fn());
    REQUIRE(ev.seen.size() == 1);
    CHECK(ev.seen[0].what == NeighborAging::What::expired_idle);
    CHECK(ev.seen[0].ip == host(1));
    CHECK(ev.seen[0].mac == mac_of(host(1)));
    CHECK_FALSE(t.find(0, host(1)).has_value());
    // Next hops and static entries never expire, used or not.
    t.age(1000 + 100 * NeighborTable::kIdleMs, ev.fn());
    CHECK(ev.seen.size() == 1);
    CHECK(t.find(0, host(2)).has_value());
    CHECK(t.find(0, host(3)).has_value());
    CHECK(t.size() == 2);
}

TEST_CASE("neighbors: an entry in use is probed when stale, kept if it answers", "[neighbor]") {
    using W = NeighborAging::What;
    NeighborTable t(16);
    t.set(0, host(1), mac_of(host(1)), NeighborKind::learned, 0);
    Events ev;
    MacAddress mac;
    uint64_t now = 0;
    auto use_and_age = [&](uint64_t until) {
        for (; now <= until; now += 1000) {
            REQUIRE(t.lookup(0, host(1), mac));  // the packet path uses it
            t.age(now, ev.fn());
        }
    };
    use_and_age(NeighborTable::kReachableMs - 1000);
    CHECK(ev.seen.empty());  // confirmed lately: used without asking
    use_and_age(NeighborTable::kReachableMs);
    REQUIRE(ev.count(W::probe) == 1);
    CHECK(ev.seen[0].ip == host(1));
    // The answer confirms it: no more probes for another kReachableMs.
    t.set(0, host(1), mac_of(host(1)), NeighborKind::learned, now);
    const uint64_t confirmed = now;
    use_and_age(confirmed + NeighborTable::kReachableMs - 1000);
    CHECK(ev.count(W::probe) == 1);
    CHECK(t.size() == 1);
    // Now it stops answering: kProbes requests a second apart, then it goes.
    use_and_age(confirmed + NeighborTable::kReachableMs + NeighborTable::kProbes * 1000);
    CHECK(ev.count(W::probe) == 1 + NeighborTable::kProbes);
    CHECK(ev.count(W::expired_unconfirmed) == 1);
    CHECK_FALSE(t.find(0, host(1)).has_value());
}

TEST_CASE("neighbors: a stale entry nobody uses is not probed; a probe not sent is retried",
          "[neighbor]") {
    using W = NeighborAging::What;
    NeighborTable t(16);
    t.set(0, host(1), mac_of(host(1)), NeighborKind::learned, 0);
    Events ev;
    for (uint64_t now = 1000; now < NeighborTable::kIdleMs; now += 1000) {
        t.age(now, ev.fn());
    }
    CHECK(ev.count(W::probe) == 0);  // stale since 30 s, unused: the idle expiry decides
    MacAddress mac;
    REQUIRE(t.lookup(0, host(1), mac));
    ev.send = false;
    t.age(NeighborTable::kIdleMs, ev.fn());
    t.age(NeighborTable::kIdleMs + 1, ev.fn());
    CHECK(ev.count(W::probe) == 2);  // not sent (the order ring was full): asked again at once
    ev.send = true;
    t.age(NeighborTable::kIdleMs + 2, ev.fn());
    CHECK(ev.count(W::probe) == 3);
    t.age(NeighborTable::kIdleMs + 3, ev.fn());
    CHECK(ev.count(W::probe) == 3);  // sent: the next one a second later
    CHECK(t.find(0, host(1)).has_value());
}

TEST_CASE("neighbors: kinds change with the configuration", "[neighbor]") {
    NeighborTable t(16);
    t.set(0, host(1), mac_of(host(1)), NeighborKind::fixed, 0);
    t.set(0, host(2), mac_of(host(2)), NeighborKind::next_hop, 0);
    t.set(0, host(3), mac_of(host(3)), NeighborKind::learned, 0);
    t.unpin_all(50000);
    CHECK(t.kind(0, host(1)) == NeighborKind::learned);
    CHECK(t.kind(0, host(2)) == NeighborKind::learned);
    CHECK(t.set_kind(0, host(2), NeighborKind::next_hop, 50000));
    CHECK_FALSE(t.set_kind(0, host(9), NeighborKind::next_hop, 50000));
    Events ev;
    // The learned one ages from its own confirmation; the unpinned static one from the unpin.
    t.age(NeighborTable::kIdleMs, ev.fn());
    CHECK_FALSE(t.find(0, host(3)).has_value());
    CHECK(t.find(0, host(1)).has_value());
    t.age(50000 + NeighborTable::kIdleMs, ev.fn());
    CHECK_FALSE(t.find(0, host(1)).has_value());
    CHECK(t.find(0, host(2)).has_value());
    std::vector<uint32_t> listed;
    t.for_each([&](uint16_t, uint32_t ip, const MacAddress& m, NeighborKind k) {
        listed.push_back(ip);
        CHECK(m == mac_of(ip));
        CHECK(k == NeighborKind::next_hop);
    });
    CHECK(listed == std::vector<uint32_t>{host(2)});
}

TEST_CASE("neighbors: readers during writes never see another key's MAC", "[neighbor][threads]") {
    // A small table and many keys: the writer removes and adds all the time, so slots pass from
    // key to key under the readers. Each MAC names its key; a reader that kept a MAC naming
    // another address would send a packet to the wrong host. One reader pauses between its two
    // loads of a slot (key, MAC), as a preempted worker would, so that slots are reused inside
    // that window; the other reads as the packet path does. The writer goes on until both have
    // found MACs a while (bounded: 10 s), however the threads are scheduled.
    NeighborTable t(8);
    constexpr uint32_t kKeys = 24;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> found_paused{0}, found_plain{0}, wrong{0};
    auto reader = [&](bool pause, std::atomic<uint64_t>& found) {
        MacAddress mac;
        for (uint32_t i = 0; !stop.load(std::memory_order_relaxed); i = (i + 1) % kKeys) {
            const bool hit =
                pause ? t.lookup_between(0, host(i), mac, [] { std::this_thread::yield(); })
                      : t.lookup(0, host(i), mac);
            if (hit) {
                found.fetch_add(1, std::memory_order_relaxed);
                if (ip_in(mac) != host(i)) {
                    wrong.fetch_add(1, std::memory_order_relaxed);
                }
            }
        }
    };
    std::thread paused(reader, true, std::ref(found_paused));
    std::thread plain(reader, false, std::ref(found_plain));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    uint32_t round = 0;
    for (; round < 400000 || ((found_paused.load() < 1000 || found_plain.load() < 1000) &&
                              std::chrono::steady_clock::now() < deadline);
         ++round) {
        const uint32_t in = round % kKeys, out = (round + kKeys - 8) % kKeys;
        t.erase(0, host(out));
        t.set(0, host(in), mac_of(host(in), static_cast<uint8_t>(round)), NeighborKind::learned, 0);
    }
    stop = true;
    paused.join();
    plain.join();
    INFO("writes: " << round << ", MACs found: " << found_paused.load() << " pausing, "
                    << found_plain.load() << " not");
    CHECK(found_paused.load() >= 1000);
    CHECK(found_plain.load() >= 1000);
    CHECK(wrong.load() == 0);
}
