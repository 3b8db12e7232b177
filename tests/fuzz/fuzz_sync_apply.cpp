// libFuzzer target: received sync messages applied to a worker's table (dp/conn_sync), on the
// seed's scenario (tests/dp/lab_fixture) with a small table, so that full-table paths are
// reachable. Each input is a datagram: decoded as the sync thread does (any syncid), its records
// of both families applied twice (inserts, then updates and replacements), then the clock moved far
// ahead.
//
// Invariants:
// - after applying, the table holds no more than its capacity, and the per-server active and
//   inactive counts add up to the connections in it;
// - every connection in the table goes to a real server of the configuration;
// - a week and a day later, expiry has emptied the table (no record's timeout outlives what the
//   wrapping clock can tell), every count is back to zero, and every FTP helper state is free.
#include <cstdio>
#include <cstdlib>

#include "dp/conn_sync.hpp"
#include "fuzz_eal.hpp"
#include "lab_fixture.hpp"

namespace {

using namespace vsnat;
using namespace vsnat::dp;

constexpr uint32_t kTableCapacity = 64;

void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_sync_apply: invariant violated: %s\n", what);
        std::abort();
    }
}

int64_t counted_connections(const test::PipelineHarness& h) {
    int64_t total = 0;
    for (const DestCounters& d : h.dest_counters) {
        require(d.active >= 0 && d.inactive >= 0, "no count below zero");
        total += d.active + d.inactive;
    }
    return total;
}

// A real server's address in the family of connection `c`.
uint32_t address_of(const Destination& d, const Conn&) {
    return d.ip;
}
Ipv6 address_of(const Destination& d, const Conn6&) {
    return d.ip6;
}

template <class ConnRecord>
bool configured(const Snapshot& snap, const ConnRecord& c) {
    for (const ServiceEntry& s : snap.services) {
        for (const Destination& d : s.servers) {
            if (d.dest_id == c.dest_id && address_of(d, c) == c.rip) {
                return true;
            }
        }
    }
    return false;
}

void check_table(const test::PipelineHarness& h) {
    require(h.table->size() <= h.table->capacity(), "the table within its capacity");
    require(h.table6->size() <= h.table6->capacity(), "the IPv6 table within its capacity");
    require(counted_connections(h) == h.table->size() + h.table6->size(),
            "counts match the tables");
    const auto check = [&](uint32_t, const auto& c) {
        require(configured(*h.snapshot, c), "connections go to configured servers");
    };
    h.table->for_each(check);
    h.table6->for_each(check);
}

}  // namespace

// One worker for every input, as a daemon's worker lives on: each input ends with its table
// empty again, a week and a day later on the worker's (wrapping) clock.
struct World {
    test::PipelineHarness h{kTableCapacity};
    ConnSync sync{kTableCapacity, kTableCapacity};
    uint32_t now_ms = 1000;
};
World* world = nullptr;

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    fuzz::init_eal("fuzz_sync_apply", 256);
    world = new World;
    world->h.ctx.sync = &world->sync;
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    test::PipelineHarness& h = world->h;
    uint32_t& now_ms = world->now_ms;
    sync::Decoded decoded;
    sync::decode({data, size}, 0, decoded);
    const uint64_t before = h.ctx.counters.sync_applied + h.ctx.counters.sync_refused;
    for (int pass = 0; pass < 2; ++pass, now_ms += 1000) {
        for (const sync::Record& r : decoded.records) {
            apply_sync_record(h.ctx, r, now_ms);
        }
        for (const sync::Record6& r : decoded.records6) {
            apply_sync_record(h.ctx, r, now_ms);
        }
        check_table(h);
    }
    require(h.ctx.counters.sync_applied + h.ctx.counters.sync_refused - before ==
                2 * (decoded.records.size() + decoded.records6.size()),
            "every record applied or refused");
    now_ms += (ConnSync::kMaxTimeoutS + 24 * 3600) * 1000;
    for (int round = 0; round < 8 && h.table->size() + h.table6->size() > 0; ++round) {
        expire_connections(h.ctx, now_ms, UINT32_MAX);
    }
    require(h.table->size() == 0 && h.table6->size() == 0, "expiry empties the tables");
    require(counted_connections(h) == 0, "every count back to zero");
    require(h.ftp_controls->in_use() == 0, "every FTP helper state free");
    return 0;
}
