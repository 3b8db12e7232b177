// The neighbor tables, IPv4's and IPv6's through the same cases: removal and slot reuse behind
// lock-free readers, aging with time as a parameter, and readers that never see a MAC that is not
// their key's while the writer churns.
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
using dp::NeighborAgingWhat;
using dp::NeighborKind;
using dp::NeighborTable;
using dp::NeighborTable6;
using Result = dp::NeighborTableBase::SetResult;

namespace {

// The address family a case runs with: its table, and host(i), the i-th address of the case.
struct V4 {
    using Table = NeighborTable;
    static constexpr uint32_t kWindows = 1;  // lookup_between's: after the key word
    static uint32_t host(uint32_t i) {
        return htonl(0xc6120000 + i);  // 198.18.x.y
    }
};
// 2001:db8:<i, 4 bytes>::<i / 2 + 1, 4 bytes>: hosts 2k and 2k + 1 share the last four bytes, so
// the first key word (port and those bytes) too, and differ in the other words.
struct V6 {
    using Table = NeighborTable6;
    static constexpr uint32_t kWindows = 2;  // after the first key word, after the MAC
    static Ipv6 host(uint32_t i) {
        Ipv6 a{0x20, 0x01, 0x0d, 0xb8};
        const uint32_t prefix = htonl(i), last = htonl(i / 2 + 1);
        std::memcpy(&a[4], &prefix, 4);
        std::memcpy(&a[12], &last, 4);
        return a;
    }
};

// A MAC that names its host and a version: a reader can tell whose it is.
MacAddress mac_of(uint32_t host_index, uint8_t version = 0) {
    MacAddress m{};
    m[0] = 0x02;
    m[1] = version;
    std::memcpy(&m[2], &host_index, 4);
    return m;
}

uint32_t host_in(const MacAddress& m) {
    uint32_t i;
    std::memcpy(&i, &m[2], 4);
    return i;
}

template <class Table>
struct Events {
    using Aging = typename Table::Aging;
    std::vector<Aging> seen;
    bool send = true;  // what a probe's sender answers
    std::function<bool(const Aging&)> fn() {
        return [this](const Aging& a) {
            seen.push_back(a);
            return a.what != NeighborAgingWhat::probe || send;
        };
    }
    size_t count(NeighborAgingWhat w) const {
        return static_cast<size_t>(
            std::count_if(seen.begin(), seen.end(), [w](const Aging& a) { return a.what == w; }));
    }
};

}  // namespace

TEMPLATE_TEST_CASE("neighbors: set, find, change, erase, and the slot taken again", "[neighbor]",
                   V4, V6) {
    const auto host = TestType::host;
    typename TestType::Table t(16);
    MacAddress mac;
    CHECK(t.set(0, host(1), mac_of(1), NeighborKind::learned, 0) == Result::added);
    CHECK(t.set(1, host(1), mac_of(1, 1), NeighborKind::learned, 0) == Result::added);
    CHECK(t.size() == 2);
    REQUIRE(t.lookup(0, host(1), mac));
    CHECK(mac == mac_of(1));
    CHECK(t.find(1, host(1)) == mac_of(1, 1));  // per port
    CHECK(t.set(0, host(1), mac_of(1), NeighborKind::learned, 5) == Result::confirmed);
    CHECK(t.set(0, host(1), mac_of(1, 7), NeighborKind::learned, 5) == Result::changed);
    CHECK(t.find(0, host(1)) == mac_of(1, 7));
    CHECK(t.erase(0, host(1)));
    CHECK_FALSE(t.erase(0, host(1)));
    CHECK_FALSE(t.lookup(0, host(1), mac));
    CHECK(t.find(1, host(1)) == mac_of(1, 1));
    CHECK(t.size() == 1);
    CHECK(t.set(0, host(1), mac_of(1, 2), NeighborKind::learned, 9) == Result::added);
    CHECK(t.find(0, host(1)) == mac_of(1, 2));
    CHECK(t.kind(0, host(1)) == NeighborKind::learned);
    CHECK(t.kind(0, host(2)) == std::nullopt);
}

TEST_CASE("neighbors6: addresses that differ in any one byte are different neighbors",
          "[neighbor]") {
    // Each byte of the address sits in one of the three key words; the first word (port and
    // the last four bytes) is compared first, the others only when it matches.
    NeighborTable6 t(64);
    const Ipv6 base = V6::host(7);
    auto with_byte = [&](uint32_t b) {
        Ipv6 a = base;
        a[b] ^= 0x80;
        return a;
    };
    REQUIRE(t.set(0, base, mac_of(100), NeighborKind::learned, 0) == Result::added);
    for (uint32_t b = 0; b < 16; ++b) {
        REQUIRE(t.set(0, with_byte(b), mac_of(b), NeighborKind::learned, 0) == Result::added);
    }
    CHECK(t.size() == 17);
    CHECK(t.find(0, base) == mac_of(100));
    CHECK_FALSE(t.find(1, base).has_value());
    for (uint32_t b = 0; b < 16; ++b) {
        CHECK(t.find(0, with_byte(b)) == mac_of(b));
        CHECK(t.kind(0, with_byte(b)) == NeighborKind::learned);
    }
    // Removing some leaves the others, the ones that share their first word among them.
    for (uint32_t b = 0; b < 16; b += 2) {
        REQUIRE(t.erase(0, with_byte(b)));
    }
    CHECK(t.find(0, base) == mac_of(100));
    for (uint32_t b = 0; b < 16; ++b) {
        CHECK(t.find(0, with_byte(b)) == (b % 2 == 0 ? std::nullopt : std::optional(mac_of(b))));
    }
    // for_each gives back every byte of each address.
    std::vector<Ipv6> listed;
    t.for_each([&](uint16_t port, const Ipv6& ip, const MacAddress& m, NeighborKind) {
        CHECK(port == 0);
        CHECK(t.find(0, ip) == m);
        listed.push_back(ip);
    });
    std::sort(listed.begin(), listed.end());
    std::vector<Ipv6> expected{base};
    for (uint32_t b = 1; b < 16; b += 2) {
        expected.push_back(with_byte(b));
    }
    std::sort(expected.begin(), expected.end());
    CHECK(listed == expected);
}

TEMPLATE_TEST_CASE("neighbors: a full table takes new hosts once old ones are removed",
                   "[neighbor]", V4, V6) {
    const auto host = TestType::host;
    typename TestType::Table t(64);
    for (uint32_t i = 0; i < 64; ++i) {
        REQUIRE(t.set(0, host(i), mac_of(i), NeighborKind::learned, 0) == Result::added);
    }
    CHECK(t.set(0, host(1000), mac_of(1000), NeighborKind::learned, 0) == Result::full);
    CHECK(t.set(0, host(3), mac_of(3, 1), NeighborKind::learned, 0) == Result::changed);
    CHECK(t.erase(0, host(10)));
    CHECK(t.set(0, host(1000), mac_of(1000), NeighborKind::learned, 0) == Result::added);
    CHECK(t.size() == 64);
}

TEMPLATE_TEST_CASE(
    "neighbors: in a full table a next hop or a static entry takes a learned one's "
    "place",
    "[neighbor]", V4, V6) {
    const auto host = TestType::host;
    typename TestType::Table t(4);
    t.set(0, host(1), mac_of(1), NeighborKind::learned, 3000);
    t.set(0, host(2), mac_of(2), NeighborKind::learned, 1000);  // used longest ago
    t.set(0, host(3), mac_of(3), NeighborKind::learned, 2000);
    t.set(0, host(4), mac_of(4), NeighborKind::next_hop, 0);
    CHECK(t.set(0, host(5), mac_of(5), NeighborKind::learned, 4000) == Result::full);
    CHECK(t.set(0, host(6), mac_of(6), NeighborKind::next_hop, 4000) == Result::added);
    CHECK_FALSE(t.find(0, host(2)).has_value());
    CHECK(t.set(0, host(7), mac_of(7), NeighborKind::fixed, 4000) == Result::added);
    CHECK_FALSE(t.find(0, host(3)).has_value());
    CHECK(t.set(0, host(8), mac_of(8), NeighborKind::fixed, 4000) == Result::added);
    CHECK_FALSE(t.find(0, host(1)).has_value());
    // Nothing learned is left to give way.
    CHECK(t.set(0, host(9), mac_of(9), NeighborKind::fixed, 4000) == Result::full);
    CHECK(t.size() == 4);
    for (uint32_t i : {4, 6, 7, 8}) {
        CHECK(t.find(0, host(i)) == mac_of(i));
    }
}

TEMPLATE_TEST_CASE("neighbors: churn through tombstones keeps every key findable", "[neighbor]", V4,
                   V6) {
    // 32 live keys in 64 slots, one replaced per round for 200,000 rounds: chains run through
    // tombstones and reused slots all the time. A removal that broke a chain (an emptied slot
    // in front of a live key) would lose a live key; a reuse that left a tombstone for ever
    // would fill the table.
    const auto host = TestType::host;
    typename TestType::Table t(32);
    constexpr uint32_t kLive = 32, kRounds = 200000;
    for (uint32_t i = 0; i < kLive; ++i) {
        REQUIRE(t.set(0, host(i), mac_of(i), NeighborKind::learned, 0) == Result::added);
    }
    uint32_t lost = 0, wrong = 0, stale = 0;
    for (uint32_t r = 0; r < kRounds; ++r) {
        REQUIRE(t.erase(0, host(r)));
        REQUIRE(t.set(0, host(r + kLive), mac_of(r + kLive), NeighborKind::learned, 0) ==
                Result::added);
        if (r % 97 == 0) {
            for (uint32_t i = r + 1; i <= r + kLive; ++i) {
                MacAddress mac;
                if (!t.lookup(0, host(i), mac)) {
                    ++lost;
                } else if (mac != mac_of(i)) {
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

TEMPLATE_TEST_CASE("neighbors: an unused learned entry expires after kIdleMs", "[neighbor]", V4,
                   V6) {
    using Table = typename TestType::Table;
    const auto host = TestType::host;
    Table t(16);
    t.set(0, host(1), mac_of(1), NeighborKind::learned, 1000);
    t.set(0, host(2), mac_of(2), NeighborKind::next_hop, 1000);
    t.set(0, host(3), mac_of(3), NeighborKind::fixed, 1000);
    Events<Table> ev;
    for (uint64_t now = 2000; now < 1000 + Table::kIdleMs; now += 1000) {
        t.age(now, ev.fn());
    }
    CHECK(ev.seen.empty());
    CHECK(t.find(0, host(1)).has_value());
    t.age(1000 + Table::kIdleMs, ev.fn());
    REQUIRE(ev.seen.size() == 1);
    CHECK(ev.seen[0].what == NeighborAgingWhat::expired_idle);
    CHECK(ev.seen[0].ip == host(1));
    CHECK(ev.seen[0].port_id == 0);
    CHECK(ev.seen[0].mac == mac_of(1));
    CHECK_FALSE(t.find(0, host(1)).has_value());
    // Next hops and static entries never expire, used or not.
    t.age(1000 + 100 * Table::kIdleMs, ev.fn());
    CHECK(ev.seen.size() == 1);
    CHECK(t.find(0, host(2)).has_value());
    CHECK(t.find(0, host(3)).has_value());
    CHECK(t.size() == 2);
}

TEMPLATE_TEST_CASE("neighbors: an entry in use is probed when stale, kept if it answers",
                   "[neighbor]", V4, V6) {
    using Table = typename TestType::Table;
    using W = NeighborAgingWhat;
    const auto host = TestType::host;
    Table t(16);
    t.set(3, host(1), mac_of(1), NeighborKind::learned, 0);
    Events<Table> ev;
    MacAddress mac;
    uint64_t now = 0;
    auto use_and_age = [&](uint64_t until) {
        for (; now <= until; now += 1000) {
            REQUIRE(t.lookup(3, host(1), mac));  // the packet path uses it
            t.age(now, ev.fn());
        }
    };
    use_and_age(Table::kReachableMs - 1000);
    CHECK(ev.seen.empty());  // confirmed lately: used without asking
    use_and_age(Table::kReachableMs);
    REQUIRE(ev.count(W::probe) == 1);
    CHECK(ev.seen[0].ip == host(1));
    CHECK(ev.seen[0].port_id == 3);
    // The answer confirms it: no more probes for another kReachableMs.
    t.set(3, host(1), mac_of(1), NeighborKind::learned, now);
    const uint64_t confirmed = now;
    use_and_age(confirmed + Table::kReachableMs - 1000);
    CHECK(ev.count(W::probe) == 1);
    CHECK(t.size() == 1);
    // Now it stops answering: kProbes requests a second apart, then it goes.
    use_and_age(confirmed + Table::kReachableMs + Table::kProbes * 1000);
    CHECK(ev.count(W::probe) == 1 + Table::kProbes);
    CHECK(ev.count(W::expired_unconfirmed) == 1);
    CHECK_FALSE(t.find(3, host(1)).has_value());
}

TEMPLATE_TEST_CASE(
    "neighbors: a stale entry nobody uses is not probed; a probe not sent is "
    "retried",
    "[neighbor]", V4, V6) {
    using Table = typename TestType::Table;
    using W = NeighborAgingWhat;
    const auto host = TestType::host;
    Table t(16);
    t.set(0, host(1), mac_of(1), NeighborKind::learned, 0);
    Events<Table> ev;
    for (uint64_t now = 1000; now < Table::kIdleMs; now += 1000) {
        t.age(now, ev.fn());
    }
    CHECK(ev.count(W::probe) == 0);  // stale since 30 s, unused: the idle expiry decides
    MacAddress mac;
    REQUIRE(t.lookup(0, host(1), mac));
    ev.send = false;
    t.age(Table::kIdleMs, ev.fn());
    t.age(Table::kIdleMs + 1, ev.fn());
    CHECK(ev.count(W::probe) == 2);  // not sent (the order ring was full): asked again at once
    ev.send = true;
    t.age(Table::kIdleMs + 2, ev.fn());
    CHECK(ev.count(W::probe) == 3);
    t.age(Table::kIdleMs + 3, ev.fn());
    CHECK(ev.count(W::probe) == 3);  // sent: the next one a second later
    CHECK(t.find(0, host(1)).has_value());
}

TEMPLATE_TEST_CASE("neighbors: kinds change with the configuration", "[neighbor]", V4, V6) {
    using Table = typename TestType::Table;
    const auto host = TestType::host;
    Table t(16);
    t.set(0, host(1), mac_of(1), NeighborKind::fixed, 0);
    t.set(0, host(2), mac_of(2), NeighborKind::next_hop, 0);
    t.set(0, host(3), mac_of(3), NeighborKind::learned, 0);
    t.unpin_all(50000);
    CHECK(t.kind(0, host(1)) == NeighborKind::learned);
    CHECK(t.kind(0, host(2)) == NeighborKind::learned);
    CHECK(t.set_kind(0, host(2), NeighborKind::next_hop, 50000));
    CHECK_FALSE(t.set_kind(0, host(9), NeighborKind::next_hop, 50000));
    Events<Table> ev;
    // The learned one ages from its own confirmation; the unpinned static one from the unpin.
    t.age(Table::kIdleMs, ev.fn());
    CHECK_FALSE(t.find(0, host(3)).has_value());
    CHECK(t.find(0, host(1)).has_value());
    t.age(50000 + Table::kIdleMs, ev.fn());
    CHECK_FALSE(t.find(0, host(1)).has_value());
    CHECK(t.find(0, host(2)).has_value());
    std::vector<uint32_t> listed;
    t.for_each([&](uint16_t, const auto& ip, const MacAddress& m, NeighborKind k) {
        listed.push_back(host_in(m));
        CHECK(ip == host(host_in(m)));
        CHECK(k == NeighborKind::next_hop);
    });
    CHECK(listed == std::vector<uint32_t>{2});
}

TEMPLATE_TEST_CASE(
    "neighbors: a slot given to another key between a reader's loads is not read "
    "as one",
    "[neighbor]", V4, V6) {
    // The writer run inside each of a reader's windows (lookup_between), deterministically: the
    // entry the reader is at goes, and another host takes its place, often in the same slot (a
    // table of one entry has two). The reader wants the entry that went (its MAC, from before the
    // removal, or nothing) or the one that came (its MAC, or nothing), never the other's MAC.
    // IPv6's pair of hosts share the first key word, so the reader that wants the newcomer is at
    // the old entry's slot too, and in the second window it has read the old entry's MAC
    // already: only the generations of the further key words tell it the slot changed hands.
    const auto host = TestType::host;
    uint32_t misses_of_removed = 0, wrong = 0;
    for (uint32_t window = 0; window < TestType::kWindows; ++window) {
        for (uint32_t pair = 0; pair < 500; ++pair) {
            for (const bool want_newcomer : {false, true}) {
                const uint32_t gone = 2 * pair, came = 2 * pair + 1;
                typename TestType::Table t(1);
                REQUIRE(t.set(0, host(gone), mac_of(gone), NeighborKind::learned, 0) ==
                        Result::added);
                uint32_t call = 0;
                auto writer = [&] {
                    if (call++ == window) {
                        t.erase(0, host(gone));
                        t.set(0, host(came), mac_of(came), NeighborKind::learned, 0);
                    }
                };
                const uint32_t want = want_newcomer ? came : gone;
                MacAddress mac;
                if (t.lookup_between(0, host(want), mac, writer)) {
                    wrong += mac != mac_of(want) ? 1 : 0;
                } else if (!want_newcomer && call > window) {
                    ++misses_of_removed;  // the writer ran inside the window and was noticed
                }
            }
        }
    }
    CHECK(wrong == 0);
    CHECK(misses_of_removed > 0);
}

TEMPLATE_TEST_CASE("neighbors: readers during writes never see another key's MAC",
                   "[neighbor][threads]", V4, V6) {
    // A small table and many keys: the writer removes and adds all the time, so slots pass from
    // key to key under the readers. Each MAC names its key; a reader that kept a MAC naming
    // another address would send a packet to the wrong host. One reader pauses between its
    // loads of a slot (IPv4: key, MAC; IPv6: first key word, MAC, further key words), as a
    // preempted worker would, so that slots are reused inside those windows; the other reads as
    // the packet path does. (IPv6 keys come in pairs that share the first key word: a reader that
    // trusted it alone would take its pair's MAC.) The writer goes on until both have found MACs a
    // while (bounded: 10 s), however the threads are scheduled.
    const auto host = TestType::host;
    typename TestType::Table t(8);
    constexpr uint32_t kKeys = 24;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> found_paused{0}, found_plain{0}, wrong{0};
    auto reader = [&](bool pause, std::atomic<uint64_t>& found) {
        MacAddress mac;
        uint64_t lookups = 0;
        for (uint32_t i = 0; !stop.load(std::memory_order_relaxed); i = (i + 1) % kKeys) {
            // One pause per slot looked at, in one window or the other by turns (IPv6 has two:
            // two pauses a slot left it too few hits on a loaded machine).
            const uint64_t window = lookups++ % TestType::kWindows;
            uint64_t call = 0;
            auto between = [&] {
                if (call++ % TestType::kWindows == window) {
                    std::this_thread::yield();
                }
            };
            const bool hit =
                pause ? t.lookup_between(0, host(i), mac, between) : t.lookup(0, host(i), mac);
            if (hit) {
                found.fetch_add(1, std::memory_order_relaxed);
                if (host_in(mac) != i) {
                    wrong.fetch_add(1, std::memory_order_relaxed);
                }
            }
        }
    };
    std::thread paused(reader, true, std::ref(found_paused));
    std::thread plain(reader, false, std::ref(found_plain));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    uint32_t round = 0;
    // Enough finds that the check below means something, whatever else the machine is doing
    // (the readers' share of the cores varies: each find is a race the writer usually wins).
    constexpr uint32_t kEnough = 100;
    for (; round < 400000 || ((found_paused.load() < kEnough || found_plain.load() < kEnough) &&
                              std::chrono::steady_clock::now() < deadline);
         ++round) {
        const uint32_t in = round % kKeys, out = (round + kKeys - 8) % kKeys;
        t.erase(0, host(out));
        t.set(0, host(in), mac_of(in, static_cast<uint8_t>(round)), NeighborKind::learned, 0);
    }
    stop = true;
    paused.join();
    plain.join();
    INFO("writes: " << round << ", MACs found: " << found_paused.load() << " pausing, "
                    << found_plain.load() << " not");
    CHECK(found_paused.load() >= kEnough);
    CHECK(found_plain.load() >= kEnough);
    CHECK(wrong.load() == 0);
}
