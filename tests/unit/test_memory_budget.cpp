// The memory budget: the snapshot estimate against what building one really allocates, the
// start-up parts against the structures' own sizes, /proc/meminfo's fields, and the rules that
// refuse what the machine cannot hold, with their exact words.
#include <malloc.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "cp/memory_budget.hpp"
#include "cp/snapshot_builder.hpp"
#include "dp/conn_table.hpp"
#include "dp/fragments.hpp"
#include "dp/persistence.hpp"

using namespace vsnat;
using namespace vsnat::cp;

// Every operator new of this program counted as the chunk malloc gives it (its usable size and
// its 8-byte header), so that a snapshot's allocations can be summed exactly: mallinfo2() would
// not see chunks reused from the allocator's per-thread cache. Not under AddressSanitizer, whose
// allocator is another (and which replaces operator new itself).
#if defined(__SANITIZE_ADDRESS__)
#define VSNAT_COUNTED_HEAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VSNAT_COUNTED_HEAP 0
#endif
#endif
#ifndef VSNAT_COUNTED_HEAP
#define VSNAT_COUNTED_HEAP 1
#endif

#if VSNAT_COUNTED_HEAP
namespace {
std::atomic<int64_t> g_heap_bytes{0};

void* counted(void* p) {
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    g_heap_bytes += static_cast<int64_t>(malloc_usable_size(p) + 8);
    return p;
}
void uncounted(void* p) {
    if (p != nullptr) {
        g_heap_bytes -= static_cast<int64_t>(malloc_usable_size(p) + 8);
        std::free(p);
    }
}
}  // namespace

void* operator new(size_t n) {
    return counted(std::malloc(n == 0 ? 1 : n));
}
void* operator new(size_t n, std::align_val_t a) {
    const auto align = static_cast<size_t>(a);
    return counted(std::aligned_alloc(align, (n + align - 1) & ~(align - 1)));
}
void operator delete(void* p) noexcept {
    uncounted(p);
}
void operator delete(void* p, size_t) noexcept {
    uncounted(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    uncounted(p);
}
void operator delete(void* p, size_t, std::align_val_t) noexcept {
    uncounted(p);
}
#endif

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

// `services` services of `servers` real servers each, with `scheduler`, on `workers` workers.
Config config_of(const std::string& scheduler, int services, int servers, int workers = 1) {
    std::string text = "workers: " + std::to_string(workers) +
                       "\nmax_connections: 65536\n"
                       "interfaces: [{name: a, device: d, address: 10.0.0.1/8}]\n"
                       "services:\n";
    for (int i = 0; i < services; ++i) {
        text += "  - {name: s" + std::to_string(i) + ", protocol: tcp, vip: 10.1." +
                std::to_string(i / 256) + "." + std::to_string(i % 256) +
                ", port: 80, scheduler: " + scheduler + ", real_servers: [";
        for (int j = 0; j < servers; ++j) {
            text += (j == 0 ? "" : ", ") + std::string("{address: 10.2.") +
                    std::to_string(j / 256) + "." + std::to_string(j % 256) + "}";
        }
        text += "]}\n";
    }
    LoadResult r = load_config_text(text, "budget.yaml");
    REQUIRE(r.errors.empty());
    return *r.config;
}

const MemoryPart& part(const MemoryNeed& need, const std::string& what) {
    for (const MemoryPart& p : need.parts) {
        if (p.what == what) {
            return p;
        }
    }
    FAIL("no part " << what);
    return need.parts.front();
}

#if VSNAT_COUNTED_HEAP
// What building the snapshot of `c` leaves allocated, and what the budget says it would.
std::pair<uint64_t, uint64_t> measured_and_estimated(const Config& c) {
    const auto before = static_cast<uint64_t>(g_heap_bytes.load());
    auto snap = build_snapshot(c, {{0, {}}}, c.workers);
    const auto measured = static_cast<uint64_t>(g_heap_bytes.load()) - before;
    return {measured, part(memory_need(c), "snapshot").bytes};
}
#endif

}  // namespace

TEST_CASE("the snapshot estimate is within 5% of what a build allocates", "[budget]") {
#if !VSNAT_COUNTED_HEAP
    WARN("not measured under AddressSanitizer: its allocator rounds otherwise");
    return;
#else
    struct Case {
        const char* scheduler;
        int services;
        int servers;
        int workers;
    };
    for (const Case& k :
         {Case{"wrr", 1, 1, 1}, Case{"wrr", 2000, 3, 2}, Case{"rr", 300, 1, 4},
          Case{"lc", 50, 200, 1}, Case{"sh", 500, 2, 2}, Case{"dh", 100, 5, 1}, Case{"mh", 1, 1, 1},
          Case{"mh", 400, 2, 2}, Case{"fo", 1000, 1, 1}, Case{"wlc", 10, 1000, 3}}) {
        const Config c = config_of(k.scheduler, k.services, k.servers, k.workers);
        const auto [measured, estimated] = measured_and_estimated(c);
        INFO(k.scheduler << " " << k.services << " services of " << k.servers << " on " << k.workers
                         << " workers: measured " << measured << ", estimated " << estimated);
        CHECK(static_cast<double>(estimated) >= 0.95 * static_cast<double>(measured));
        CHECK(static_cast<double>(estimated) <= 1.05 * static_cast<double>(measured));
    }
#endif
}

TEST_CASE("the configuration estimate is what a copy allocates, health checks and all",
          "[budget]") {
#if !VSNAT_COUNTED_HEAP
    WARN("not measured under AddressSanitizer: its allocator rounds otherwise");
    return;
#else
    // 300 services, each with an http check, and a real server of two with an exec check: the
    // checks' strings and commands are most of what a copy holds.
    std::string text =
        "interfaces: [{name: a, device: d, address: 10.0.0.1/8, kernel: vsk-a}]\n"
        "services:\n";
    for (int i = 0; i < 300; ++i) {
        text += "  - {name: a-service-name-of-some-length-" + std::to_string(i) +
                ", protocol: tcp, vip: 10.1." + std::to_string(i / 256) + "." +
                std::to_string(i % 256) +
                ", port: 80, health_check: {type: http, path: /a-path-of-more-than-15-bytes},"
                " real_servers: [{address: 10.2.0.1}, {address: 10.2.0.2, health_check: {type: "
                "exec, command: [sh, -c, 'an argument of more than 15 bytes', '%address', "
                "'%port', a, b, c, d, e, f, g, h, i, j, k, l]}}]}\n";
    }
    const LoadResult r = load_config_text(text, "checks.yaml");
    REQUIRE(r.errors.empty());
    const uint64_t estimated = part(memory_need(*r.config), "configuration").bytes / 2;
    const auto before = static_cast<uint64_t>(g_heap_bytes.load());
    const Config copy = *r.config;
    const auto measured = static_cast<uint64_t>(g_heap_bytes.load()) - before;
    INFO("measured " << measured << ", estimated " << estimated);
    CHECK(static_cast<double>(estimated) >= 0.95 * static_cast<double>(measured));
    CHECK(static_cast<double>(estimated) <= 1.05 * static_cast<double>(measured));
    CHECK(copy.services[0].real_servers[1].health_check->command.size() == 17);
#endif
}

TEST_CASE("an mh service's snapshot costs its 65537-slot table", "[budget]") {
    // 4,000 mh services: some 515 MB (measured on vsnatd before the budget existed).
    const uint64_t one = part(memory_need(config_of("mh", 1, 1)), "snapshot").bytes;
    const uint64_t many = part(memory_need(config_of("mh", 4000, 1)), "snapshot").bytes;
    CHECK(many / 4000 >= 65537 * 2);
    CHECK(many / 4000 < 65537 * 2 + 8192);
    CHECK(many > 500 * kMiB);
    CHECK(many < 530 * kMiB);
    CHECK(one < 200 * 1024);
    CHECK(part(memory_need(config_of("mh", 4000, 1)), "snapshot").detail ==
          "4000 services, 4000 of them mh (a 65537-slot table each); a reload holds two");
}

TEST_CASE("start-up parts are what the structures say they take", "[budget]") {
    Config c = config_of("wrr", 3, 2, 2);
    c.max_connections = 1000000;
    c.interfaces.push_back(c.interfaces.front());
    const MemoryNeed need = memory_need(c);
    CHECK(need.hugepages);
    CHECK(part(need, "connection tables").bytes == 2 * dp::ConnTable::memory_bytes_for(500000));
    CHECK(part(need, "connection tables").detail == "1000000 connections, 2 tables of 500000");
    CHECK(part(need, "connection tables").eal);
    // 2 ports x 2 workers x 2048 + 4 x 1024 + 3 x 512 + 4096 = 17920, up to 2^n - 1.
    CHECK(packet_buffer_count(c) == 32767);
    CHECK(part(need, "packet buffers").detail == "32767 of 2368 bytes");
    CHECK(part(need, "persistence table").bytes == dp::PersistenceTable::memory_bytes_for(1000000));
    CHECK_FALSE(part(need, "persistence table").eal);
    CHECK(part(need, "fragment tables").bytes == dp::FragmentTable::memory_bytes());
    CHECK_FALSE(part(need, "fragment tables").eal);
    uint64_t eal = 0;
    uint64_t ordinary = 0;
    for (const MemoryPart& p : need.parts) {
        (p.eal ? eal : ordinary) += p.bytes;
    }
    CHECK(need.eal == eal);
    CHECK(need.ordinary == ordinary);
    CHECK(need.reload == part(need, "snapshot").bytes + part(need, "configuration").bytes / 2);

    // IPv6 configured: its fragment table too (1 MiB: 4,096 buckets of four 64-byte entries).
    c.interfaces.front().addresses6.push_back({});
    CHECK(part(memory_need(c), "fragment tables").bytes ==
          dp::FragmentTable::memory_bytes() + dp::FragmentTable6::memory_bytes());
    CHECK(dp::FragmentTable6::memory_bytes() == 4096 * 4 * 64 + 4096);

    c.packet_buffers = 100000;  // only ever raises it
    CHECK(packet_buffer_count(c) == 100000);
    c.eal = {"--no-huge", "-m", "512"};
    CHECK_FALSE(memory_need(c).hugepages);
}

TEST_CASE("IPv6 adds its connection tables and its persistence table, only when configured",
          "[budget]") {
    Config c = config_of("wrr", 3, 2, 2);
    c.max_connections = 1000000;
    auto has = [](const MemoryNeed& need, const std::string& what) {
        return std::any_of(need.parts.begin(), need.parts.end(),
                           [&](const MemoryPart& p) { return p.what == what; });
    };
    CHECK_FALSE(has(memory_need(c), "IPv6 connection tables"));
    CHECK_FALSE(has(memory_need(c), "IPv6 persistence table"));

    c.interfaces.front().addresses6.push_back(Prefix6{{0x20, 0x01, 0x00, 0x02}, 64});
    const MemoryNeed need = memory_need(c);
    CHECK(part(need, "IPv6 connection tables").bytes ==
          2 * dp::ConnTable6::memory_bytes_for(500000));
    CHECK(part(need, "IPv6 persistence table").bytes ==
          dp::PersistenceTable6::memory_bytes_for(1000000));
    CHECK_FALSE(part(need, "IPv6 persistence table").eal);
    // 250,000 buckets of 8 slots of 32 bytes (the whole address in each), and their locks.
    CHECK(part(need, "IPv6 persistence table").bytes == 250000 * (8 * 32 + 1));
}

TEST_CASE("/proc/meminfo: MemAvailable and the hugepages", "[budget]") {
    const std::string meminfo =
        "MemTotal:       24683348 kB\n"
        "MemFree:        21715468 kB\n"
        "MemAvailable:   22614960 kB\n"
        "HugePages_Total:     512\n"
        "HugePages_Free:      510\n"
        "HugePages_Rsvd:        0\n"
        "Hugepagesize:       2048 kB\n";
    const auto m = parse_meminfo(meminfo);
    REQUIRE(m.has_value());
    CHECK(m->available == uint64_t{22614960} * 1024);
    CHECK(m->hugepages_total == 512);
    CHECK(m->hugepages_free == 510);
    CHECK(m->hugepage_size == 2048 * 1024);
    CHECK_FALSE(parse_meminfo("MemTotal: 1 kB\nMemAvailable: 2 kB\n").has_value());
    CHECK(read_machine_memory().has_value());
}

TEST_CASE("what the machine cannot hold is refused, in words", "[budget]") {
    MemoryNeed need;
    need.parts = {{"connection tables", "1000 connections, 1 table", 600 * kMiB, true},
                  {"snapshot", "10 services", 300 * kMiB, false},
                  {"persistence table", "1000 templates", 100 * kMiB, false}};
    need.eal = 600 * kMiB;
    need.ordinary = 400 * kMiB;
    need.reload = 300 * kMiB;
    MachineMemory m{1000 * kMiB, 256, 256, 2 * kMiB};  // 512 MiB of hugepages reserved

    MemoryVerdict v = check_start(need, m);
    CHECK_FALSE(v.refusal.has_value());
    REQUIRE(v.advice.has_value());
    CHECK(*v.advice ==
          "reserve at least 300 hugepages of 2.0 MiB before starting it (256 are; "
          "scripts/hugepages.sh PAGES)");
    m.hugepages_total = 300;
    CHECK(check_start(need, m).advice == std::nullopt);

    m.available = 399 * kMiB;
    CHECK(check_start(need, m).refusal ==
          "needs 400.0 MiB of memory (the largest part: snapshot, 300.0 MiB for 10 services), "
          "more than the 399.0 MiB available (MemAvailable)");
    m.available = 500 * kMiB;
    m.hugepages_total = 200;  // 400 MiB reserved; 100 MiB could be reserved on top
    CHECK(check_start(need, m).refusal ==
          "needs 600.0 MiB of hugepages (the largest part: connection tables, 600.0 MiB for 1000 "
          "connections, 1 table), more than the 400.0 MiB reserved and the 100.0 MiB more that "
          "could be (MemAvailable)");

    need.hugepages = false;  // --no-huge: EAL's memory is ordinary memory
    m.available = 999 * kMiB;
    CHECK(check_start(need, m).refusal ==
          "needs 1000.0 MiB of memory (the largest part: connection tables, 600.0 MiB for 1000 "
          "connections, 1 table), more than the 999.0 MiB available (MemAvailable)");
    m.available = 1000 * kMiB;
    CHECK(check_start(need, m).refusal == std::nullopt);

    m.available = 300 * kMiB;
    CHECK(check_reload(need, m) == std::nullopt);
    m.available = 299 * kMiB;
    CHECK(check_reload(need, m) ==
          "the new configuration needs 300.0 MiB more while the running one is held, more than "
          "the 299.0 MiB available (MemAvailable)");
    CHECK(format_bytes(512) == "0.5 KiB");
    CHECK(format_bytes(uint64_t{9} << 30) == "9.0 GiB");
}
