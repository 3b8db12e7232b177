// In-process benchmark of connection sync (README.md, "A pair of directors"): records per second
// and cycles per record of the two halves of dp/conn_sync + cp/sync_daemon, on one thread each.
//
//   send:  the record of a live connection of a worker's table (dp::sync_record_of) packed into
//          IPVS v1 messages (dp::sync::MessageWriter add/finish), as the worker and
//          SyncDaemon::send_queued do between them; without a socket, through an rte_ring as
//          the worker hands records to the sync thread, and sent by UDP to a receiver on
//          127.0.0.1 that reads and discards them.
//   apply: real messages decoded (dp::sync::decode) and each record applied to a worker's table
//          (dp::apply_sync_record): fresh connections filling the table from empty, and updates
//          of connections it holds.
//
// Nothing leaves the host: client addresses (198.18.0.0/15) are bytes in memory, and the only
// datagrams go to a socket of this process on the loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "dp/bytes.hpp"
#include "dp/conn_sync.hpp"
#include "dp/lab_fixture.hpp"  // tests/dp: the seed's scenario (snapshot)
#include "dp/pipeline.hpp"
#include "dp/sync_wire.hpp"
#include "support/packet_builder.hpp"

namespace {

using namespace vsnat;
using namespace vsnat::bench;
namespace sync = dp::sync;
using dp::ConnState;
using dp::ConnTable;

constexpr uint8_t kSyncId = 1;
constexpr uint32_t kMinSize = 1000;
constexpr uint32_t kMaxSize = 16'000'000;  // about 1 GiB of table
constexpr uint64_t kMinRecords = 1000;
constexpr uint64_t kMaxRecords = 1'000'000'000;
constexpr uint32_t kMaxRounds = 1000;
// As the daemon has them: a worker flushes its outbox to its ring after each burst of 32
// packets (at most one record each), the ring holds cp::SyncDaemon::kRingSize records, and
// send_queued dequeues 64 at a time.
constexpr unsigned kWorkerFlush = 32;
constexpr unsigned kRingSize = 16384;
constexpr unsigned kSyncDequeue = 64;
constexpr int kReceiveBufferBytes = 4 << 20;  // as the daemon's socket

struct Options {
    uint32_t size = 1'000'000;
    uint64_t records = 2'000'000;  // per phase
    uint32_t rounds = 9;
    bool huge = false;
    std::vector<std::string> eal_extra;
};

void usage(FILE* out, const char* argv0) {
    std::fprintf(out,
                 "usage: %s [--size N] [--records N] [--rounds N] [--huge] [-- EXTRA_EAL_ARGS...]\n"
                 "  --size     connections in the worker's table (default 1M; %uk..%uM);\n"
                 "             k and M suffixes allowed\n"
                 "  --records  records per timed phase (default 2M; %llu..%lluM), split over the\n"
                 "             rounds; fresh inserts: whole fills of the table, at least --rounds\n"
                 "             fills and this many records, but no more fills than 3x this many\n"
                 "  --rounds   rounds per phase; the median round is reported (default 9; 1..%u)\n"
                 "  --huge     use hugepages (no --no-huge, no -m: memory grows on demand)\n"
                 "  after --   arguments appended to the EAL's (-l/-c/--lcores replace -l 0)\n",
                 argv0, kMinSize / 1000, kMaxSize / 1'000'000,
                 static_cast<unsigned long long>(kMinRecords),
                 static_cast<unsigned long long>(kMaxRecords / 1'000'000), kMaxRounds);
}

std::optional<Options> parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--") {
            o.eal_extra.assign(argv + i + 1, argv + argc);
            break;
        }
        if (arg == "--huge") {
            o.huge = true;
            continue;
        }
        if (arg == "--help" || arg == "-h") {
            usage(stdout, argv[0]);
            std::exit(0);
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "unknown option or missing value: %s\n", argv[i]);
            return std::nullopt;
        }
        const auto n = parse_count(argv[++i]);
        if (arg == "--size" && n && *n >= kMinSize && *n <= kMaxSize) {
            o.size = static_cast<uint32_t>(*n);
        } else if (arg == "--records" && n && *n >= kMinRecords && *n <= kMaxRecords) {
            o.records = *n;
        } else if (arg == "--rounds" && n && *n >= 1 && *n <= kMaxRounds) {
            o.rounds = static_cast<uint32_t>(*n);
        } else if (arg == "--size" || arg == "--records" || arg == "--rounds") {
            std::fprintf(stderr, "%s: bad value '%s'\n", argv[i - 1], argv[i]);
            return std::nullopt;
        } else {
            std::fprintf(stderr, "unknown option: %s\n", argv[i - 1]);
            return std::nullopt;
        }
    }
    return o;
}

// -m for --no-huge: the table, an eighth again for the heap's overhead, the ring and the EAL's
// own allocations.
uint64_t eal_memory_mb(uint32_t size) {
    return (ConnTable::memory_bytes_for(size) * 9 / 8 >> 20) + 64;
}

// One measured phase: cycles/record of each round (and of its two halves, for the apply
// phases), and what went wrong if anything did.
struct Phase {
    explicit Phase(std::string phase_name) : name(std::move(phase_name)) {}
    std::string name;
    std::vector<double> rounds, decode_rounds, apply_rounds;
    uint64_t records = 0;
    uint64_t messages = 0;
    std::string check;  // empty when every record did what the phase expects
    std::string ok;
    double on_cpu = 0;
    double min() const {
        return rounds.empty() ? 0 : *std::min_element(rounds.begin(), rounds.end());
    }
    double max() const {
        return rounds.empty() ? 0 : *std::max_element(rounds.begin(), rounds.end());
    }
};

// Passes every slot of a ring of records once, so that the timed phases take none of its page
// faults (without hugepages, EAL memory is faulted in on first touch).
void warm_up_ring(rte_ring* ring, unsigned size) {
    std::array<sync::AnyRecord, 64> records{};
    for (unsigned done = 0; done < 2 * size; done += records.size()) {
        rte_ring_sp_enqueue_burst_elem(ring, records.data(), sizeof(sync::AnyRecord),
                                       records.size(), nullptr);
        rte_ring_sc_dequeue_burst_elem(ring, records.data(), sizeof(sync::AnyRecord),
                                       records.size(), nullptr);
    }
}

// A UDP socket on 127.0.0.1 and a thread that reads and discards what arrives, on a CPU other
// than the sender's when there is one.
class DiscardReceiver {
  public:
    DiscardReceiver(const cpu_set_t& cpus, int sender_cpu) {
        fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
        const int rcvbuf = kReceiveBufferBytes;
        const timeval timeout{0, 100'000};  // to see stop_ without a datagram
        sockaddr_in local{};
        local.sin_family = AF_INET;
        local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof address_;
        if (fd_ < 0 || ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0 ||
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
            ::bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address_), &len) != 0) {
            std::fprintf(stderr, "vsnat-bench-sync: receiver socket: %s\n", std::strerror(errno));
            std::exit(1);
        }
        // The EAL pinned this thread to the main lcore's CPU; the receiver gets the others.
        cpu_set_t others = cpus;
        if (CPU_COUNT(&others) > 1 && sender_cpu >= 0) {
            CPU_CLR(sender_cpu, &others);
        }
        cpu_count_ = CPU_COUNT(&others);
        thread_ = std::thread([this, others] {
            pthread_setaffinity_np(pthread_self(), sizeof others, &others);
            std::vector<uint8_t> buffer(sync::kMaxMessageSize + 1);
            while (!stop_.load(std::memory_order_relaxed)) {
                if (::recv(fd_, buffer.data(), buffer.size(), 0) >= 0) {
                    received_.fetch_add(1, std::memory_order_relaxed);
                }
            }
        });
    }
    ~DiscardReceiver() {
        stop_.store(true, std::memory_order_relaxed);
        thread_.join();
        ::close(fd_);
    }
    DiscardReceiver(const DiscardReceiver&) = delete;
    DiscardReceiver& operator=(const DiscardReceiver&) = delete;

    const sockaddr_in& address() const { return address_; }
    uint64_t received() const { return received_.load(std::memory_order_relaxed); }
    int cpu_count() const { return cpu_count_; }

  private:
    int fd_ = -1;
    int cpu_count_ = 0;
    sockaddr_in address_{};
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> received_{0};
    std::thread thread_;
};

// One worker's sync state on the seed's scenario: its table of `size` connections with sync on,
// the ring a worker hands records to the sync thread through, and the sync thread's writer.
class Bench {
  public:
    Bench(const Options& options, uint64_t tsc_hz)
        : options_(options),
          tsc_per_ms_(tsc_hz / 1000),
          rng_(1),
          snapshot_(test::seed_snapshot()),
          dest_counters_(dp::kMaxDestinations),
          ctx_(std::make_unique<dp::WorkerContext>()) {
        const dp::ServiceEntry& web = snapshot_->services.at(0);
        vip_ = web.vip;
        vport_ = web.port;
        for (const dp::Destination& d : web.servers) {
            servers_.push_back(d);
        }
        established_timeout_s_ =
            snapshot_->timeouts[static_cast<size_t>(ConnState::established)] / 1000;
        for (uint32_t t : snapshot_->timeouts) {
            longest_timeout_ms_ = std::max(longest_timeout_ms_, t);
        }
        start_tsc_ = rte_rdtsc();
        std::string error;
        table_ = ConnTable::create("bench_sync", options.size, static_cast<int>(rte_socket_id()),
                                   now_ms(start_tsc_), &error);
        if (!table_) {
            fail(error + " (more EAL memory: -m)");
        }
        ring_ =
            rte_ring_create_elem("bench_sync", sizeof(sync::AnyRecord), kRingSize,
                                 static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (ring_ == nullptr) {
            fail(std::string("ring: ") + rte_strerror(rte_errno));
        }
        warm_up_ring(ring_, kRingSize);
        ctx_->table = table_.get();
        ctx_->snapshot = snapshot_.get();
        ctx_->dest_counters = dest_counters_.data();
        sync_ = std::make_unique<dp::ConnSync>(table_->capacity(), 0);
        ctx_->sync = sync_.get();
        writer_.begin(kSyncId);
    }
    ~Bench() {
        table_.reset();
        rte_ring_free(ring_);
    }
    Bench(const Bench&) = delete;
    Bench& operator=(const Bench&) = delete;

    static size_t records_per_message() {
        return (sync::kDefaultMaxMessageSize - sync::kHeaderLen) / sync::kRecordV4Len;
    }

    // Fresh inserts first: their last fill is the table the other phases use.
    std::vector<Phase> run(const cpu_set_t& cpus, int sender_cpu) {
        std::vector<Phase> out;
        out.push_back(timed([&] { return inserts(); }));
        out.push_back(timed([&] { return updates(); }));
        collect_live();
        out.push_back(timed([&] { return send(Send::pack); }));
        out.push_back(timed([&] { return send(Send::ring); }));
        DiscardReceiver receiver(cpus, sender_cpu);
        receiver_cpus_ = receiver.cpu_count();
        sender_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (sender_ < 0) {
            fail(std::string("sender socket: ") + std::strerror(errno));
        }
        to_ = receiver.address();
        out.push_back(timed([&] { return send(Send::udp); }));
        out.push_back(timed([&] { return send(Send::udp_single); }));
        // What was sent has arrived (or been dropped by the kernel) within this wait.
        for (int i = 0; i < 50 && receiver.received() < sent_; ++i) {
            usleep(10'000);
        }
        received_ = receiver.received();
        ::close(sender_);
        return out;
    }

    uint64_t sent() const { return sent_; }
    uint64_t received() const { return received_; }
    uint64_t send_errors() const { return send_errors_; }
    int receiver_cpus() const { return receiver_cpus_; }

  private:
    enum class Send : uint8_t { pack, ring, udp, udp_single };

    [[noreturn]] static void fail(const std::string& what) {
        std::fprintf(stderr, "vsnat-bench-sync: %s\n", what.c_str());
        std::exit(1);
    }
    template <class RunPhase>
    Phase timed(RunPhase&& run_phase) const {
        const CpuShare share;
        Phase p = run_phase();
        p.on_cpu = share.percent();
        std::fprintf(stderr, "[%u connections] %s: done\n", options_.size, p.name.c_str());
        return p;
    }

    uint32_t now_ms(uint64_t tsc) const {
        return static_cast<uint32_t>(jumped_ms_ + (tsc - start_tsc_) / tsc_per_ms_);
    }

    // The record a master sends for its connection with client number `n`: ESTABLISHED, to
    // the real server the seed's wrr 1:2 would have picked for it.
    sync::Record record_for(uint32_t n) const {
        const Client c = FreshClients::at(n);
        const dp::Destination& d = servers_[n % 3 == 0 ? 0 : 1];
        sync::Record r;
        r.protocol = dp::ipv4::kProtoTcp;
        r.flags = sync::kConnMasq;
        r.state = sync::ipvs_state_of(ConnState::established);
        r.client_ip = c.ip;
        r.vip = vip_;
        r.real_ip = d.ip;
        r.client_port = c.port;
        r.vport = vport_;
        r.real_port = d.port;
        r.timeout_s = established_timeout_s_;
        return r;
    }

    // Fill `fill`'s client `i`: every fill of the table takes clients it has not held before.
    uint32_t client_number(uint32_t fill, uint64_t i) const {
        return static_cast<uint32_t>(static_cast<uint64_t>(fill) * options_.size + i);
    }

    // What became of the records of an apply round, and the cycles of each half.
    struct Applied {
        uint64_t decode_cycles = 0, apply_cycles = 0;
        uint64_t messages = 0, decoded = 0, bad_messages = 0;
        std::array<uint64_t, 4> outcomes{};  // by dp::SyncApplied
        void add(const Applied& a) {
            messages += a.messages;
            decoded += a.decoded;
            bad_messages += a.bad_messages;
            for (size_t i = 0; i < outcomes.size(); ++i) {
                outcomes[i] += a.outcomes[i];
            }
        }
    };

    // `count` records, next(i) the i-th, packed into messages as a peer's sync thread packs
    // them (not timed); each message, as soon as it is made (in cache, as a datagram just
    // received is), decoded and its records applied (timed).
    template <class Next>
    Applied apply(uint64_t count, Next&& next) {
        Applied a;
        for (uint64_t i = 0; i < count;) {
            peer_.begin(kSyncId);
            for (; i < count && peer_.count() < records_per_message(); ++i) {
                if (!peer_.add(next(i))) {
                    fail("a record did not fit its message: a bug in this benchmark");
                }
            }
            const uint64_t t0 = rte_rdtsc();
            const sync::DecodeError e = sync::decode(peer_.finish(), kSyncId, decoded_);
            const uint64_t t1 = rte_rdtsc();
            const uint32_t now = now_ms(t1);
            // As the sync thread and the worker do (src/cp/sync_daemon.cpp, deliver; src/dp/
            // worker.cpp, apply_sync): each record in a ring element, a prefetch, then each.
            const std::span<const sync::Record> all(decoded_.records);
            std::array<sync::AnyRecord, dp::ConnSync::kApplyBatch> batch;
            for (size_t at = 0; at < all.size(); at += batch.size()) {
                const size_t n = std::min(batch.size(), all.size() - at);
                std::copy_n(all.begin() + static_cast<ptrdiff_t>(at), n, batch.begin());
                dp::prefetch_sync_records(*ctx_, {batch.data(), n});
                for (size_t k = 0; k < n; ++k) {
                    ++a.outcomes[static_cast<size_t>(dp::apply_sync_record(*ctx_, batch[k], now))];
                }
            }
            a.apply_cycles += rte_rdtsc() - t1;
            a.decode_cycles += t1 - t0;
            ++a.messages;
            a.decoded += decoded_.records.size();
            a.bad_messages += e != sync::DecodeError::none;
        }
        return a;
    }

    static void add_round(Phase& p, const Applied& a, uint64_t records) {
        const auto per = [records](uint64_t cycles) {
            return static_cast<double>(cycles) / static_cast<double>(records);
        };
        p.decode_rounds.push_back(per(a.decode_cycles));
        p.apply_rounds.push_back(per(a.apply_cycles));
        p.rounds.push_back(per(a.decode_cycles + a.apply_cycles));
        p.records += records;
        p.messages += a.messages;
    }

    static std::string outcome_check(const Applied& a, uint64_t records, dp::SyncApplied want) {
        std::string out;
        const auto add = [&out](uint64_t n, const char* what) {
            if (n > 0) {
                out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + what;
            }
        };
        add(a.bad_messages, "messages not decoded whole");
        add(records - a.decoded, "records not decoded");
        const char* names[] = {"inserted", "updated", "replaced", "refused"};
        for (size_t i = 0; i < a.outcomes.size(); ++i) {
            if (i != static_cast<size_t>(want)) {
                add(a.outcomes[i], names[i]);
            }
        }
        return out;
    }

    // Empties the table by letting every connection expire (not timed).
    void expire_all() {
        jumped_ms_ += longest_timeout_ms_ + dp::ConnSync::kMarginMs + 1000;
        dp::expire_connections(*ctx_, now_ms(rte_rdtsc()), UINT32_MAX);
        if (table_->size() != 0) {
            fail("connections left after expiring everything");
        }
    }

    // Records of connections the table has never seen fill it from empty to full; each fill is
    // a round, the table emptied (not timed) before the next. The first fill is a warm-up (page
    // faults of the table's fresh memory); the last one stays for the phases after.
    Phase inserts() {
        Phase p("apply: decode + insert (fresh connections)");
        p.ok = "all inserted";
        const uint32_t size = options_.size;
        Applied total;
        uint32_t fill = 0;
        const auto fresh = [&](uint64_t i) { return record_for(client_number(fill, i)); };
        apply(size, fresh);  // warm-up
        uint64_t fills = 0;
        while (!((fills >= options_.rounds && p.records >= options_.records) ||
                 (fills > 0 && p.records >= 3 * options_.records))) {
            expire_all();
            ++fill;
            const Applied a = apply(size, fresh);
            add_round(p, a, size);
            total.add(a);
            ++fills;
        }
        last_fill_ = fill;
        p.check = outcome_check(total, p.records, dp::SyncApplied::inserted);
        return p;
    }

    // Records of connections the table holds (refreshes: ESTABLISHED again, with its timeout),
    // uniformly random over them. One untimed warm-up round first.
    Phase updates() {
        Phase p("apply: decode + update (existing ones)");
        p.ok = "all updated";
        const uint32_t size = options_.size;
        const uint64_t per_round = std::max<uint64_t>(options_.records / options_.rounds, 1);
        Applied total;
        const auto existing = [&](uint64_t) {
            return record_for(client_number(last_fill_, rng_.below(size)));
        };
        for (uint32_t round = 0; round <= options_.rounds; ++round) {
            const Applied a = apply(per_round, existing);
            if (round > 0) {  // the first is a warm-up
                add_round(p, a, per_round);
                total.add(a);
            }
        }
        p.check = outcome_check(total, p.records, dp::SyncApplied::updated);
        return p;
    }

    void collect_live() {
        live_.clear();
        live_.reserve(table_->size());
        table_->for_each([this](uint32_t id, const dp::Conn&) { live_.push_back(id); });
        if (live_.empty()) {
            fail("no live connections to send");
        }
    }

    // The message is ready: sent by UDP to the receiver, or (pack, ring) only counted.
    void deliver(Send how) {
        const std::span<const uint8_t> msg = writer_.finish();
        ++messages_;
        if (how == Send::udp || how == Send::udp_single) {
            if (::sendto(sender_, msg.data(), msg.size(), 0,
                         reinterpret_cast<const sockaddr*>(&to_), sizeof to_) < 0) {
                ++send_errors_;
            } else {
                ++sent_;
            }
        }
        writer_.begin(kSyncId);
    }
    void pack(const sync::AnyRecord& r, Send how) {
        if (how == Send::udp_single || !writer_.add(r)) {
            if (!writer_.empty()) {
                deliver(how);
            }
            writer_.add(r);  // an empty message takes any one record
        }
    }

    // Records of live connections in table order (a worker makes a record of the connection
    // its packet just touched: in cache), packed as `how` says. Rounds of records/rounds
    // records; one record per message: a records_per_message()th of that, as many messages as
    // the full ones.
    Phase send(Send how) {
        static constexpr std::array<const char*, 4> kNames = {
            "send: record + pack (no socket)",
            "send: record + ring + pack (no socket)",
            "send: record + pack + sendto (full msgs)",
            "send: + sendto, 1 record per message",
        };
        Phase p(kNames[static_cast<size_t>(how)]);
        p.ok = how == Send::pack || how == Send::ring ? "all packed" : "all sent";
        uint64_t per_round = std::max<uint64_t>(options_.records / options_.rounds, 1);
        if (how == Send::udp_single) {
            per_round = std::max<uint64_t>(per_round / records_per_message(), 1);
        }
        const uint64_t errors_before = send_errors_;
        std::array<sync::AnyRecord, kWorkerFlush> outbox;
        std::array<sync::AnyRecord, kSyncDequeue> taken;
        for (uint32_t round = 0; round <= options_.rounds; ++round) {
            const uint64_t messages_before = messages_;
            const uint64_t start = rte_rdtsc();
            unsigned queued = 0;
            for (uint64_t i = 0; i < per_round; ++i) {
                const sync::Record r = dp::sync_record_of(*ctx_, table_->conn(live_[cursor_]));
                cursor_ = cursor_ + 1 == live_.size() ? 0 : cursor_ + 1;
                if (how != Send::ring) {
                    pack(r, how);
                    continue;
                }
                // The worker's outbox, flushed to the ring after a burst's worth; the sync
                // thread's dequeue of up to 64.
                outbox[queued++] = r;
                if (queued == kWorkerFlush || i + 1 == per_round) {
                    if (rte_ring_sp_enqueue_burst_elem(ring_, outbox.data(),
                                                       sizeof(sync::AnyRecord), queued,
                                                       nullptr) != queued) {
                        fail("ring full");
                    }
                    queued = 0;
                    unsigned n = 0;
                    while ((n = rte_ring_sc_dequeue_burst_elem(ring_, taken.data(),
                                                               sizeof(sync::AnyRecord),
                                                               taken.size(), nullptr)) > 0) {
                        for (unsigned k = 0; k < n; ++k) {
                            pack(taken[k], how);
                        }
                    }
                }
            }
            if (!writer_.empty()) {
                deliver(how);  // the last one however full, as send_queued does
            }
            const uint64_t cycles = rte_rdtsc() - start;
            if (round == 0) {
                continue;  // warm-up
            }
            p.rounds.push_back(static_cast<double>(cycles) / static_cast<double>(per_round));
            p.records += per_round;
            p.messages += messages_ - messages_before;
        }
        if (send_errors_ != errors_before) {
            p.check = std::to_string(send_errors_ - errors_before) + " sendto errors";
        }
        return p;
    }

    const Options& options_;
    const uint64_t tsc_per_ms_;
    uint64_t start_tsc_ = 0;
    uint64_t jumped_ms_ = 0;
    uint32_t longest_timeout_ms_ = 0;
    uint32_t established_timeout_s_ = 0;
    Rng rng_;
    std::unique_ptr<dp::Snapshot> snapshot_;
    std::vector<dp::DestCounters> dest_counters_;
    std::unique_ptr<dp::WorkerContext> ctx_;
    std::unique_ptr<ConnTable> table_;
    std::unique_ptr<dp::ConnSync> sync_;
    rte_ring* ring_ = nullptr;
    std::vector<dp::Destination> servers_;
    uint32_t vip_ = 0;
    uint16_t vport_ = 0;
    uint32_t last_fill_ = 0;
    sync::MessageWriter peer_;  // the peer's, making the messages applied
    sync::Decoded decoded_;
    sync::MessageWriter writer_;
    std::vector<uint32_t> live_;
    size_t cursor_ = 0;
    uint64_t messages_ = 0;
    int sender_ = -1;
    sockaddr_in to_{};
    uint64_t sent_ = 0, received_ = 0, send_errors_ = 0;
    int receiver_cpus_ = 0;
};

void print_report(const std::vector<Phase>& phases, double tsc_hz) {
    std::printf("\n%-44s %9s %11s %17s %10s %10s %11s %9s %7s  %s\n", "phase", "Mrec/s",
                "cycles/rec", "min..max cyc/rec", "decode", "apply", "records", "rec/msg", "on-CPU",
                "check");
    for (const Phase& p : phases) {
        const double c = median(p.rounds);
        char decode[16] = "-", apply[16] = "-";
        if (!p.decode_rounds.empty()) {
            std::snprintf(decode, sizeof decode, "%.0f", median(p.decode_rounds));
            std::snprintf(apply, sizeof apply, "%.0f", median(p.apply_rounds));
        }
        std::printf(
            "%-44s %9.2f %11.0f %8.0f..%-8.0f %10s %10s %11llu %9.1f %6.0f%%  %s\n", p.name.c_str(),
            c > 0 ? tsc_hz / c / 1e6 : 0, c, p.min(), p.max(), decode, apply,
            static_cast<unsigned long long>(p.records),
            p.messages ? static_cast<double>(p.records) / static_cast<double>(p.messages) : 0,
            p.on_cpu, p.check.empty() ? p.ok.c_str() : p.check.c_str());
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
    const uint64_t memory_mb = eal_memory_mb(options.size);
    // Besides the EAL's memory: a fill's messages (36 B a record), the sync state's byte per
    // connection and the list of live ids.
    const uint64_t needed_mb =
        (options.huge ? 0 : memory_mb) +
        ((static_cast<uint64_t>(options.size) * (sync::kRecordV4Len + 1 + 4)) >> 20) + 64;
    if (needed_mb > mem_available_mb()) {
        std::fprintf(stderr, "%u connections need about %llu MB; only %llu MB are available\n",
                     options.size, static_cast<unsigned long long>(needed_mb),
                     static_cast<unsigned long long>(mem_available_mb()));
        return 1;
    }

    // The CPUs this process may use, before the EAL pins the main thread to one of them.
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    sched_getaffinity(0, sizeof cpus, &cpus);

    const std::optional<std::string> eal_line =
        init_eal(argv[0], options.huge, memory_mb, "vsnat-bench-sync-", options.eal_extra);
    if (!eal_line) {
        return 1;
    }

    const uint64_t tsc_hz = rte_get_tsc_hz();
    const int sender_cpu = sched_getcpu();
    std::vector<Phase> phases;
    uint64_t sent = 0, received = 0, send_errors = 0;
    int receiver_cpus = 0;
    {
        Bench bench(options, tsc_hz);
        phases = bench.run(cpus, sender_cpu);
        sent = bench.sent();
        received = bench.received();
        send_errors = bench.send_errors();
        receiver_cpus = bench.receiver_cpus();
    }

    std::printf("vsnat in-process connection sync benchmark\n");
    std::printf("command: %s\n", join_quoted({argv, argv + argc}).c_str());
    std::printf("EAL:     %s\n", eal_line->c_str());
    std::printf("CPU:     %s, TSC %.3f GHz (rte_get_tsc_hz); one thread on lcore %u (CPU %d)\n",
                cpu_model().c_str(), static_cast<double>(tsc_hz) / 1e9, rte_lcore_id(), sender_cpu);
    std::printf(
        "table:   %u connections, one worker with sync on, seed scenario (web 202.103.106.5:80, "
        "wrr 1:2 over\n         2 servers), clients from 198.18.0.0/15; records: TCP ESTABLISHED, "
        "%zu bytes, no options;\n         messages up to %zu bytes (a 1500-byte MTU): %zu "
        "records each\n",
        options.size, sync::kRecordV4Len, sync::kDefaultMaxMessageSize,
        Bench::records_per_message());
    std::printf(
        "send:    a thread makes the record of a live connection (sync_record_of, connections in "
        "table order) and\n         packs it (MessageWriter add; a full message finished and "
        "a new one begun; the last one\n         of a round finished however full, as "
        "send_queued does). ring: each record through an rte_ring\n         (SP/SC, %u "
        "records, enqueued %u at a time as flush_sync, dequeued %u at a time as "
        "send_queued).\n         sendto: each message sent by UDP (non-blocking socket) to "
        "127.0.0.1, where a thread on %d other\n         CPU(s) reads and discards it; the "
        "loopback's receive path runs on the sender's CPU, so this is\n         more than a "
        "send to a link costs. 1 record per message: what the sync thread does when each\n     "
        "    round finds one record; 1/%zu of the records, as many messages as the full "
        "ones.\n",
        kRingSize, kWorkerFlush, kSyncDequeue, receiver_cpus, Bench::records_per_message());
    std::printf(
        "apply:   records packed into messages as a peer's sync thread packs them, each message "
        "made just before\n         it is decoded (not timed: in cache, as a datagram just "
        "received is); timed per message:\n         decode, then apply_sync_record of each record "
        "(the ring from the sync thread to the\n         worker not included). Fresh: each round "
        "fills the table from empty to full with connections\n         it has never held "
        "(emptied between rounds, not timed; the first fill is an untimed warm-up).\n         "
        "Update: records of random connections the table holds (ESTABLISHED refreshed: no state\n"
        "         change), after an untimed warm-up round.\n");
    std::printf(
        "figures: median over rounds (fresh: one per fill of the table; others: %u rounds of "
        "%llu records) of\n         cycles per record (TSC); Mrec/s = TSC Hz / median cycles/rec, "
        "one thread; decode and apply:\n         medians of each half of the apply phases; "
        "on-CPU = this thread's CPU time over the phase's\n         wall time (below 100%%: "
        "other work ran here).\n",
        options.rounds, static_cast<unsigned long long>(options.records / options.rounds));
    print_report(phases, static_cast<double>(tsc_hz));
    std::printf(
        "\ndatagrams: %llu sent, %llu received by the discard thread (the rest dropped by its "
        "socket), %llu sendto errors\n",
        static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received),
        static_cast<unsigned long long>(send_errors));

    // The EAL leaves its (empty, with --no-shconf) runtime directory behind: one per run.
    const std::string runtime_dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    rmdir(runtime_dir.c_str());
    return 0;
}
