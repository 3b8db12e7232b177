// The connection table: two keys per connection in an index that stores no keys, bulk lookup,
// fixed capacity; checked against a reference model as well as case by case.
#include <catch2/catch.hpp>

#include <rte_memory.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "dp/conn_table.hpp"
#include "support/packet_builder.hpp"

using namespace vsnat::dp;
using vsnat::test::ip_raw;
using vsnat::test::port_raw;

namespace {

Conn make_conn(uint32_t n) {
    Conn c{};
    c.client_ip = ip_raw("198.18.0.1") + (n << 8);  // vary the second octet... as raw bytes
    c.vip = ip_raw("198.18.0.100");
    c.rip = ip_raw("198.19.0.2");
    c.client_port = static_cast<uint16_t>(n);
    c.vport = port_raw(80);
    c.rport = port_raw(80);
    c.protocol = 6;
    c.state = ConnState::syn_recv;
    c.dest_id = 7;
    return c;
}

std::unique_ptr<ConnTable> make_table(const char* name, uint32_t capacity) {
    std::string error;
    auto t = ConnTable::create(name, capacity, SOCKET_ID_ANY, 0, &error);
    INFO(error);
    REQUIRE(t);
    return t;
}

}  // namespace

TEST_CASE("a key's words are its fields; a record's keys are its fields") {
    FlowKey k;
    k.src_ip = ip_raw("198.18.0.1");
    k.dst_ip = ip_raw("198.18.0.100");
    k.src_port = port_raw(40000);
    k.dst_port = port_raw(80);
    k.protocol = 17;
    const auto [addresses, ports] = k.words();
    const FlowKey back = FlowKey::from_words(addresses, ports);
    CHECK(back == k);
    CHECK(std::memcmp(&back, &k, sizeof(k)) == 0);  // the padding too: equal keys hash equally
    CHECK(back.src_ip == k.src_ip);
    CHECK(back.dst_port == k.dst_port);
    CHECK(back.protocol == 17);

    Conn c = make_conn(5);
    c.rport = port_raw(8080);
    const FlowKey in = c.inbound_key(), reply = c.reply_key();
    CHECK((in.src_ip == c.client_ip && in.dst_ip == c.vip));
    CHECK((in.src_port == c.client_port && in.dst_port == c.vport && in.protocol == 6));
    CHECK((reply.src_ip == c.rip && reply.dst_ip == c.client_ip));
    CHECK((reply.src_port == c.rport && reply.dst_port == c.client_port));
    CHECK(reply.protocol == 6);
    for (const FlowKey* key : {&in, &reply}) {
        CHECK(std::all_of(std::begin(key->pad), std::end(key->pad),
                          [](uint8_t b) { return b == 0; }));
    }
}

TEST_CASE("a record holds its two keys and no other") {
    Conn c = make_conn(3);
    c.rport = port_raw(8080);         // each port its own value: one read from elsewhere shows
    c.persistence_slot = 0x12345678;  // the fields after the keys' must not count
    CHECK(c.has_key(c.inbound_key(), false));
    CHECK(c.has_key(c.reply_key(), true));
    CHECK_FALSE(c.has_key(c.inbound_key(), true));
    CHECK_FALSE(c.has_key(c.reply_key(), false));
    // Each field of each key, changed alone.
    void (*const changes[])(FlowKey&) = {
        [](FlowKey& k) { k.src_ip ^= 1; }, [](FlowKey& k) { k.dst_ip ^= 0x100; },
        [](FlowKey& k) { k.src_port ^= 1; }, [](FlowKey& k) { k.dst_port ^= 0x100; },
        [](FlowKey& k) { k.protocol = 17; }};
    for (const bool reply : {false, true}) {
        for (size_t field = 0; field < std::size(changes); ++field) {
            FlowKey other = reply ? c.reply_key() : c.inbound_key();
            changes[field](other);
            INFO("reply " << reply << ", field " << field);
            CHECK_FALSE(c.has_key(other, reply));
        }
    }
}

TEST_CASE("both keys find the one record; erase removes both") {
    auto t = make_table("ct_keys", 16);
    ConnTable::InsertError err;
    Conn c = make_conn(1);
    uint32_t id = t->insert(c, 1000, err);
    REQUIRE(id != ConnTable::kNoConn);
    CHECK(err == ConnTable::InsertError::none);
    CHECK(t->lookup(c.inbound_key()) == id);
    CHECK(t->lookup(c.reply_key()) == id);
    CHECK(t->conn(id).dest_id == 7);
    CHECK(t->size() == 1);
    t->erase(id);
    CHECK(t->lookup(c.inbound_key()) == ConnTable::kNoConn);
    CHECK(t->lookup(c.reply_key()) == ConnTable::kNoConn);
    CHECK(t->size() == 0);
}

TEST_CASE("bulk lookup of a burst: hits and misses in place") {
    auto t = make_table("ct_bulk", 256);
    ConnTable::InsertError err;
    for (uint32_t n = 0; n < 100; n += 2) {
        REQUIRE(t->insert(make_conn(n), 1000, err) != ConnTable::kNoConn);
    }
    FlowKey keys[64];
    const FlowKey* ptrs[64];
    for (uint32_t i = 0; i < 64; ++i) {
        Conn c = make_conn(i);
        keys[i] = i % 3 == 0 ? c.reply_key() : c.inbound_key();
        ptrs[i] = &keys[i];
    }
    uint32_t ids[64];
    t->lookup_bulk(ptrs, 64, ids);
    for (uint32_t i = 0; i < 64; ++i) {
        INFO("key " << i);
        if (i % 2 == 0) {
            REQUIRE(ids[i] != ConnTable::kNoConn);
            CHECK(t->conn(ids[i]).client_port == i);
        } else {
            CHECK(ids[i] == ConnTable::kNoConn);
        }
    }
}

TEST_CASE("a lookup in steps sees the inserts and erases made between them") {
    // A table of 8: four buckets for its 16 keys, so the inserts crowd the buckets fetched.
    auto t = make_table("ct_steps", 8);
    ConnTable::InsertError err;
    const Conn erased = make_conn(1);
    const uint32_t erased_id = t->insert(erased, 1000, err);
    REQUIRE(erased_id != ConnTable::kNoConn);
    std::vector<Conn> later;
    for (uint32_t n = 2; n < 8; ++n) {
        later.push_back(make_conn(n));
    }
    std::vector<FlowKey> keys = {erased.inbound_key(), erased.reply_key()};
    for (const Conn& c : later) {
        keys.push_back(c.inbound_key());
        keys.push_back(c.reply_key());
    }
    std::vector<ConnTable::PendingLookup> pending;
    for (const FlowKey& k : keys) {
        pending.push_back(t->start_lookup(k));
    }
    for (const auto& p : pending) {
        t->fetch_candidate(p);  // the erased one's record is the candidate of its keys
    }
    t->erase(erased_id);
    for (const Conn& c : later) {
        REQUIRE(t->insert(c, 1000, err) != ConnTable::kNoConn);
    }
    CHECK(t->finish_lookup(keys[0], pending[0]) == ConnTable::kNoConn);
    CHECK(t->finish_lookup(keys[1], pending[1]) == ConnTable::kNoConn);
    for (size_t i = 0; i < later.size(); ++i) {
        INFO("connection " << i);
        const uint32_t by_inbound = t->finish_lookup(keys[2 + 2 * i], pending[2 + 2 * i]);
        REQUIRE(by_inbound != ConnTable::kNoConn);
        CHECK(t->conn(by_inbound).client_port == later[i].client_port);
        CHECK(t->finish_lookup(keys[3 + 2 * i], pending[3 + 2 * i]) == by_inbound);
    }
}

TEST_CASE("full: the new connection is refused, the old ones untouched") {
    auto t = make_table("ct_full", 8);
    ConnTable::InsertError err;
    for (uint32_t n = 0; n < 8; ++n) {
        REQUIRE(t->insert(make_conn(n), 1000, err) != ConnTable::kNoConn);
    }
    CHECK(t->insert(make_conn(8), 1000, err) == ConnTable::kNoConn);
    CHECK(err == ConnTable::InsertError::full);
    for (uint32_t n = 0; n < 8; ++n) {
        CHECK(t->lookup(make_conn(n).inbound_key()) != ConnTable::kNoConn);
    }
    CHECK(t->size() == 8);
}

TEST_CASE("a reply key already in use is a conflict, and nothing is added") {
    auto t = make_table("ct_conflict", 8);
    ConnTable::InsertError err;
    Conn a = make_conn(1);
    REQUIRE(t->insert(a, 1000, err) != ConnTable::kNoConn);
    Conn b = a;
    b.vip = ip_raw("198.18.0.101");  // another VIP, same client and same real server port
    CHECK(t->insert(b, 1000, err) == ConnTable::kNoConn);
    CHECK(err == ConnTable::InsertError::conflict);
    CHECK(t->lookup(b.inbound_key()) == ConnTable::kNoConn);
    CHECK(t->size() == 1);
}

TEST_CASE("expiry frees the record and both keys; ids are reused") {
    auto t = make_table("ct_expire", 4);
    ConnTable::InsertError err;
    for (uint32_t n = 0; n < 4; ++n) {
        t->insert(make_conn(n), 1000 + n * 1000, err);
    }
    uint32_t seen = 0;
    t->expire(2500, UINT32_MAX, [&](const Conn&) { ++seen; });
    CHECK(seen == 2);
    CHECK(t->size() == 2);
    CHECK(t->lookup(make_conn(0).reply_key()) == ConnTable::kNoConn);
    CHECK(t->lookup(make_conn(3).reply_key()) != ConnTable::kNoConn);
    CHECK(t->insert(make_conn(10), 9000, err) != ConnTable::kNoConn);
    CHECK(t->insert(make_conn(11), 9000, err) != ConnTable::kNoConn);
    CHECK(t->insert(make_conn(12), 9000, err) == ConnTable::kNoConn);
    uint32_t listed = 0;
    t->for_each([&](uint32_t, const Conn&) { ++listed; });
    CHECK(listed == 4);
}

TEST_CASE("expiry of more connections than a batch at once: each reported and freed once") {
    auto t = make_table("ct_expire_many", 200);
    ConnTable::InsertError err;
    for (uint32_t n = 0; n < 150; ++n) {  // 100 due at 5000, 50 long after
        REQUIRE(t->insert(make_conn(n), n < 100 ? 1000 + n * 10 : 50000, err) !=
                ConnTable::kNoConn);
    }
    std::vector<uint16_t> seen;
    auto note = [&](const Conn& c) {
        CHECK(t->lookup(c.inbound_key()) != ConnTable::kNoConn);  // still there as it is reported
        seen.push_back(c.client_port);
    };
    uint32_t expired = t->expire(5000, 40, note);  // a budget: part of them now
    CHECK(expired > 0);
    CHECK(expired < 100);
    while (t->size() > 50) {
        const uint32_t more = t->expire(5000, 40, note);
        REQUIRE(more > 0);
        expired += more;
    }
    CHECK(expired == 100);
    std::sort(seen.begin(), seen.end());
    REQUIRE(seen.size() == 100);
    for (uint32_t n = 0; n < 150; ++n) {
        INFO("connection " << n);
        if (n < 100) {
            CHECK(seen[n] == n);
            CHECK(t->lookup(make_conn(n).inbound_key()) == ConnTable::kNoConn);
            CHECK(t->lookup(make_conn(n).reply_key()) == ConnTable::kNoConn);
        } else {
            CHECK(t->lookup(make_conn(n).reply_key()) != ConnTable::kNoConn);
        }
    }
    for (uint32_t n = 1000; n < 1150; ++n) {  // every freed record taken again, once
        REQUIRE(t->insert(make_conn(n), 90000, err) != ConnTable::kNoConn);
    }
    CHECK(t->insert(make_conn(2000), 90000, err) == ConnTable::kNoConn);
    CHECK(err == ConnTable::InsertError::full);
}

TEST_CASE("an IPv6 connection costs its record and nothing in the IPv4 table") {
    CHECK(sizeof(Conn) == 32);
    CHECK(sizeof(Conn6) == 72);
    // Index and wheel cost the same per connection in both tables: only the record differs.
    CHECK(ConnTable6::memory_bytes_for(1u << 20) - ConnTable::memory_bytes_for(1u << 20) ==
          (sizeof(Conn6) - sizeof(Conn)) << 20);
}

TEST_CASE("memory accounting covers the index, the records and the wheel") {
    // The figure against the 128-byte target is printed by the benchmark; here: the accounting
    // is what create() allocated, sees at least the record, the wheel links and two 6-byte index
    // entries, and stays under the target.
    const uint32_t capacity = 100000;
    auto t = make_table("ct_memory", capacity);
    CHECK(t->memory_bytes() == ConnTable::memory_bytes_for(capacity));
    const double per_conn = static_cast<double>(t->memory_bytes()) / capacity;
    INFO("bytes per connection: " << per_conn);
    CHECK(per_conn >= sizeof(Conn) + sizeof(TimerWheel::Node) + 2 * 6);
    CHECK(per_conn <= 128.0);
}

TEST_CASE("more connections than the index can number are refused at creation") {
    std::string error;
    CHECK(ConnTable::create("ct_huge", UINT32_MAX, SOCKET_ID_ANY, 0, &error) == nullptr);
    CHECK(error.find("at most 2147483648") != std::string::npos);
}

namespace {

// The reference: every key present, by its bytes, and the connection it belongs to.
template <class Record>
struct Model {
    using Key = typename BasicConnTable<Record>::Key;
    std::map<std::string, uint32_t> keys;
    std::map<uint32_t, Record> conns;

    static std::string bytes(const Key& k) {
        return {reinterpret_cast<const char*>(&k), sizeof(k)};
    }
    uint32_t find(const Key& k) const {
        auto it = keys.find(bytes(k));
        return it == keys.end() ? ConnTable::kNoConn : it->second;
    }
};

// Addresses, ports and protocols from pools so small that keys recur, and one connection's
// inbound key is often another's reply key (every address plays client, VIP and real server).
// IPv6 addresses differ in their first and last bytes, so both halves of a key vary.
template <class Record>
Record random_conn(std::minstd_rand& rng, uint32_t pool) {
    auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
    Record c{};
    if constexpr (std::is_same_v<Record, Conn>) {
        c.client_ip = ip_raw("10.0.0.1") + (pick(pool) << 24);
        c.vip = ip_raw("10.0.0.1") + (pick(pool) << 24);
        c.rip = ip_raw("10.0.0.1") + (pick(pool) << 24);
    } else {
        for (vsnat::Ipv6* a : {&c.client_ip, &c.vip, &c.rip}) {
            *a = vsnat::Ipv6{0x20, 0x01, 0, 2};
            (*a)[15] = static_cast<uint8_t>(pick(pool));
            (*a)[1] = static_cast<uint8_t>(pick(2));
        }
    }
    c.client_port = static_cast<uint16_t>(1 + pick(pool));
    c.vport = static_cast<uint16_t>(1 + pick(pool));
    c.rport = static_cast<uint16_t>(1 + pick(pool));
    c.protocol = pick(2) ? 6 : 17;
    c.dest_id = static_cast<uint16_t>(pick(1000));
    return c;
}

template <class Record>
auto random_key(std::minstd_rand& rng, uint32_t pool) {
    const Record c = random_conn<Record>(rng, pool);
    return rng() % 2 ? c.inbound_key() : c.reply_key();
}

// Random inserts, erases, expiries and single and bulk lookups, each checked against the model;
// then every key the model holds is looked up. Returns how many inserts succeeded.
template <class Record>
uint32_t run_against_model(BasicConnTable<Record>& t, uint32_t seed, uint32_t pool,
                           uint32_t steps) {
    using Key = typename BasicConnTable<Record>::Key;
    std::minstd_rand rng(seed);
    Model<Record> model;
    uint32_t now = 0;
    uint32_t inserted = 0;
    for (uint32_t step = 0; step < steps; ++step) {
        INFO("seed " << seed << " step " << step);
        const uint32_t op = rng() % 16;
        if (op < 7) {
            Record c = random_conn<Record>(rng, pool);
            const Key in = c.inbound_key();
            const Key out = c.reply_key();
            ConnInsertError err;
            const uint32_t id = t.insert(c, now + 1 + static_cast<uint32_t>(rng() % 1000000), err);
            // A full table says so before looking for a conflict.
            if (model.conns.size() == t.capacity()) {
                REQUIRE(id == ConnTable::kNoConn);
                REQUIRE(err == ConnInsertError::full);
            } else if (model.find(in) != ConnTable::kNoConn ||
                       model.find(out) != ConnTable::kNoConn) {
                REQUIRE(id == ConnTable::kNoConn);
                REQUIRE(err == ConnInsertError::conflict);
            } else {
                REQUIRE(id != ConnTable::kNoConn);
                REQUIRE(err == ConnInsertError::none);
                REQUIRE(model.conns.count(id) == 0);
                model.conns[id] = c;
                model.keys[model.bytes(in)] = id;
                model.keys[model.bytes(out)] = id;
                ++inserted;
            }
        } else if (op < 10 && !model.conns.empty()) {
            auto it = model.conns.begin();
            std::advance(it, rng() % model.conns.size());
            REQUIRE(t.live(it->first));
            t.erase(it->first);
            model.keys.erase(model.bytes(it->second.inbound_key()));
            model.keys.erase(model.bytes(it->second.reply_key()));
            model.conns.erase(it);
        } else if (op < 11) {
            now += 1 + static_cast<uint32_t>(rng() % 500);
            t.expire(now, UINT32_MAX, [&](const Record& c) {
                const uint32_t id = model.find(c.inbound_key());
                REQUIRE(id != ConnTable::kNoConn);
                model.keys.erase(model.bytes(c.inbound_key()));
                model.keys.erase(model.bytes(c.reply_key()));
                model.conns.erase(id);
            });
        } else if (op < 13) {
            const Key k = random_key<Record>(rng, pool);
            REQUIRE(t.lookup(k) == model.find(k));
        } else {
            Key keys[ConnTable::kMaxBurst];
            const Key* ptrs[ConnTable::kMaxBurst];
            uint32_t ids[ConnTable::kMaxBurst];
            const uint32_t n = 1 + rng() % ConnTable::kMaxBurst;
            for (uint32_t i = 0; i < n; ++i) {
                keys[i] = random_key<Record>(rng, pool);
                ptrs[i] = &keys[i];
            }
            t.lookup_bulk(ptrs, n, ids);
            for (uint32_t i = 0; i < n; ++i) {
                REQUIRE(ids[i] == model.find(keys[i]));
            }
        }
        REQUIRE(t.size() == model.conns.size());
    }
    for (const auto& [id, c] : model.conns) {
        REQUIRE(t.lookup(c.inbound_key()) == id);
        REQUIRE(t.lookup(c.reply_key()) == id);
        REQUIRE(t.conn(id).dest_id == c.dest_id);
    }
    uint32_t listed = 0;
    t.for_each([&](uint32_t id, const Record&) {
        REQUIRE(model.conns.count(id) == 1);
        ++listed;
    });
    REQUIRE(listed == model.conns.size());
    return inserted;
}

template <class Record>
std::unique_ptr<BasicConnTable<Record>> make_family_table(const std::string& name,
                                                          uint32_t capacity) {
    std::string error;
    auto t = BasicConnTable<Record>::create(name, capacity, SOCKET_ID_ANY, 0, &error);
    INFO(error);
    REQUIRE(t);
    return t;
}

}  // namespace

TEMPLATE_TEST_CASE("random operations agree with a reference model", "", Conn, Conn6) {
    // 4096 connections; a pool of 12 values per field keeps conflicts frequent.
    for (uint32_t seed = 1; seed <= 3; ++seed) {
        auto t = make_family_table<TestType>("ct_model" + std::to_string(seed), 4096);
        CHECK(run_against_model(*t, seed, 12, 60000) > 1000);
    }
}

TEMPLATE_TEST_CASE("tiny tables: two buckets, full of colliding keys, still exact", "", Conn,
                   Conn6) {
    // A 1- to 5-connection table has the minimum of two buckets, so every key shares them: most
    // inserts of a full-ish table displace entries, and over the churn many entries of one
    // bucket share a 16-bit signature (about 8 entries, so ~28 pairs in 65536 per state) and
    // absent keys meet present ones' signatures, which only the record comparison tells apart.
    for (uint32_t capacity = 1; capacity <= 5; ++capacity) {
        auto t = make_family_table<TestType>("ct_tiny" + std::to_string(capacity), capacity);
        CHECK(run_against_model(*t, 100 + capacity, 40, 200000) > 1000);
    }
}

TEST_CASE("filled to capacity, every connection is found; emptied, none; refilled, all again") {
    for (uint32_t capacity : {1u, 7u, 8u, 100u, 65536u}) {
        INFO("capacity " << capacity);
        auto t = make_table(("ct_fill" + std::to_string(capacity)).c_str(), capacity);
        for (uint32_t round = 0; round < 2; ++round) {
            std::vector<uint32_t> ids;
            ConnTable::InsertError err;
            for (uint32_t n = 0; n < capacity; ++n) {
                Conn c = make_conn(n);
                c.client_ip += round;  // other keys in the second round
                const uint32_t id = t->insert(c, 1000, err);
                REQUIRE(id != ConnTable::kNoConn);
                ids.push_back(id);
            }
            CHECK(t->insert(make_conn(capacity + 1), 1000, err) == ConnTable::kNoConn);
            CHECK(err == ConnTable::InsertError::full);
            // Bulk, in bursts of the largest size, both directions.
            for (uint32_t first = 0; first < capacity; first += ConnTable::kMaxBurst) {
                const uint32_t n = std::min(ConnTable::kMaxBurst, capacity - first);
                FlowKey keys[ConnTable::kMaxBurst];
                const FlowKey* ptrs[ConnTable::kMaxBurst];
                uint32_t found[ConnTable::kMaxBurst];
                for (uint32_t i = 0; i < n; ++i) {
                    const Conn& c = t->conn(ids[first + i]);
                    keys[i] = i % 2 ? c.reply_key() : c.inbound_key();
                    ptrs[i] = &keys[i];
                }
                t->lookup_bulk(ptrs, n, found);
                for (uint32_t i = 0; i < n; ++i) {
                    REQUIRE(found[i] == ids[first + i]);
                }
            }
            for (uint32_t id : ids) {
                const Conn c = t->conn(id);
                t->erase(id);
                REQUIRE(t->lookup(c.inbound_key()) == ConnTable::kNoConn);
                REQUIRE(t->lookup(c.reply_key()) == ConnTable::kNoConn);
            }
            CHECK(t->size() == 0);
        }
    }
}

TEST_CASE("a new connection's inbound key that is a live connection's reply key conflicts") {
    auto t = make_table("ct_cross", 8);
    ConnTable::InsertError err;
    Conn a = make_conn(1);
    REQUIRE(t->insert(a, 1000, err) != ConnTable::kNoConn);
    // b's client->VIP key is a's real server->client key.
    Conn b{};
    b.client_ip = a.rip;
    b.vip = a.client_ip;
    b.client_port = a.rport;
    b.vport = a.client_port;
    b.protocol = a.protocol;
    b.rip = ip_raw("198.19.0.9");
    b.rport = port_raw(80);
    const FlowKey b_in = b.inbound_key();
    const FlowKey a_out = a.reply_key();
    REQUIRE(std::memcmp(&b_in, &a_out, sizeof(FlowKey)) == 0);
    CHECK(t->insert(b, 1000, err) == ConnTable::kNoConn);
    CHECK(err == ConnTable::InsertError::conflict);
    CHECK(t->lookup(b.reply_key()) == ConnTable::kNoConn);
    CHECK(t->size() == 1);
}
