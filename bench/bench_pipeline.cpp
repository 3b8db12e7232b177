// In-process benchmark (docs/ARCHITECTURE.md, "Benchmarks"): synthetic bursts of real mbufs
// through the real dp::process_burst, no NIC. For each table size it prints packets/s and
// cycles/packet for new connections, established flows (either direction), replies (server to
// client only), a 1% mix and an empty-pipeline ceiling (parse + NAT rewrite, no table), and the
// memory per connection, each next to the target it is held to (issue 7). With --sync, new
// connections and established flows also run with connection sync on (dp/conn_sync: a ConnSync
// in the worker's context, its records handed over and packed into messages after each burst),
// and it prints what sync adds per connection and the share of a core at 100k connections/s.
//
// Nothing is sent anywhere: client addresses (198.18.0.0/15, RFC 2544's benchmarking range) are
// bytes in memory. One worker, on the main lcore.
#include <arpa/inet.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench_util.hpp"
#include "dp/bytes.hpp"
#include "dp/conn_sync.hpp"
#include "dp/lab_fixture.hpp"  // tests/dp: the seed's scenario (snapshot, MAC addresses)
#include "dp/nat.hpp"
#include "dp/parse.hpp"
#include "dp/pipeline.hpp"
#include "support/packet_builder.hpp"

namespace {

using namespace vsnat;
using namespace vsnat::bench;
using dp::ConnTable;

constexpr uint16_t kBurst = 32;
constexpr size_t kFrameLen = 60;  // a minimum Ethernet frame without its FCS: 64 B on the wire
constexpr size_t kL3 = dp::eth::kHeaderLen;
constexpr size_t kL4 = kL3 + dp::ipv4::kMinHeaderLen;
constexpr uint32_t kExpireBudget = 256;  // per burst, as run_worker (src/dp/worker.cpp) does
constexpr uint32_t kMixNewPercent = 1;
constexpr uint32_t kMaxSize = 100'000'000;
// --sync: the connection the CPU figure is made for: its SYN and this many established packets.
constexpr uint32_t kSyncPacketsPerConnection = 10;
constexpr double kSyncConnectionsPerSecond = 100'000;
// --sync: the sync thread's ring of one worker's records (cp::SyncDaemon::kRingSize) and the
// sync group the messages are for.
constexpr unsigned kSyncRingSize = 16384;
constexpr uint8_t kSyncId = 1;

// The targets the figures are reported against.
constexpr double kTargetBytesPerConn = 128;
constexpr double kTargetEstablishedCycles = 100;
constexpr double kTargetNewMpps = 3;
constexpr uint32_t kTargetSize = 1'000'000;  // the size the cycle targets are stated at
constexpr uint32_t kTargetLargeSize = 10'000'000;
constexpr double kTargetLargeBytes = 1.5 * (1 << 30);  // 10M connections in under 1.5 GiB

struct Options {
    std::vector<uint32_t> sizes = {1000, 100'000, 1'000'000};
    uint64_t packets = 3'000'000;  // per timed phase and size
    uint32_t rounds = 9;
    uint64_t seed = 1;
    bool huge = false;
    bool sync = false;
    std::vector<std::string> eal_extra;
};

void usage(FILE* out, const char* argv0) {
    std::fprintf(out,
                 "usage: %s [--sizes N,N,...] [--packets N] [--rounds N] [--seed N] [--huge]\n"
                 "          [--sync] [-- EXTRA_EAL_ARGS...]\n"
                 "  --sizes    live connections per run; k and M suffixes allowed\n"
                 "             (default 1000,100000,1000000; 10M needs about 2 GB)\n"
                 "  --packets  packets per timed phase and size (default 3000000)\n"
                 "  --rounds   rounds per phase; the median round is reported (default 9)\n"
                 "  --seed     seed of the random choices and client addresses (default 1)\n"
                 "  --huge     use hugepages (no --no-huge, no -m: memory grows on demand)\n"
                 "  --sync     new connections and established flows also with connection sync\n"
                 "             on, in rounds alternating with the rounds without it\n"
                 "  after --   arguments appended to the EAL's (-l/-c/--lcores replace -l 0)\n",
                 argv0);
}

std::optional<Options> parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--") {
            o.eal_extra.assign(argv + i + 1, argv + argc);
            break;
        }
        if (arg == "--huge") {
            o.huge = true;
            continue;
        }
        if (arg == "--sync") {
            o.sync = true;
            continue;
        }
        if (arg == "--help" || arg == "-h") {
            usage(stdout, argv[0]);
            std::exit(0);
        }
        if (!has_value) {
            std::fprintf(stderr, "unknown option or missing value: %s\n", argv[i]);
            return std::nullopt;
        }
        const std::string_view value = argv[++i];
        if (arg == "--sizes") {
            o.sizes.clear();
            for (size_t start = 0; start <= value.size();) {
                const size_t comma = std::min(value.find(',', start), value.size());
                const auto n = parse_count(value.substr(start, comma - start));
                if (!n || *n == 0 || *n > kMaxSize) {
                    std::fprintf(stderr, "--sizes: each size must be 1..%u\n", kMaxSize);
                    return std::nullopt;
                }
                o.sizes.push_back(static_cast<uint32_t>(*n));
                start = comma + 1;
            }
        } else if (arg == "--packets" || arg == "--rounds" || arg == "--seed") {
            const auto n = parse_count(value);
            if (!n || (*n == 0 && arg != "--seed") || (arg == "--rounds" && *n > 1000)) {
                std::fprintf(stderr, "%s: bad value '%s'\n", argv[i - 1], argv[i]);
                return std::nullopt;
            }
            if (arg == "--packets") {
                o.packets = *n;
            } else if (arg == "--rounds") {
                o.rounds = static_cast<uint32_t>(*n);
            } else {
                o.seed = *n;
            }
        } else {
            std::fprintf(stderr, "unknown option: %s\n", argv[i - 1]);
            return std::nullopt;
        }
    }
    return o;
}

// -m for --no-huge: the largest table, an eighth again for the heap's overhead, and room for
// the mbufs and the EAL's own allocations.
uint64_t eal_memory_mb(uint32_t largest) {
    return (ConnTable::memory_bytes_for(largest) * 9 / 8 >> 20) + 64;
}

// A live connection as the generator knows it: enough to build packets in both directions.
struct Live {
    uint32_t client_ip;
    uint32_t rip;
    uint16_t client_port;
    uint16_t rport;
};

dp::FlowKey inbound_key(const Live& c, uint32_t vip, uint16_t vport) {
    dp::FlowKey k;
    k.src_ip = c.client_ip;
    k.dst_ip = vip;
    k.src_port = c.client_port;
    k.dst_port = vport;
    k.protocol = dp::ipv4::kProtoTcp;
    return k;
}

using Frame = std::array<uint8_t, kFrameLen>;

Frame make_frame(const test::PacketSpec& spec) {
    const std::vector<uint8_t> bytes = test::build_packet(spec);
    Frame f{};  // zero padding up to the minimum frame, as a NIC delivers it
    if (bytes.size() > f.size()) {
        std::fprintf(stderr, "template frame of %zu bytes does not fit\n", bytes.size());
        std::exit(1);
    }
    std::copy(bytes.begin(), bytes.end(), f.begin());
    return f;
}

// One measured phase: cycles/packet of each round, and what went wrong if anything did.
struct Phase {
    explicit Phase(std::string phase_name) : name(std::move(phase_name)) {}
    std::string name;
    std::vector<double> rounds;
    uint64_t packets = 0;
    std::string check;  // empty when every packet did what the phase expects
    std::string ok = "all forwarded";
    std::string note;   // printed after the check (sync: the records and their share)
    double on_cpu = 0;  // percent of the phase's wall time this thread ran
    // With sync on (--sync): records queued, and cycles/packet of each round spent handing them
    // over and packing them (part of `rounds`).
    uint64_t sync_records = 0;
    uint64_t sync_messages = 0;
    std::vector<double> sync_rounds;

    double median() const { return bench::median(rounds); }
    double min() const {
        return rounds.empty() ? 0 : *std::min_element(rounds.begin(), rounds.end());
    }
    double max() const {
        return rounds.empty() ? 0 : *std::max_element(rounds.begin(), rounds.end());
    }
};

struct Memory {
    uint32_t capacity = 0;
    uint32_t live = 0;
    size_t table_bytes = 0;  // ConnTable::memory_bytes()
    size_t heap_bytes = 0;   // as rte_malloc's counters moved when the table was created
    rte_malloc_socket_stats heap{};
};

struct SizeResult {
    uint32_t size = 0;
    Phase fresh{""}, established{""}, replies{""}, mix{""}, ceiling{""};
    Phase fresh_sync{""}, established_sync{""};  // --sync only
    Memory memory;
};

// Drops between two counter snapshots, as "N reason, ...".
std::string drops_between(const dp::WorkerCounters& before, const dp::WorkerCounters& after) {
    std::string out;
    for (size_t r = 0; r < kDropReasonCount; ++r) {
        const uint64_t n = after.drops[r] - before.drops[r];
        if (n > 0) {
            out += (out.empty() ? "" : ", ") + std::to_string(n) + " " +
                   std::string(drop_reason_name(static_cast<DropReason>(r)));
        }
    }
    return out;
}

// One worker on the seed's scenario (tests/dp/lab_fixture.cpp), its clock, and the 32 mbufs it
// is fed again and again.
class Bench {
  public:
    Bench(const Options& options, uint64_t tsc_hz)
        : options_(options),
          tsc_per_ms_(tsc_hz / 1000),
          rng_(options.seed),
          clients_(static_cast<uint32_t>(options.seed * 0x9e3779b9U)),
          snapshot_(test::seed_snapshot()),
          dest_counters_(dp::kMaxDestinations) {
        // The phases fill the table to a given size with SYNs nobody answers: the table shares
        // would hold TCP at 90% and make every SYN past it an eviction. Measured here: the
        // table itself (the eviction path is tests/dp's).
        snapshot_->protocol_share_percent = 100;
        snapshot_->prefix_share_percent = 100;
        const dp::ServiceEntry& web = snapshot_->services.at(0);
        vip_ = web.vip;
        vport_ = web.port;
        ceiling_rip_ = web.servers.at(0).ip;
        ceiling_rport_ = web.servers.at(0).port;
        neighbors_.set(test::kOutsidePort, test::ip_raw("202.103.106.254"), test::kGatewayMac);
        for (const dp::Destination& d : web.servers) {
            neighbors_.set(test::kInsidePort, d.ip,
                           d.ip == test::ip_raw("172.16.0.2") ? test::kRs1Mac : test::kRs2Mac);
        }
        test::PacketSpec in;
        in.src_ip = "198.18.0.1";
        in.src_port = 32768;
        in.dst_ip = test::format_ip(vip_);
        in.dst_port = ntohs(vport_);
        in.src_mac = test::kGatewayMac;
        in.dst_mac = test::kOutsideMac;
        in.tcp_flags = dp::l4::kTcpSyn;
        syn_ = make_frame(in);
        in.tcp_flags = dp::l4::kTcpAckFlag;
        ack_in_ = make_frame(in);
        test::PacketSpec out;
        out.src_ip = test::format_ip(ceiling_rip_);
        out.src_port = ntohs(ceiling_rport_);
        out.dst_ip = "198.18.0.1";
        out.dst_port = 32768;
        out.src_mac = test::kRs1Mac;
        out.dst_mac = test::kInsideMac;
        out.tcp_flags = dp::l4::kTcpAckFlag;
        ack_out_ = make_frame(out);

        pool_ = rte_pktmbuf_pool_create("bench", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                        static_cast<int>(rte_socket_id()));
        if (pool_ == nullptr) {
            fail("mbuf pool: " + std::string(rte_strerror(rte_errno)));
        }
        for (rte_mbuf*& m : burst_) {
            m = new_mbuf();
        }
        ctx_.snapshot = snapshot_.get();
        ctx_.neighbors = &neighbors_;
        ctx_.dest_counters = dest_counters_.data();
        ctx_.pool = pool_;
        start_tsc_ = rte_rdtsc();
        for (uint32_t t : snapshot_->timeouts) {
            longest_timeout_ms_ = std::max(longest_timeout_ms_, t);
        }
        self_check();
        if (options_.sync) {
            sync_ring_ = rte_ring_create_elem("bench_sync", sizeof(dp::sync::Record), kSyncRingSize,
                                              static_cast<int>(rte_socket_id()),
                                              RING_F_SP_ENQ | RING_F_SC_DEQ);
            if (sync_ring_ == nullptr) {
                fail(std::string("sync ring: ") + rte_strerror(rte_errno));
            }
            // Every slot passed once, so that no timed burst takes the ring's page faults.
            std::array<dp::sync::Record, 64> records{};
            for (unsigned done = 0; done < 2 * kSyncRingSize; done += records.size()) {
                rte_ring_sp_enqueue_burst_elem(sync_ring_, records.data(), sizeof(records[0]),
                                               records.size(), nullptr);
                rte_ring_sc_dequeue_burst_elem(sync_ring_, records.data(), sizeof(records[0]),
                                               records.size(), nullptr);
            }
            sync_writer_.begin(kSyncId);
        }
    }

    ~Bench() {
        table_.reset();
        rte_ring_free(sync_ring_);
        for (rte_mbuf* m : burst_) {
            rte_pktmbuf_free(m);
        }
        rte_mempool_free(pool_);
    }
    Bench(const Bench&) = delete;
    Bench& operator=(const Bench&) = delete;

    SizeResult run(uint32_t size) {
        SizeResult r;
        r.size = size;
        create_table(size, r.memory);
        Phase* fresh_sync = options_.sync ? &r.fresh_sync : nullptr;
        Phase* established_sync = options_.sync ? &r.established_sync : nullptr;
        r.fresh = timed(size, [&] { return new_connections(size, fresh_sync); });
        r.fresh_sync.on_cpu = r.fresh.on_cpu;
        measure_memory(r.memory);
        collect_live();
        r.established =
            timed(size, [&] { return established(Direction::either, established_sync); });
        r.established_sync.on_cpu = r.established.on_cpu;
        r.replies = timed(size, [&] { return established(Direction::replies); });
        r.mix = timed(size, [&] { return mix(); });
        r.ceiling = timed(size, [&] { return ceiling(); });
        table_.reset();
        sync_.reset();
        live_.clear();
        live_.shrink_to_fit();
        return r;
    }

  private:
    [[noreturn]] static void fail(const std::string& what) {
        std::fprintf(stderr, "vsnat-bench-pipeline: %s\n", what.c_str());
        std::exit(1);
    }
    template <class RunPhase>
    static Phase timed(uint32_t size, RunPhase&& run_phase) {
        const CpuShare share;
        Phase p = run_phase();
        p.on_cpu = share.percent();
        std::fprintf(stderr, "[%u connections] %s: done\n", size, p.name.c_str());
        return p;
    }

    rte_mbuf* new_mbuf() {
        rte_mbuf* m = rte_pktmbuf_alloc(pool_);
        if (m == nullptr || rte_pktmbuf_append(m, kFrameLen) == nullptr) {
            fail("out of mbufs");
        }
        return m;
    }

    // The worker's notion of time: the TSC, as run_worker reads it, plus the jumps made to
    // expire whole tables at once.
    uint32_t now_ms(uint64_t tsc) const {
        return static_cast<uint32_t>(jumped_ms_ + (tsc - start_tsc_) / tsc_per_ms_);
    }

    // Frame writers: a template copied in, then the connection's addresses and ports put in
    // place with the dataplane's own RFC 1624 rewrite, so every checksum stays right.
    static void write_from_client(rte_mbuf* m, const Frame& tmpl, uint32_t ip, uint16_t port) {
        auto* f = rte_pktmbuf_mtod(m, uint8_t*);
        std::memcpy(f, tmpl.data(), tmpl.size());
        dp::nat_rewrite(f + kL3, f + kL4, dp::ipv4::kProtoTcp, dp::Endpoint::source, ip, port);
        m->port = test::kOutsidePort;
    }
    void write_syn(rte_mbuf* m, const Client& c) const { write_from_client(m, syn_, c.ip, c.port); }
    void write_established(rte_mbuf* m, const Live& c, bool from_client) const {
        if (from_client) {
            write_from_client(m, ack_in_, c.client_ip, c.client_port);
            return;
        }
        auto* f = rte_pktmbuf_mtod(m, uint8_t*);
        std::memcpy(f, ack_out_.data(), ack_out_.size());
        dp::nat_rewrite(f + kL3, f + kL4, dp::ipv4::kProtoTcp, dp::Endpoint::source, c.rip,
                        c.rport);
        dp::nat_rewrite(f + kL3, f + kL4, dp::ipv4::kProtoTcp, dp::Endpoint::destination,
                        c.client_ip, c.client_port);
        m->port = test::kInsidePort;
    }
    // Which way the packets of live connections go: either, at random, or server to client.
    enum class Direction : uint8_t { either, replies };
    void write_random_established(Direction direction = Direction::either) {
        for (uint16_t i = 0; i < kBurst; ++i) {
            const Live& c = live_[rng_.below(static_cast<uint32_t>(live_.size()))];
            write_established(burst_[i], c, direction == Direction::either && (rng_.next() & 1));
        }
    }

    // The generated frames must be what the templates claim: checked once, before timing.
    void self_check() {
        const Live c{htonl(kClientNet | 0x1234), ceiling_rip_, htons(40000), ceiling_rport_};
        for (int from_client = 0; from_client < 2; ++from_client) {
            write_established(burst_[0], c, from_client != 0);
            const auto* f = rte_pktmbuf_mtod(burst_[0], const uint8_t*);
            const std::vector<uint8_t> frame(f, f + kFrameLen);
            const test::PacketFields fields = test::read_fields(frame);
            const bool addressed = from_client
                                       ? fields.src_ip == c.client_ip && fields.dst_ip == vip_
                                       : fields.src_ip == c.rip && fields.dst_ip == c.client_ip;
            if (!test::checksums_valid(frame) || !addressed) {
                fail("generated frame is wrong: a bug in this benchmark");
            }
        }
    }

    void create_table(uint32_t size, Memory& mem) {
        rte_malloc_socket_stats before{}, after{};
        const int socket = static_cast<int>(rte_socket_id());
        rte_malloc_get_socket_stats(socket, &before);
        std::string error;
        table_ = ConnTable::create("bench" + std::to_string(tables_++), size, socket,
                                   now_ms(rte_rdtsc()), &error);
        if (!table_) {
            fail(error + " (more EAL memory: -m, or --huge)");
        }
        rte_malloc_get_socket_stats(socket, &after);
        mem.capacity = size;
        mem.heap_bytes = after.heap_allocsz_bytes - before.heap_allocsz_bytes;
        ctx_.table = table_.get();
        if (options_.sync) {
            sync_ = std::make_unique<dp::ConnSync>(table_->capacity());
        }
    }

    void measure_memory(Memory& mem) const {
        mem.live = table_->size();
        mem.table_bytes = table_->memory_bytes();
        rte_malloc_get_socket_stats(static_cast<int>(rte_socket_id()), &mem.heap);
    }

    void collect_live() {
        live_.clear();
        live_.reserve(table_->size());
        table_->for_each([this](uint32_t, const dp::Conn& c) {
            live_.push_back({c.client_ip, c.rip, c.client_port, c.rport});
        });
    }

    // One burst the way run_worker handles it: process_burst, then the TX batches emptied (here
    // the mbufs come back to us instead of going to a NIC), then bounded expiry. Returns the TSC
    // cycles it took. The first `n` mbufs of burst_ are sent; afterwards burst_ holds kBurst
    // mbufs again, dropped ones (freed by the pipeline) replaced outside the timing.
    uint64_t pipeline_burst(uint16_t n) {
        const uint64_t start = rte_rdtsc();
        const uint32_t now = now_ms(start);
        dp::process_burst(ctx_, burst_.data(), n, now);
        uint16_t back = 0;
        for (dp::PacketBatch& batch : ctx_.tx) {
            for (uint16_t i = 0; i < batch.count; ++i) {
                if (back < n) {
                    burst_[back++] = batch.packets[i];
                } else {
                    rte_pktmbuf_free(batch.packets[i]);  // built by the pipeline (ARP)
                }
            }
            batch.count = 0;
        }
        ctx_.sighting_count = 0;
        dp::expire_connections(ctx_, now, kExpireBudget);
        if (ctx_.sync != nullptr) {
            hand_over_sync();
        }
        const uint64_t cycles = rte_rdtsc() - start;
        for (uint16_t i = back; i < n; ++i) {
            burst_[i] = new_mbuf();
        }
        return cycles;
    }

    // With sync on: the burst's records go from the outbox to the sync thread's ring (the
    // worker's flush_sync), and from the ring into messages (SyncDaemon::send_queued, without
    // sendto: a full message is counted and a new one begun; the partial one stays for the next
    // burst's records). Times itself into sync_cycles_.
    void hand_over_sync() {
        dp::ConnSync& sync = *ctx_.sync;
        if (sync.outbox_count == 0) {
            return;
        }
        const uint64_t start = rte_rdtsc();
        const unsigned queued = rte_ring_sp_enqueue_burst_elem(
            sync_ring_, sync.outbox.data(), sizeof(dp::sync::Record), sync.outbox_count, nullptr);
        ctx_.counters.sync_queued += queued;
        ctx_.counters.sync_dropped += sync.outbox_count - queued;
        sync.outbox_count = 0;
        std::array<dp::sync::Record, 64> taken;
        unsigned n = 0;
        while ((n = rte_ring_sc_dequeue_burst_elem(
                    sync_ring_, taken.data(), sizeof(dp::sync::Record), taken.size(), nullptr)) >
               0) {
            for (unsigned i = 0; i < n; ++i) {
                if (!sync_writer_.add(taken[i])) {
                    ++sync_messages_;
                    sync_writer_.begin(kSyncId);
                    sync_writer_.add(taken[i]);
                }
            }
        }
        sync_cycles_ += rte_rdtsc() - start;
    }

    // Runs `round` (which returns its packets) with sync on, and adds the records it queued and
    // the cycles their hand-over took to `p`.
    template <class Round>
    void with_sync(Phase& p, Round&& round) {
        ctx_.sync = sync_.get();
        const uint64_t queued = ctx_.counters.sync_queued;
        const uint64_t messages = sync_messages_;
        sync_cycles_ = 0;
        const uint64_t packets = round();
        ctx_.sync = nullptr;
        p.sync_records += ctx_.counters.sync_queued - queued;
        p.sync_messages += sync_messages_ - messages;
        p.sync_rounds.push_back(static_cast<double>(sync_cycles_) / static_cast<double>(packets));
    }

    // The records a sync phase queued, per packet, and what handing them over cost.
    static void note_sync(Phase& p) {
        char text[160];
        std::snprintf(
            text, sizeof text,
            "; %llu records (%.4f/pkt) in %llu full msgs, ring+pack %.1f cyc/pkt",
            static_cast<unsigned long long>(p.sync_records),
            p.packets ? static_cast<double>(p.sync_records) / static_cast<double>(p.packets) : 0,
            static_cast<unsigned long long>(p.sync_messages), bench::median(p.sync_rounds));
        p.note = text;
    }

    void expire_all() {
        jumped_ms_ += longest_timeout_ms_ + 1000;
        dp::expire_connections(ctx_, now_ms(rte_rdtsc()), UINT32_MAX);
        if (table_->size() != 0) {
            fail("connections left after expiring everything");
        }
    }

    void finish(Phase& p, const dp::WorkerCounters& before, uint64_t expect_created) const {
        const dp::WorkerCounters& after = ctx_.counters;
        std::string problems = drops_between(before, after);
        const uint64_t created = after.connections_created - before.connections_created;
        if (created != expect_created && problems.empty()) {
            problems += (problems.empty() ? "" : ", ") + std::to_string(created) + " of " +
                        std::to_string(expect_created) + " connections created";
        }
        p.check = problems;
    }

    // Sends SYNs from fresh clients until the table holds `target` or the hash refuses one.
    // Returns the cycles taken and adds the packets sent to `packets`.
    uint64_t fill(uint32_t target, uint64_t& packets) {
        uint64_t cycles = 0;
        while (table_->size() < target) {
            const auto n =
                static_cast<uint16_t>(std::min<uint32_t>(kBurst, target - table_->size()));
            for (uint16_t i = 0; i < n; ++i) {
                write_syn(burst_[i], clients_.next());
            }
            const uint64_t refused = ctx_.counters.dropped(DropReason::table_full);
            cycles += pipeline_burst(n);
            packets += n;
            if (ctx_.counters.dropped(DropReason::table_full) != refused) {
                break;  // the hash found no place: the table is as full as it gets
            }
        }
        return cycles;
    }

    // Fills the table from empty to `target`, then expires everything (not timed) and fills it
    // again, until enough fills and packets are measured; each fill is one round. The first
    // fill is a warm-up, not counted: under --no-huge it takes the page faults of the table's
    // fresh memory. The last fill stays for the phases after.
    // With `synced`, each fill is followed by one with sync on, measured into it.
    Phase new_connections(uint32_t target, Phase* synced = nullptr) {
        Phase p("new connections (SYN)");
        uint64_t warm_up = 0;
        fill(target, warm_up);
        const dp::WorkerCounters before = ctx_.counters;
        uint32_t fullest_refusal = 0, emptiest_refusal = UINT32_MAX;
        uint64_t fills = 0;
        while (!((fills >= options_.rounds && p.packets >= options_.packets) ||
                 (fills > 0 && p.packets >= 3 * options_.packets))) {
            expire_all();
            uint64_t packets = 0;
            const uint64_t cycles = fill(target, packets);
            if (table_->size() < target) {
                fullest_refusal = std::max(fullest_refusal, table_->size());
                emptiest_refusal = std::min(emptiest_refusal, table_->size());
            }
            p.rounds.push_back(static_cast<double>(cycles) / static_cast<double>(packets));
            p.packets += packets;
            ++fills;
            if (synced != nullptr) {
                expire_all();
                with_sync(*synced, [&] {
                    uint64_t synced_packets = 0;
                    const uint64_t synced_cycles = fill(target, synced_packets);
                    if (table_->size() < target) {
                        fullest_refusal = std::max(fullest_refusal, table_->size());
                        emptiest_refusal = std::min(emptiest_refusal, table_->size());
                    }
                    synced->rounds.push_back(static_cast<double>(synced_cycles) /
                                             static_cast<double>(synced_packets));
                    synced->packets += synced_packets;
                    return synced_packets;
                });
            }
        }
        finish(p, before, p.packets + (synced != nullptr ? synced->packets : 0));
        if (emptiest_refusal != UINT32_MAX) {
            p.check += "; the hash refused inserts at " + std::to_string(emptiest_refusal) +
                       (fullest_refusal != emptiest_refusal ? ".." + std::to_string(fullest_refusal)
                                                            : std::string()) +
                       " connections";
        }
        if (synced != nullptr) {
            synced->name = p.name + " + sync";
            synced->check = p.check;  // the counters are the two phases' together
            note_sync(*synced);
        }
        return p;
    }

    // Packets of live connections, uniformly random over the live set, in either direction or
    // only from the servers. One untimed warm-up round first.
    // With `synced`, each round is followed by one with sync on, measured into it.
    Phase established(Direction direction, Phase* synced = nullptr) {
        Phase p(direction == Direction::either ? "established flows" : "replies (server->client)");
        const uint64_t per_round = packets_per_round();
        for (uint64_t packets = 0; packets < per_round; packets += kBurst) {
            write_random_established(direction);
            pipeline_burst(kBurst);
        }
        const dp::WorkerCounters before = ctx_.counters;
        for (uint32_t round = 0; round < options_.rounds; ++round) {
            uint64_t cycles = 0, packets = 0;
            for (; packets < per_round; packets += kBurst) {
                write_random_established(direction);
                cycles += pipeline_burst(kBurst);
            }
            p.rounds.push_back(static_cast<double>(cycles) / static_cast<double>(packets));
            p.packets += packets;
            if (synced != nullptr) {
                with_sync(*synced, [&] {
                    uint64_t synced_cycles = 0, synced_packets = 0;
                    for (; synced_packets < per_round; synced_packets += kBurst) {
                        write_random_established(direction);
                        synced_cycles += pipeline_burst(kBurst);
                    }
                    synced->rounds.push_back(static_cast<double>(synced_cycles) /
                                             static_cast<double>(synced_packets));
                    synced->packets += synced_packets;
                    return synced_packets;
                });
            }
        }
        finish(p, before, 0);
        if (synced != nullptr) {
            synced->name = p.name + " + sync";
            synced->check = p.check;  // the counters are the two phases' together
            note_sync(*synced);
        }
        return p;
    }

    uint64_t packets_per_round() const {
        return std::max<uint64_t>(options_.packets / options_.rounds, kBurst);
    }

    // Established packets with 1% SYNs from fresh clients. Each new connection takes the place
    // of a random live one, erased before the burst (not timed), so the table keeps its size.
    Phase mix() {
        Phase p("1% new connections");
        const uint64_t per_round = packets_per_round();
        const dp::WorkerCounters before = ctx_.counters;
        uint64_t opened = 0;
        for (uint32_t round = 0; round < options_.rounds; ++round) {
            uint64_t cycles = 0, packets = 0;
            for (; packets < per_round; packets += kBurst) {
                SlotList replaced;
                std::array<bool, kBurst> is_syn{};
                for (uint16_t i = 0; i < kBurst && live_.size() > 2 * kBurst; ++i) {
                    if (rng_.below(100) < kMixNewPercent) {
                        const uint32_t slot = pick_slot(replaced);
                        const uint32_t id = table_->lookup(inbound_key(live_[slot], vip_, vport_));
                        if (id == ConnTable::kNoConn) {
                            fail("a live connection is missing from the table");
                        }
                        table_->erase(id);  // what expiry would do, minus the counters
                        const Client c = clients_.next();
                        live_[slot] = {c.ip, 0, c.port, 0};
                        write_syn(burst_[i], c);
                        replaced.push(slot);
                        is_syn[i] = true;
                    }
                }
                for (uint16_t i = 0; i < kBurst; ++i) {
                    if (!is_syn[i]) {
                        write_established(burst_[i], live_[pick_slot(replaced)], rng_.next() & 1);
                    }
                }
                cycles += pipeline_burst(kBurst);
                opened += replaced.count;
                learn_servers(replaced);
            }
            p.rounds.push_back(static_cast<double>(cycles) / static_cast<double>(packets));
            p.packets += packets;
        }
        finish(p, before, opened);
        p.name += " (" + std::to_string(opened) + " SYN)";
        return p;
    }

    // Slots of live_ whose connection is being replaced in this burst.
    struct SlotList {
        std::array<uint32_t, kBurst> slots{};
        uint16_t count = 0;
        void push(uint32_t slot) { slots[count++] = slot; }
        bool has(uint32_t slot) const {
            return std::find(slots.begin(), slots.begin() + count, slot) != slots.begin() + count;
        }
    };

    // A random live slot not being replaced in this burst.
    uint32_t pick_slot(const SlotList& replaced) {
        for (;;) {
            const uint32_t slot = rng_.below(static_cast<uint32_t>(live_.size()));
            if (!replaced.has(slot)) {
                return slot;
            }
        }
    }

    // Where the scheduler sent the new connections, for their packets from the server. A SYN
    // the table refused (counted as a drop) leaves its slot: it is removed from the live set.
    void learn_servers(SlotList& replaced) {
        std::sort(replaced.slots.begin(), replaced.slots.begin() + replaced.count,
                  std::greater<>());
        for (uint16_t i = 0; i < replaced.count; ++i) {
            const uint32_t slot = replaced.slots[i];
            const uint32_t id = table_->lookup(inbound_key(live_[slot], vip_, vport_));
            if (id == ConnTable::kNoConn) {
                live_[slot] = live_.back();  // slots above this one are already settled
                live_.pop_back();
                continue;
            }
            live_[slot].rip = table_->conn(id).rip;
            live_[slot].rport = table_->conn(id).rport;
        }
    }

    // The same frames as the established phase through parse, TTL and NAT rewrite only: no
    // table, no state, no routing or MAC addresses, no TX batches.
    Phase ceiling() {
        Phase p("ceiling: parse + TTL + NAT only");
        p.ok = "all parsed";
        const uint64_t per_round = packets_per_round();
        uint64_t not_parsed = 0;
        for (uint32_t round = 0; round < options_.rounds; ++round) {
            uint64_t cycles = 0, packets = 0;
            for (; packets < per_round; packets += kBurst) {
                write_random_established();
                const uint64_t start = rte_rdtsc();
                for (rte_mbuf* m : burst_) {
                    auto* f = rte_pktmbuf_mtod(m, uint8_t*);
                    const dp::ParsedFrame parsed = dp::parse_frame(f, rte_pktmbuf_data_len(m));
                    if (parsed.kind != dp::FrameKind::ipv4) {
                        ++not_parsed;
                        continue;
                    }
                    uint8_t* ip = f + parsed.l3_offset;
                    uint8_t* l4p = f + parsed.l4_offset;
                    dp::decrement_ttl(ip);
                    if (dp::load_u32_raw(ip + dp::ipv4::kDst) == vip_) {
                        dp::nat_rewrite(ip, l4p, parsed.ip_protocol, dp::Endpoint::destination,
                                        ceiling_rip_, ceiling_rport_);
                    } else {
                        dp::nat_rewrite(ip, l4p, parsed.ip_protocol, dp::Endpoint::source, vip_,
                                        vport_);
                    }
                }
                cycles += rte_rdtsc() - start;
            }
            p.rounds.push_back(static_cast<double>(cycles) / static_cast<double>(packets));
            p.packets += packets;
        }
        if (not_parsed > 0) {
            p.check = std::to_string(not_parsed) + " frames not parsed as IPv4";
        }
        return p;
    }

    const Options& options_;
    const uint64_t tsc_per_ms_;
    uint64_t start_tsc_ = 0;
    uint64_t jumped_ms_ = 0;
    uint32_t longest_timeout_ms_ = 0;
    uint32_t tables_ = 0;
    Rng rng_;
    FreshClients clients_;
    std::unique_ptr<dp::Snapshot> snapshot_;
    dp::NeighborTable neighbors_;
    std::vector<dp::DestCounters> dest_counters_;
    std::unique_ptr<ConnTable> table_;
    // --sync: the worker's sync state (attached to ctx_ only in sync rounds), the ring to the
    // sync thread and the sync thread's writer.
    std::unique_ptr<dp::ConnSync> sync_;
    rte_ring* sync_ring_ = nullptr;
    dp::sync::MessageWriter sync_writer_;
    uint64_t sync_cycles_ = 0;
    uint64_t sync_messages_ = 0;
    rte_mempool* pool_ = nullptr;
    std::array<rte_mbuf*, kBurst> burst_{};
    dp::WorkerContext ctx_;
    std::vector<Live> live_;
    uint32_t vip_ = 0, ceiling_rip_ = 0;
    uint16_t vport_ = 0, ceiling_rport_ = 0;
    Frame syn_{}, ack_in_{}, ack_out_{};
};

std::string verdict(bool met) {
    return met ? "met" : "not met";
}

// The target a phase's figure is held to, and whether it meets it; "" for phases without one.
// The targets are stated at 1M connections; other sizes show where they stand against them.
std::string phase_target(const SizeResult& r, const Phase& p, double mpps) {
    char text[64];
    if (&p == &r.fresh || &p == &r.fresh_sync) {
        std::snprintf(text, sizeof text, ">=%.0f Mpps: %s", kTargetNewMpps,
                      verdict(mpps >= kTargetNewMpps).c_str());
    } else if (&p == &r.established || &p == &r.replies || &p == &r.established_sync) {
        std::snprintf(text, sizeof text, "<=%.0f cyc/pkt: %s", kTargetEstablishedCycles,
                      verdict(p.median() <= kTargetEstablishedCycles).c_str());
    } else {
        return "";
    }
    return text;
}

std::string memory_target(const Memory& m) {
    const double per_live = m.live ? static_cast<double>(m.table_bytes) / m.live : 0;
    std::string text = "<=" + std::to_string(static_cast<int>(kTargetBytesPerConn)) +
                       " B/live: " + verdict(per_live > 0 && per_live <= kTargetBytesPerConn);
    if (m.capacity >= kTargetLargeSize) {
        text +=
            "; 10M in <1.5 GiB: " + verdict(static_cast<double>(m.table_bytes) < kTargetLargeBytes);
    }
    return text;
}

// --sync: what sync adds to a new connection and to an established packet, and the share of a
// core that costs at 100k new connections a second, for each size.
void print_sync_cost(const std::vector<SizeResult>& results, double tsc_hz) {
    std::printf(
        "\nconnection sync (--sync): extra cycles with sync on, medians of rounds alternating "
        "without and with it\n%-11s %9s %13s %12s %13s %15s %25s\n",
        "live conns", "SYN", "estab. pkt", "records/pkt", "ring+pack", "per connection",
        "CPU at 100k new conn/s");
    for (const SizeResult& r : results) {
        const double syn = r.fresh_sync.median() - r.fresh.median();
        const double pkt = r.established_sync.median() - r.established.median();
        const Phase& es = r.established_sync;
        const double records =
            es.packets ? static_cast<double>(es.sync_records) / static_cast<double>(es.packets) : 0;
        const double hand_over = median(es.sync_rounds);
        const double per_connection = syn + kSyncPacketsPerConnection * pkt;
        std::printf("%-11u %+9.1f %+13.1f %12.4f %9.0f/rec %15.0f %24.2f%%\n", r.size, syn, pkt,
                    records, records > 0 ? hand_over / records : 0, per_connection,
                    100 * per_connection * kSyncConnectionsPerSecond / tsc_hz);
    }
    std::printf(
        "  SYN, estab. pkt: cycles/pkt with sync minus without (new connections; established "
        "flows, with the records\n  they queued, records/pkt). ring+pack: cycles a record took "
        "from the outbox through the ring into a message\n  (part of estab. pkt). Per "
        "connection: its SYN and %u established packets = SYN + %u x estab. pkt (with\n  their "
        "records at the phase's rate: records/pkt x %u a connection). CPU = per connection x "
        "%.0fk/s / TSC Hz.\n  Not in it: sending the messages (vsnat-bench-sync: sendto), the "
        "records of closing states, and the backup's\n  decoding and applying "
        "(vsnat-bench-sync).\n",
        kSyncPacketsPerConnection, kSyncPacketsPerConnection, kSyncPacketsPerConnection,
        kSyncConnectionsPerSecond / 1000);
}

void print_report(const std::vector<SizeResult>& results, double tsc_hz) {
    auto mpps = [tsc_hz](double cycles) { return cycles > 0 ? tsc_hz / cycles / 1e6 : 0; };
    std::printf("\n%-11s  %-36s %9s %12s %17s %10s %-24s %10s %7s  %s\n", "live conns", "phase",
                "Mpps", "cycles/pkt", "min..max cyc/pkt", "x ceiling", "target", "packets",
                "on-CPU", "check");
    for (const SizeResult& r : results) {
        const double ceiling = r.ceiling.median();
        std::vector<const Phase*> phases = {&r.fresh, &r.established, &r.replies, &r.mix,
                                            &r.ceiling};
        if (!r.fresh_sync.rounds.empty()) {  // --sync: each after its phase without sync
            phases = {&r.fresh,   &r.fresh_sync, &r.established, &r.established_sync,
                      &r.replies, &r.mix,        &r.ceiling};
        }
        for (const Phase* p : phases) {
            const double c = p->median();
            std::printf(
                "%-11u  %-36s %9.2f %12.0f %8.0f..%-8.0f %9.1fx %-24s %10llu %6.0f%%  %s%s\n",
                r.size, p->name.c_str(), mpps(c), c, p->min(), p->max(), c / ceiling,
                phase_target(r, *p, mpps(c)).c_str(), static_cast<unsigned long long>(p->packets),
                p->on_cpu, p->check.empty() ? p->ok.c_str() : p->check.c_str(), p->note.c_str());
        }
    }

    std::printf("\n%-11s %10s %10s %11s %11s %10s %10s %13s %13s  %s\n", "memory", "capacity",
                "live", "table MB", "created MB", "B/cap", "B/live", "heap alloc MB",
                "heap total MB", "target");
    for (const SizeResult& r : results) {
        const Memory& m = r.memory;
        const auto mb = [](double b) { return b / (1 << 20); };
        std::printf("%-11u %10u %10u %11.1f %11.1f %10.1f %10.1f %13.1f %13.1f  %s\n", r.size,
                    m.capacity, m.live, mb(static_cast<double>(m.table_bytes)),
                    mb(static_cast<double>(m.heap_bytes)),
                    static_cast<double>(m.table_bytes) / m.capacity,
                    m.live ? static_cast<double>(m.table_bytes) / m.live : 0,
                    mb(static_cast<double>(m.heap.heap_allocsz_bytes)),
                    mb(static_cast<double>(m.heap.heap_totalsz_bytes)), memory_target(m).c_str());
    }
    std::printf(
        "  table = ConnTable::memory_bytes(): the index (64-byte buckets of 8 entries, 2 per "
        "connection) + %zu-byte records\n  + timer wheel nodes; created = what rte_malloc's "
        "counters moved when the table was made; heap = "
        "rte_malloc socket %u stats with the table full (mbufs included).\n",
        sizeof(dp::Conn), rte_socket_id());

    // Targets are stated at 1M connections; without that size, the largest one run stands in.
    const auto at_target = std::find_if(results.begin(), results.end(),
                                        [](const SizeResult& r) { return r.size == kTargetSize; });
    const SizeResult* at = at_target != results.end()
                               ? &*at_target
                               : &*std::max_element(results.begin(), results.end(),
                                                    [](const SizeResult& a, const SizeResult& b) {
                                                        return a.size < b.size;
                                                    });
    const double bytes =
        at->memory.live ? static_cast<double>(at->memory.table_bytes) / at->memory.live : 0;
    const double est = at->established.median();
    const double replies = at->replies.median();
    const double fresh = mpps(at->fresh.median());
    std::printf("\ntargets (at %u live connections%s):\n", at->size,
                at->size == kTargetSize ? "" : "; 1M was not run");
    std::printf("  memory per live connection  %7.1f B          target <=%.0f B: %s\n", bytes,
                kTargetBytesPerConn, verdict(bytes > 0 && bytes <= kTargetBytesPerConn).c_str());
    std::printf("  established flows           %7.0f cycles/pkt  target <=%.0f cycles/pkt: %s\n",
                est, kTargetEstablishedCycles, verdict(est <= kTargetEstablishedCycles).c_str());
    std::printf("  replies (server->client)    %7.0f cycles/pkt  target <=%.0f cycles/pkt: %s\n",
                replies, kTargetEstablishedCycles,
                verdict(replies <= kTargetEstablishedCycles).c_str());
    std::printf(
        "  new connections             %7.2f Mpps        target >=%.0f Mpps per worker: %s\n",
        fresh, kTargetNewMpps, verdict(fresh >= kTargetNewMpps).c_str());
    const auto large = std::find_if(results.begin(), results.end(),
                                    [](const SizeResult& r) { return r.size == kTargetLargeSize; });
    if (large == results.end()) {
        std::printf("  10M connections in <1.5 GiB: not run (--sizes 10M)\n");
    } else {
        const double gib = static_cast<double>(large->memory.table_bytes) / (1 << 30);
        std::printf(
            "  10M connections             %7.2f GiB        target <1.5 GiB: %s\n", gib,
            verdict(static_cast<double>(large->memory.table_bytes) < kTargetLargeBytes).c_str());
    }
    if (!at->fresh_sync.rounds.empty()) {
        print_sync_cost(results, tsc_hz);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const std::optional<Options> parsed = parse_options(argc, argv);
    if (!parsed) {
        usage(stderr, argv[0]);
        return 2;
    }
    const Options& options = *parsed;
    const uint32_t largest = *std::max_element(options.sizes.begin(), options.sizes.end());
    const uint64_t memory_mb = eal_memory_mb(largest);
    // Besides the EAL's memory: the generator's list of live connections.
    const uint64_t needed_mb = (options.huge ? 0 : memory_mb) +
                               ((static_cast<uint64_t>(largest) * sizeof(Live)) >> 20) + 64;
    if (needed_mb > mem_available_mb()) {
        std::fprintf(stderr, "%u connections need about %llu MB; only %llu MB are available\n",
                     largest, static_cast<unsigned long long>(needed_mb),
                     static_cast<unsigned long long>(mem_available_mb()));
        return 1;
    }

    const std::optional<std::string> eal_line =
        init_eal(argv[0], options.huge, memory_mb, "vsnat-bench-", options.eal_extra);
    if (!eal_line) {
        return 1;
    }

    const uint64_t tsc_hz = rte_get_tsc_hz();
    std::vector<SizeResult> results;
    {
        Bench bench(options, tsc_hz);
        for (uint32_t size : options.sizes) {
            results.push_back(bench.run(size));
        }
    }

    std::printf("vsnat in-process pipeline benchmark\n");
    std::printf("command: %s\n", join_quoted({argv, argv + argc}).c_str());
    std::printf("EAL:     %s\n", eal_line->c_str());
    std::printf("CPU:     %s, TSC %.3f GHz (rte_get_tsc_hz); one worker on lcore %u\n",
                cpu_model().c_str(), static_cast<double>(tsc_hz) / 1e9, rte_lcore_id());
    std::printf(
        "traffic: bursts of %u mbufs, %zu-byte TCP/IPv4 frames (64 B on the wire), seed scenario "
        "(VIP 202.103.106.5:80,\n         wrr 1:2 over 2 servers), clients from 198.18.0.0/15, "
        "either direction, no RX offload flags (IP\n         header checksum verified in "
        "software)\n",
        kBurst, kFrameLen);
    std::printf(
        "timed:   process_burst + emptying the TX batches (mbufs kept for the next burst: no "
        "rte_eth_tx_burst, no free/alloc)\n         + expire_connections(budget %u), per burst, "
        "as run_worker does.\nuntimed: writing the frames into the mbufs (template copy + "
        "address patch, so they are cache-hot), a first fill\n         of each table (warm-up), "
        "emptying the table between fills, and in the mix the erase that makes room for each\n"
        "         new connection.\n",
        kExpireBudget);
    std::printf(
        "figures: median over rounds (new connections: one round per fill of the table from empty "
        "to full;\n         other phases: %u rounds of %llu packets, established flows after an "
        "untimed warm-up round);\n         Mpps = TSC Hz / median cycles/pkt, on one core; "
        "x ceiling = cycles/pkt over the ceiling's at that size;\n         on-CPU = "
        "this thread's CPU time over the phase's wall time (below 100%%: other work ran here).\n",
        options.rounds, static_cast<unsigned long long>(options.packets / options.rounds));
    if (options.sync) {
        std::printf(
            "sync:    (--sync) new connections and established flows again with a ConnSync in the "
            "worker's context,\n         in rounds alternating with those without; also timed, "
            "per burst: the outbox's records into an\n         rte_ring (SP/SC, %u records) as "
            "flush_sync does, dequeued 64 at a time and packed into IPVS v1\n         messages "
            "(MessageWriter, %zu bytes) as SyncDaemon::send_queued does, without sendto.\n",
            kSyncRingSize, dp::sync::kDefaultMaxMessageSize);
    }
    print_report(results, static_cast<double>(tsc_hz));

    // The EAL leaves its (empty, with --no-shconf) runtime directory behind: one per run.
    const std::string runtime_dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    rmdir(runtime_dir.c_str());
    return 0;
}
