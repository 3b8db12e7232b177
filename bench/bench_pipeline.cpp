// In-process benchmark (docs/ARCHITECTURE.md, "Benchmarks"): synthetic bursts of real mbufs
// through the real dp::process_burst, no NIC. For each table size it prints packets/s and
// cycles/packet for new connections, established flows (either direction), replies (server to
// client only), a 1% mix, an empty-pipeline ceiling (parse + NAT rewrite, no table) and full TCP
// lifecycles (whole connections, SYN to expiry, many in flight in a table kept at its size; also
// as connections/s), and the memory per connection, each next to the target it is held to
// (issues 7 and 18). With --sync, new connections and established flows also run with connection
// sync on (dp/conn_sync: a ConnSync in the worker's context, its records handed over and packed
// into messages after each burst), and it prints what sync adds per connection and the share of
// a core at 100k connections/s.
// With --ipv6, the same phases run again with TCP/IPv6 frames through the IPv6 path (NAT66, the
// IPv6 table), each figure printed beside its IPv4 twin, and IPv4's new connections and
// established flows also run with the IPv6 table in the worker's context, in rounds alternating
// with those without it: what IPv6 costs IPv4.
// With --fragments, UDP datagrams of 4,000 bytes in three fragments each (an MTU-1500 link) on
// a table of UDP connections of the same size, in order, last fragment first, and first fragment
// a burst ahead of the others, beside unfragmented 1,500-byte datagrams on the same connections
// (with --ipv6, for IPv6 too): cycles per fragment, fragments and datagrams per second.
//
// Nothing is sent anywhere: client addresses (198.18.0.0/15, RFC 2544's benchmarking range;
// 2001:2::/48, RFC 5180's) are bytes in memory. One worker, on the main lcore.
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
#include <type_traits>
#include <utility>
#include <vector>

#include "bench_util.hpp"
#include "dp/bytes.hpp"
#include "dp/checksum.hpp"
#include "dp/conn_sync.hpp"
#include "dp/fragments.hpp"
#include "dp/lab_fixture.hpp"  // tests/dp: the seed's scenario (snapshot, MAC addresses)
#include "dp/nat.hpp"
#include "dp/parse.hpp"
#include "dp/pipeline.hpp"
#include "dp/tcp_state.hpp"
#include "dp/timer_wheel.hpp"
#include "support/packet_builder.hpp"

namespace {

using namespace vsnat;
using namespace vsnat::bench;
using dp::ConnTable;
using dp::ConnTable6;

// Packets per burst: 32, as every figure of bench/README was measured, where the worker now
// receives up to 64 (kRxBurst, src/dp/worker.cpp); per packet the pipeline costs about the same
// either way (bench/README section 1, "Bursts of 64").
constexpr uint16_t kBurst = 32;
constexpr size_t kFrameLen = 60;  // a minimum Ethernet frame without its FCS: 64 B on the wire
constexpr size_t kL3 = dp::eth::kHeaderLen;
constexpr size_t kL4 = kL3 + dp::ipv4::kMinHeaderLen;
constexpr size_t kL4v6 = kL3 + dp::ipv6::kHeaderLen;
constexpr size_t kFrameLen6 = kL4v6 + dp::l4::kTcpMinHeaderLen;  // 74 B: 78 B on the wire
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
// --fragments: the UDP datagrams (payload bytes): the fill's query, a DNS header's size; the
// fragmented datagram, three fragments on an MTU-1500 link; the unfragmented one, as large as
// that link takes (IPv4's 1,472, IPv6's 1,452 bytes).
constexpr size_t kQueryPayload = 12;
constexpr size_t kFragmentedPayload = 4000;
constexpr size_t kLinkMtu = 1500;

// Full TCP lifecycles: one packet of a connection's life as the director sees it, who sends it,
// its flags and its bytes of data.
struct Segment {
    bool from_client;
    uint8_t flags;
    uint16_t payload;
};
constexpr uint8_t kTcpPsh = 0x08;  // not in dp::l4: the pipeline has no use for it
constexpr uint16_t kRequestBytes = 128;
constexpr uint16_t kResponseBytes = 256;
// SYN to last ACK: the handshake, a request and its response, the client closing first. LVS's
// states: SYN_RECV, ESTABLISHED, CLOSE_WAIT on the client's FIN, TIME_WAIT on the server's.
constexpr std::array<Segment, 8> kLifecycle = {{
    {true, dp::l4::kTcpSyn, 0},
    {false, dp::l4::kTcpSyn | dp::l4::kTcpAckFlag, 0},
    {true, dp::l4::kTcpAckFlag, 0},
    {true, kTcpPsh | dp::l4::kTcpAckFlag, kRequestBytes},
    {false, kTcpPsh | dp::l4::kTcpAckFlag, kResponseBytes},
    {true, dp::l4::kTcpFin | dp::l4::kTcpAckFlag, 0},
    {false, dp::l4::kTcpFin | dp::l4::kTcpAckFlag, 0},
    {true, dp::l4::kTcpAckFlag, 0},
}};
constexpr uint32_t kLifecyclePackets = kLifecycle.size();
constexpr uint32_t kClientIsn = 0x3a2e1000, kServerIsn = 0x7c41f000;
// Connections in flight at most (a burst takes the next packet of kBurst of them: one packet of a
// connection every 32 bursts), and the smallest table the phase runs on.
constexpr uint32_t kLifecycleLanes = 1024;
constexpr uint32_t kMinLifecycleSize = 256;
constexpr size_t kLongestFrame = kFrameLen6 + kResponseBytes;

// The state kLifecycle leaves a connection in, as the pipeline tracks it.
dp::ConnState lifecycle_end_state() {
    dp::ConnState state = dp::ConnState::none;
    for (const Segment& s : kLifecycle) {
        state = dp::tcp_next_state(
            state, s.from_client ? dp::Direction::from_client : dp::Direction::from_server,
            s.flags);
    }
    return state;
}

// The targets the figures are reported against.
constexpr double kTargetBytesPerConn = 128;
constexpr double kTargetEstablishedCycles = 100;
// A table small enough for the caches (1k connections) has no memory waits: a tighter target.
constexpr double kTargetEstablishedCyclesCached = 80;
constexpr uint32_t kCachedSize = 1000;
constexpr double kTargetNewMpps = 6;
constexpr double kTargetLifecycleMcps = 1;   // million whole connections a second per worker
constexpr uint32_t kTargetSize = 1'000'000;  // the size the cycle targets are stated at
constexpr uint32_t kTargetLargeSize = 10'000'000;
constexpr double kTargetLargeBytes = 1.5 * (1 << 30);  // 10M connections in under 1.5 GiB

struct Options {
    std::vector<uint32_t> sizes = {1000, 100'000, 1'000'000};
    uint64_t packets = 3'000'000;  // per timed phase and size
    uint32_t rounds = 9;
    uint64_t seed = 1;
    std::optional<bool> huge;  // unset: hugepages when enough are free
    bool sync = false;
    bool ipv6 = false;
    bool fragments = false;
    std::vector<std::string> eal_extra;
};

void usage(FILE* out, const char* argv0) {
    std::fprintf(
        out,
        "usage: %s [--sizes N,N,...] [--packets N] [--rounds N] [--seed N]\n"
        "          [--huge | --no-huge]\n"
        "          [--sync | --ipv6] [--fragments] [-- EXTRA_EAL_ARGS...]\n"
        "  --sizes    live connections per run; k and M suffixes allowed\n"
        "             (default 1000,100000,1000000; 10M needs about 2 GB)\n"
        "  --packets  packets per timed phase and size (default 3000000)\n"
        "  --rounds   rounds per phase; the median round is reported (default 9)\n"
        "  --seed     seed of the random choices and client addresses (default 1)\n"
        "  --huge     use hugepages (memory grows on demand), as vsnatd does; the default\n"
        "             when the free hugepages hold the EAL memory the run needs\n"
        "  --no-huge  4 KB pages (EAL --no-huge -m): a large table then costs TLB\n"
        "             misses vsnatd does not pay; the default without free hugepages\n"
        "  --sync     new connections and established flows also with connection sync\n"
        "             on, in rounds alternating with the rounds without it\n"
        "  --ipv6     also IPv6 (NAT66): the same phases with TCP/IPv6 frames, beside\n"
        "             IPv4's; and IPv4's new connections and established flows also with\n"
        "             the IPv6 table in the worker's context, in rounds alternating with\n"
        "             the rounds without it\n"
        "  --fragments  also fragmented UDP (after the other phases, on a table refilled\n"
        "             with as many UDP connections): 4000-byte datagrams in 3 fragments\n"
        "             (in order, last first, first a burst ahead) and unfragmented\n"
        "             1500-byte ones; IPv6's too with --ipv6\n"
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
        if (arg == "--huge" || arg == "--no-huge") {
            o.huge = arg == "--huge";
            continue;
        }
        if (arg == "--sync") {
            o.sync = true;
            continue;
        }
        if (arg == "--ipv6") {
            o.ipv6 = true;
            continue;
        }
        if (arg == "--fragments") {
            o.fragments = true;
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
    if (o.sync && o.ipv6) {
        std::fprintf(stderr,
                     "--sync and --ipv6 each alternate rounds of their own: run them apart\n");
        return std::nullopt;
    }
    return o;
}

// -m for --no-huge: the largest table (with --ipv6 the IPv6 table beside it), an eighth again for
// the heap's overhead, and room for the mbufs and the EAL's own allocations.
uint64_t eal_memory_mb(uint32_t largest, bool ipv6) {
    const size_t tables =
        ConnTable::memory_bytes_for(largest) + (ipv6 ? ConnTable6::memory_bytes_for(largest) : 0);
    return (tables * 9 / 8 >> 20) + 64;
}

// A live connection as the generator knows it: enough to build packets in both directions.
template <class Address>
struct BasicLive {
    Address client_ip;
    Address rip;
    uint16_t client_port;
    uint16_t rport;
};
using Live = BasicLive<uint32_t>;
using Live6 = BasicLive<Ipv6>;

dp::FlowKey inbound_key(const Live& c, uint32_t vip, uint16_t vport) {
    dp::FlowKey k;
    k.src_ip = c.client_ip;
    k.dst_ip = vip;
    k.src_port = c.client_port;
    k.dst_port = vport;
    k.protocol = dp::ipv4::kProtoTcp;
    return k;
}

dp::FlowKey6 inbound_key(const Live6& c, const Ipv6& vip, uint16_t vport) {
    dp::FlowKey6 k;
    k.src_ip = c.client_ip;
    k.dst_ip = vip;
    k.src_port = c.client_port;
    k.dst_port = vport;
    k.protocol = dp::ipv4::kProtoTcp;
    return k;
}

// A template frame: the bytes and how many of them the frame is.
struct Frame {
    std::array<uint8_t, kLongestFrame> bytes{};
    uint16_t len = 0;
};

Frame make_frame(const test::PacketSpec& spec) {
    const std::vector<uint8_t> bytes = test::build_packet(spec);
    Frame f;  // zero padding up to the minimum frame, as a NIC delivers it
    if (bytes.size() > f.bytes.size()) {
        std::fprintf(stderr, "template frame of %zu bytes does not fit\n", bytes.size());
        std::exit(1);
    }
    std::copy(bytes.begin(), bytes.end(), f.bytes.begin());
    f.len = static_cast<uint16_t>(std::max(bytes.size(), kFrameLen));
    return f;
}

// --fragments: one frame of a UDP datagram, as a template: its bytes, where its UDP header is (0
// in a later fragment, which has none) and its identification (0 in a datagram sent whole).
struct Piece {
    std::vector<uint8_t> bytes;
    size_t l4 = 0;
    size_t id_at = 0;
};

// A datagram's frames in order, and the UDP payload they carry.
struct Datagram {
    std::vector<Piece> pieces;
    size_t payload = 0;
};

Datagram datagram_of(std::vector<std::vector<uint8_t>> frames, size_t payload) {
    Datagram d;
    d.payload = payload;
    for (std::vector<uint8_t>& f : frames) {
        const dp::ParsedFrame p = dp::parse_frame(f.data(), f.size());
        Piece piece;
        piece.l4 = !p.fragment || p.first_fragment ? p.l4_offset : 0;
        if (p.fragment) {
            piece.id_at = p.kind == dp::FrameKind::ipv6
                              ? p.fragment_header_offset + dp::ipv6::kFragmentId
                              : p.l3_offset + dp::ipv4::kId;
        }
        piece.bytes = std::move(f);
        d.pieces.push_back(std::move(piece));
    }
    return d;
}

// A datagram's frames as written (one whole frame, or its fragments in order, with neither IPv4
// options nor IPv6 extension headers) put together as its receiver does, into one unfragmented
// frame. For the self-check: the checksums are left as they came.
std::vector<uint8_t> reassembled(const std::vector<std::vector<uint8_t>>& frames) {
    const dp::ParsedFrame first = dp::parse_frame(frames[0].data(), frames[0].size());
    if (!first.fragment) {
        return frames[0];
    }
    const bool v6 = first.kind == dp::FrameKind::ipv6;
    const size_t headers = v6 ? first.fragment_header_offset : first.l4_offset;
    const size_t data = headers + (v6 ? dp::ipv6::kFragmentHeaderLen : 0);
    std::vector<uint8_t> whole(frames[0].begin(), frames[0].begin() + static_cast<long>(headers));
    for (const std::vector<uint8_t>& f : frames) {
        whole.insert(whole.end(), f.begin() + static_cast<long>(data), f.end());
    }
    uint8_t* ip = &whole[first.l3_offset];
    const auto ip_length = static_cast<uint16_t>(whole.size() - first.l3_offset);
    if (v6) {
        ip[dp::ipv6::kNextHeader] = frames[0][first.fragment_header_offset];
        dp::store_be16(ip + dp::ipv6::kPayloadLength,
                       static_cast<uint16_t>(ip_length - dp::ipv6::kHeaderLen));
    } else {
        dp::store_be16(ip + dp::ipv4::kTotalLength, ip_length);
        dp::store_be16(ip + dp::ipv4::kFragment, 0);
        dp::store_u16_raw(ip + dp::ipv4::kChecksum, 0);
        dp::store_u16_raw(ip + dp::ipv4::kChecksum,
                          dp::ipv4_header_checksum(ip, dp::ipv4::kMinHeaderLen));
    }
    return whole;
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

// --fragments: how a datagram's frames go into bursts: whole datagrams per burst, their frames
// in order or last first (later fragments before their first: held back in the burst and
// forwarded once it is translated, settle_fragments); or a datagram's first fragment a burst
// before its later ones, which find its translation when they come.
enum class Order : uint8_t { in_order, last_first, first_ahead };

// --fragments: one family's UDP phases, and the UDP connections they ran on.
struct UdpPhases {
    Phase whole{""}, in_order{""}, last_first{""}, first_ahead{""};
    uint32_t live = 0;
};

struct SizeResult {
    uint32_t size = 0;
    Phase fresh{""}, established{""}, replies{""}, mix{""}, ceiling{""}, lifecycles{""};
    Phase fresh_sync{""}, established_sync{""};  // --sync only
    // --ipv6 only: IPv4's with the IPv6 table in the context; IPv6's phases; the IPv6 table.
    Phase fresh_dual{""}, established_dual{""};
    Phase fresh6{""}, established6{""}, replies6{""}, mix6{""}, ceiling6{""}, lifecycles6{""};
    UdpPhases udp, udp6;  // --fragments only; IPv6's with --ipv6
    Memory memory, memory6;
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

// One address family's side of the benchmark: its table, its live connections as the generator
// knows them, its frame templates and service, and its own random choices and fresh clients, so
// that one family's phases draw nothing from the other's (IPv4's frames are the same with --ipv6
// and without). `Record` is dp::Conn (IPv4) or dp::Conn6 (IPv6).
template <class Record>
struct Family {
    static constexpr bool kIpv6 = std::is_same_v<Record, dp::Conn6>;
    using Table = dp::BasicConnTable<Record>;
    using Address = decltype(Record::vip);
    using LiveConn = BasicLive<Address>;
    using Clients = std::conditional_t<kIpv6, FreshClients6, FreshClients>;

    Family(uint64_t rng_seed, uint32_t clients_seed) : rng(rng_seed), clients(clients_seed) {}
    // A phase's name: IPv6's say so.
    static std::string name(const char* what) { return (kIpv6 ? "IPv6 " : "") + std::string(what); }

    std::unique_ptr<Table> table;
    std::vector<LiveConn> live;
    Rng rng;
    Clients clients;
    Frame syn, ack_in, ack_out;
    std::array<Frame, kLifecyclePackets> lifecycle;  // kLifecycle's packets, client to first server
    Address vip{}, ceiling_rip{};
    uint16_t vport = 0, ceiling_rport = 0;
    // --fragments: the UDP service's query that opens a connection, and a datagram each way
    // (client to VIP, server to client) sent whole and in fragments.
    Frame query;
    Datagram whole_in, whole_out, fragmented_in, fragmented_out;
};

// One worker on the seed's scenario (tests/dp/lab_fixture.cpp), its clock, and the 32 mbufs it
// is fed again and again.
class Bench {
  public:
    Bench(const Options& options, uint64_t tsc_hz)
        : options_(options),
          tsc_per_ms_(tsc_hz / 1000),
          v4_(options.seed, static_cast<uint32_t>(options.seed * 0x9e3779b9U)),
          v6_(options.seed ^ 0x6666666666666666ULL,
              static_cast<uint32_t>(options.seed * 0x9e3779b9U)),
          alt_rng_(options.seed ^ 0xa1a1a1a1a1a1a1a1ULL),
          alt_clients_(static_cast<uint32_t>(options.seed * 0x9e3779b9U) + 0x80000000U),
          snapshot_(test::seed_snapshot()),
          dest_counters_(dp::kMaxDestinations) {
        // The phases fill the table to a given size with SYNs nobody answers: the table shares
        // would hold TCP at 90% and make every SYN past it an eviction. Measured here: the
        // table itself (the eviction path is tests/dp's).
        snapshot_->protocol_share_percent = 100;
        snapshot_->prefix_share_percent = 100;
        const dp::ServiceEntry& web = snapshot_->services.at(0);
        v4_.vip = web.vip;
        v4_.vport = web.port;
        v4_.ceiling_rip = web.servers.at(0).ip;
        v4_.ceiling_rport = web.servers.at(0).port;
        neighbors_.set(test::kOutsidePort, test::ip_raw("202.103.106.254"), test::kGatewayMac);
        for (const dp::Destination& d : web.servers) {
            neighbors_.set(test::kInsidePort, d.ip,
                           d.ip == test::ip_raw("172.16.0.2") ? test::kRs1Mac : test::kRs2Mac);
        }
        make_templates(v4_, "198.18.0.1");

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
        self_check(v4_);
        if (options_.ipv6) {
            // The fixture's IPv6 web service, [2001:2:0:18::5]:80, wrr 1:2 over
            // [2001:2:0:19::2]:80 and [2001:2:0:19::3]:8000, and its neighbors.
            const auto web6 =
                std::find_if(snapshot_->services.begin(), snapshot_->services.end(),
                             [&web](const dp::ServiceEntry& s) {
                                 return s.ipv6 && s.protocol == web.protocol && s.port == web.port;
                             });
            if (web6 == snapshot_->services.end()) {
                fail("the fixture has no IPv6 web service");
            }
            v6_.vip = web6->vip6;
            v6_.vport = web6->port;
            v6_.ceiling_rip = web6->servers.at(0).ip6;
            v6_.ceiling_rport = web6->servers.at(0).port;
            neighbors6_.set(test::kOutsidePort, test::ip6_raw(test::kGateway6), test::kGatewayMac);
            for (const dp::Destination& d : web6->servers) {
                neighbors6_.set(
                    test::kInsidePort, d.ip6,
                    d.ip6 == test::ip6_raw(test::kRs1Ip6) ? test::kRs1Mac : test::kRs2Mac);
            }
            ctx_.neighbors6 = &neighbors6_;
            make_templates(v6_, test::format_ip(FreshClients6::at(0).ip));
            self_check(v6_);
        }
        if (options_.sync) {
            sync_ring_ = rte_ring_create_elem("bench_sync", sizeof(dp::sync::AnyRecord),
                                              kSyncRingSize, static_cast<int>(rte_socket_id()),
                                              RING_F_SP_ENQ | RING_F_SC_DEQ);
            if (sync_ring_ == nullptr) {
                fail(std::string("sync ring: ") + rte_strerror(rte_errno));
            }
            // Every slot passed once, so that no timed burst takes the ring's page faults.
            std::array<dp::sync::AnyRecord, 64> records{};
            for (unsigned done = 0; done < 2 * kSyncRingSize; done += records.size()) {
                rte_ring_sp_enqueue_burst_elem(sync_ring_, records.data(), sizeof(records[0]),
                                               records.size(), nullptr);
                rte_ring_sc_dequeue_burst_elem(sync_ring_, records.data(), sizeof(records[0]),
                                               records.size(), nullptr);
            }
            sync_writer_.begin(kSyncId);
        }
        if (options_.fragments) {
            // The fixture's UDP services on the same VIPs: dns, 53 to 172.16.0.2:53 and
            // 172.16.0.3:53 (rr); dns6, the same on the IPv6 addresses. The servers are web's:
            // their neighbors are known.
            make_udp_templates(v4_, "198.18.0.1", udp_service(false));
            self_check_udp(v4_);
            if (options_.ipv6) {
                make_udp_templates(v6_, test::format_ip(FreshClients6::at(0).ip),
                                   udp_service(true));
                self_check_udp(v6_);
            }
        }
    }

    ~Bench() {
        v4_.table.reset();
        v6_.table.reset();
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
        create_table(v4_, size, r.memory);
        if (options_.ipv6) {
            // IPv6's table, filled first (not timed: its first fill, the warm-up of IPv6's new
            // connections), so that IPv4's rounds with it find it as full as their own.
            create_table(v6_, size, r.memory6);
            ctx_.table6 = v6_.table.get();
            uint64_t packets = 0;
            fill(v6_, size, packets);
            ctx_.table6 = nullptr;
        }
        Phase* fresh_sync = options_.sync ? &r.fresh_sync : nullptr;
        Phase* established_sync = options_.sync ? &r.established_sync : nullptr;
        Phase* fresh_dual = options_.ipv6 ? &r.fresh_dual : nullptr;
        Phase* established_dual = options_.ipv6 ? &r.established_dual : nullptr;
        r.fresh = timed(size, [&] { return new_connections(v4_, size, fresh_sync, fresh_dual); });
        r.fresh_sync.on_cpu = r.fresh.on_cpu;
        r.fresh_dual.on_cpu = r.fresh.on_cpu;
        measure_memory(v4_, r.memory);
        collect_live(v4_);
        r.established = timed(size, [&] {
            return established(v4_, Direction::either, established_sync, established_dual);
        });
        r.established_sync.on_cpu = r.established.on_cpu;
        r.established_dual.on_cpu = r.established.on_cpu;
        r.replies = timed(size, [&] { return established(v4_, Direction::replies); });
        r.mix = timed(size, [&] { return mix(v4_); });
        r.ceiling = timed(size, [&] { return ceiling(v4_); });
        r.lifecycles = timed(size, [&] { return lifecycles(v4_); });
        if (options_.fragments) {
            udp_phases(v4_, size, r.udp,
                       [&](Phase& p, auto&& run_phase) { p = timed(size, run_phase); });
        }
        if (options_.ipv6) {
            // IPv6's phases, with IPv4's table as it is (full) beside it, as a dual-stack
            // worker's context holds both.
            ctx_.table6 = v6_.table.get();
            const uint32_t v4_live = v4_.table->size();
            auto v6_phase = [&](Phase& p, auto&& run_phase) {
                p = timed(size, run_phase);
                if (v4_.table->size() != v4_live) {
                    p.check += "; " + std::to_string(v4_live - v4_.table->size()) +
                               " IPv4 connections expired meanwhile";
                }
            };
            v6_phase(r.fresh6, [&] { return new_connections(v6_, size); });
            measure_memory(v6_, r.memory6);
            collect_live(v6_);
            v6_phase(r.established6, [&] { return established(v6_, Direction::either); });
            v6_phase(r.replies6, [&] { return established(v6_, Direction::replies); });
            v6_phase(r.mix6, [&] { return mix(v6_); });
            v6_phase(r.ceiling6, [&] { return ceiling(v6_); });
            v6_phase(r.lifecycles6, [&] { return lifecycles(v6_); });
            if (options_.fragments) {
                udp_phases(v6_, size, r.udp6, v6_phase);
            }
            ctx_.table6 = nullptr;
        }
        v4_.table.reset();
        v6_.table.reset();
        ctx_.table = nullptr;
        sync_.reset();
        v4_.live.clear();
        v4_.live.shrink_to_fit();
        v6_.live.clear();
        v6_.live.shrink_to_fit();
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

    // A family's frame templates: a SYN and an ACK from `client` (port 32768) to the VIP, and an
    // ACK from the first server to it, as they arrive from the gateway and from the server.
    template <class Record>
    static void make_templates(Family<Record>& fam, const std::string& client) {
        test::PacketSpec in;
        in.src_ip = client;
        in.src_port = 32768;
        in.dst_ip = test::format_ip(fam.vip);
        in.dst_port = ntohs(fam.vport);
        in.src_mac = test::kGatewayMac;
        in.dst_mac = test::kOutsideMac;
        in.tcp_flags = dp::l4::kTcpSyn;
        fam.syn = make_frame(in);
        in.tcp_flags = dp::l4::kTcpAckFlag;
        fam.ack_in = make_frame(in);
        test::PacketSpec out;
        out.src_ip = test::format_ip(fam.ceiling_rip);
        out.src_port = ntohs(fam.ceiling_rport);
        out.dst_ip = client;
        out.dst_port = 32768;
        out.src_mac = test::kRs1Mac;
        out.dst_mac = test::kInsideMac;
        out.tcp_flags = dp::l4::kTcpAckFlag;
        fam.ack_out = make_frame(out);
        make_lifecycle_templates(fam, in, out);
    }

    // kLifecycle's packets as `in` (the client's) and `out` (the server's) would send them, each
    // side's sequence number moved on by its data and its SYN and FIN, each ACK acknowledging all
    // the other side sent. The same numbers for every connection: the pipeline reads flags only.
    template <class Record>
    static void make_lifecycle_templates(Family<Record>& fam, const test::PacketSpec& in,
                                         const test::PacketSpec& out) {
        uint32_t client_next = kClientIsn, server_next = kServerIsn;
        for (size_t i = 0; i < kLifecyclePackets; ++i) {
            const Segment& s = kLifecycle[i];
            test::PacketSpec spec = s.from_client ? in : out;
            uint32_t& mine = s.from_client ? client_next : server_next;
            spec.tcp_flags = s.flags;
            spec.seq = mine;
            spec.ack =
                s.flags & dp::l4::kTcpAckFlag ? (s.from_client ? server_next : client_next) : 0;
            spec.payload.assign(s.payload, 'x');
            fam.lifecycle[i] = make_frame(spec);
            mine += s.payload + (s.flags & (dp::l4::kTcpSyn | dp::l4::kTcpFin) ? 1 : 0);
        }
    }

    // --fragments: the snapshot's UDP service of a family.
    const dp::ServiceEntry& udp_service(bool ipv6) const {
        const auto udp =
            std::find_if(snapshot_->services.begin(), snapshot_->services.end(),
                         [ipv6](const dp::ServiceEntry& s) {
                             return s.ipv6 == ipv6 && s.protocol == dp::ipv4::kProtoUdp;
                         });
        if (udp == snapshot_->services.end()) {
            fail(std::string("the fixture has no UDP service on ") + (ipv6 ? "IPv6" : "IPv4"));
        }
        return *udp;
    }

    // --fragments: a family's UDP frames from `client` (port 32768) to service `udp` and from
    // its first server back: the query that opens a connection, and a datagram each way, whole
    // (as large as an MTU-1500 link takes) and in the fragments its sender would cut for that
    // link (RFC 791; RFC 8200 4.5).
    template <class Record>
    static void make_udp_templates(Family<Record>& fam, const std::string& client,
                                   const dp::ServiceEntry& udp) {
        constexpr bool kIpv6 = Family<Record>::kIpv6;
        test::PacketSpec in;
        in.protocol = dp::ipv4::kProtoUdp;
        in.src_ip = client;
        in.src_port = 32768;
        in.dst_ip = kIpv6 ? test::format_ip(udp.vip6) : test::format_ip(udp.vip);
        in.dst_port = ntohs(udp.port);
        in.src_mac = test::kGatewayMac;
        in.dst_mac = test::kOutsideMac;
        test::PacketSpec out = in;
        const dp::Destination& server = udp.servers.at(0);
        out.src_ip = kIpv6 ? test::format_ip(server.ip6) : test::format_ip(server.ip);
        out.src_port = ntohs(server.port);
        out.dst_ip = client;
        out.dst_port = 32768;
        out.src_mac = test::kRs1Mac;
        out.dst_mac = test::kInsideMac;
        in.payload.assign(kQueryPayload, 0);
        fam.query = make_frame(in);

        constexpr size_t kIpHeader = kIpv6 ? dp::ipv6::kHeaderLen : dp::ipv4::kMinHeaderLen;
        const size_t whole_payload = kLinkMtu - kIpHeader - dp::l4::kUdpHeaderLen;
        for (test::PacketSpec* spec : {&in, &out}) {
            const bool inbound = spec == &in;
            spec->payload.assign(whole_payload, 0x5a);
            (inbound ? fam.whole_in : fam.whole_out) =
                datagram_of({test::build_packet(*spec)}, whole_payload);
            spec->payload.assign(kFragmentedPayload, 0x5a);
            const std::vector<uint8_t> frame = test::build_packet(*spec);
            std::vector<std::vector<uint8_t>> fragments;
            if constexpr (kIpv6) {
                // Each fragment's data a multiple of 8 bytes but the last (1448, 1448, 1112).
                constexpr size_t kPiece =
                    (kLinkMtu - kIpHeader - dp::ipv6::kFragmentHeaderLen) & ~7U;
                std::vector<size_t> offsets;
                for (size_t at = 0; at < dp::l4::kUdpHeaderLen + kFragmentedPayload; at += kPiece) {
                    offsets.push_back(at);
                }
                fragments = test::ipv6_fragments(frame, offsets);
            } else {
                fragments = test::ipv4_fragments(frame, kLinkMtu - kIpHeader);  // 1480, 1480, 1048
            }
            (inbound ? fam.fragmented_in : fam.fragmented_out) =
                datagram_of(std::move(fragments), kFragmentedPayload);
        }
    }

    // The worker's notion of time: the TSC, as run_worker reads it, plus the jumps made to
    // expire whole tables at once and to run the lifecycles' clock.
    uint32_t now_ms(uint64_t tsc) const { return static_cast<uint32_t>(clock_ms(tsc)); }
    uint64_t clock_ms(uint64_t tsc) const { return jumped_ms_ + (tsc - start_tsc_) / tsc_per_ms_; }
    // Sets the clock to `ms` through the jumps: the lifecycles' clock moves by their steps only,
    // however long their bursts take.
    void set_clock_ms(uint64_t ms) { jumped_ms_ += ms - clock_ms(rte_rdtsc()); }

    // Frame writers: a template copied in, then the connection's addresses and ports put in
    // place with the dataplane's own RFC 1624 rewrite, so every checksum stays right.
    static uint8_t* copy_in(rte_mbuf* m, const uint8_t* bytes, size_t len) {
        auto* f = rte_pktmbuf_mtod(m, uint8_t*);
        std::memcpy(f, bytes, len);
        m->data_len = static_cast<uint16_t>(len);
        m->pkt_len = static_cast<uint32_t>(len);
        return f;
    }
    static uint8_t* copy_in(rte_mbuf* m, const Frame& tmpl) {
        return copy_in(m, tmpl.bytes.data(), tmpl.len);
    }
    // A TCP or UDP frame without IPv4 options or IPv6 extension headers.
    static void rewrite(uint8_t* f, dp::Endpoint endpoint, uint32_t ip, uint16_t port) {
        dp::nat_rewrite(f + kL3, f + kL4, f[kL3 + dp::ipv4::kProtocol], endpoint, ip, port);
    }
    static void rewrite(uint8_t* f, dp::Endpoint endpoint, const Ipv6& ip, uint16_t port) {
        dp::nat6_rewrite(f + kL3, f + kL4v6, f[kL3 + dp::ipv6::kNextHeader], endpoint, ip, port);
    }
    template <class Address>
    static void write_from_client(rte_mbuf* m, const Frame& tmpl, const Address& ip,
                                  uint16_t port) {
        rewrite(copy_in(m, tmpl), dp::Endpoint::source, ip, port);
        m->port = test::kOutsidePort;
    }
    template <class Record, class FreshClient>
    static void write_syn(const Family<Record>& fam, rte_mbuf* m, const FreshClient& c) {
        write_from_client(m, fam.syn, c.ip, c.port);
    }
    // A packet of connection `c` from template `tmpl`: from the client (to the VIP), or from its
    // server (a template from the first server to the template client).
    template <class Address>
    static void write_packet(rte_mbuf* m, const Frame& tmpl, const BasicLive<Address>& c,
                             bool from_client) {
        if (from_client) {
            write_from_client(m, tmpl, c.client_ip, c.client_port);
            return;
        }
        uint8_t* f = copy_in(m, tmpl);
        rewrite(f, dp::Endpoint::source, c.rip, c.rport);
        rewrite(f, dp::Endpoint::destination, c.client_ip, c.client_port);
        m->port = test::kInsidePort;
    }
    template <class Record>
    static void write_established(const Family<Record>& fam, rte_mbuf* m,
                                  const typename Family<Record>::LiveConn& c, bool from_client) {
        write_packet(m, from_client ? fam.ack_in : fam.ack_out, c, from_client);
    }
    // Which way the packets of live connections go: either, at random, or server to client.
    enum class Direction : uint8_t { either, replies };
    template <class Record>
    void write_random_established(Family<Record>& fam, Direction direction = Direction::either) {
        for (uint16_t i = 0; i < kBurst; ++i) {
            const auto& c = fam.live[fam.rng.below(static_cast<uint32_t>(fam.live.size()))];
            write_established(fam, burst_[i], c,
                              direction == Direction::either && (fam.rng.next() & 1));
        }
    }

    // --fragments: frame `piece` of a datagram of connection `c` with identification `id`, from
    // the client or from its server. A first fragment's UDP checksum covers the whole datagram:
    // the rewrite's update keeps it right; a later fragment has only the addresses to change.
    template <class Record>
    static void write_piece(rte_mbuf* m, const Piece& piece,
                            const typename Family<Record>::LiveConn& c, bool from_client,
                            uint32_t id) {
        uint8_t* f = copy_in(m, piece.bytes.data(), piece.bytes.size());
        uint8_t* ip = f + kL3;
        const auto set = [&](dp::Endpoint endpoint, const auto& address, uint16_t port) {
            if constexpr (Family<Record>::kIpv6) {
                if (piece.l4 != 0) {
                    dp::nat6_rewrite(ip, f + piece.l4, dp::ipv4::kProtoUdp, endpoint, address,
                                     port);
                } else {
                    std::memcpy(
                        ip + (endpoint == dp::Endpoint::source ? dp::ipv6::kSrc : dp::ipv6::kDst),
                        address.data(), address.size());
                }
            } else if (piece.l4 != 0) {
                dp::nat_rewrite(ip, f + piece.l4, dp::ipv4::kProtoUdp, endpoint, address, port);
            } else {
                dp::nat_rewrite_address(ip, endpoint, address);
            }
        };
        if (from_client) {
            set(dp::Endpoint::source, c.client_ip, c.client_port);
        } else {
            set(dp::Endpoint::source, c.rip, c.rport);
            set(dp::Endpoint::destination, c.client_ip, c.client_port);
        }
        if (piece.id_at != 0) {
            if constexpr (Family<Record>::kIpv6) {
                dp::store_be32(f + piece.id_at, id);
            } else {
                const uint16_t before = dp::load_u16_raw(f + piece.id_at);
                dp::store_be16(f + piece.id_at, static_cast<uint16_t>(id));
                dp::store_u16_raw(ip + dp::ipv4::kChecksum,
                                  dp::csum_replace2(dp::load_u16_raw(ip + dp::ipv4::kChecksum),
                                                    before, dp::load_u16_raw(f + piece.id_at)));
            }
        }
        m->port = from_client ? test::kOutsidePort : test::kInsidePort;
    }

    // --fragments: datagrams of random live connections, each in either direction at random
    // (`in` from the client, `out` from the server), as many as a burst takes whole (10 of 3
    // fragments, 32 unfragmented), their frames in `order`; with first_ahead, the later
    // fragments of the last burst's datagrams come first. Each datagram has an identification
    // of its own (IPv4's 16 bits wrap after 65,536 datagrams, by when the fragment table's
    // 16,384 entries have been taken over many times). Returns the frames written.
    template <class Record>
    uint16_t write_datagrams(Family<Record>& fam, const Datagram& in, const Datagram& out,
                             Order order) {
        const auto pieces = static_cast<uint16_t>(in.pieces.size());
        uint16_t n = 0;
        const auto write = [&](const Sending& d, size_t piece) {
            write_piece<Record>(burst_[n++], (d.from_client ? in : out).pieces[piece],
                                fam.live[d.slot], d.from_client, d.id);
        };
        for (uint16_t i = 0; i < ahead_count_; ++i) {
            for (uint16_t piece = 1; piece < pieces; ++piece) {
                write(ahead_[i], piece);
            }
        }
        ahead_count_ = 0;
        for (uint16_t i = 0; i < kBurst / pieces; ++i) {
            const Sending d{fam.rng.below(static_cast<uint32_t>(fam.live.size())),
                            (fam.rng.next() & 1) != 0, ++datagram_id_};
            if (order == Order::first_ahead) {
                write(d, 0);
                ahead_[ahead_count_++] = d;
                continue;
            }
            for (uint16_t k = 0; k < pieces; ++k) {
                write(d, order == Order::last_first ? pieces - 1 - k : k);
            }
        }
        return n;
    }

    // A connection the self-checks write frames of.
    template <class Record>
    static typename Family<Record>::LiveConn check_conn(const Family<Record>& fam) {
        if constexpr (Family<Record>::kIpv6) {
            return {FreshClients6::at(0x1234).ip, fam.ceiling_rip, htons(40000), fam.ceiling_rport};
        } else {
            return {htonl(kClientNet | 0x1234), fam.ceiling_rip, htons(40000), fam.ceiling_rport};
        }
    }

    // Whether `fields` are of a packet of connection `c`, from its client or from its server.
    template <class Record>
    static bool addressed(const Family<Record>& fam, const test::PacketFields& fields,
                          const typename Family<Record>::LiveConn& c, bool from_client) {
        if constexpr (Family<Record>::kIpv6) {
            return fields.ipv6 &&
                   (from_client ? fields.src_ip6 == c.client_ip && fields.dst_ip6 == fam.vip
                                : fields.src_ip6 == c.rip && fields.dst_ip6 == c.client_ip);
        } else {
            return from_client ? fields.src_ip == c.client_ip && fields.dst_ip == fam.vip
                               : fields.src_ip == c.rip && fields.dst_ip == c.client_ip;
        }
    }

    // The generated frames must be what the templates claim: checked once, before timing.
    template <class Record>
    void self_check(const Family<Record>& fam) {
        const auto c = check_conn(fam);
        const auto check = [&](const Frame& tmpl, bool from_client) {
            write_packet(burst_[0], tmpl, c, from_client);
            const std::vector<uint8_t> frame = written(burst_[0]);
            if (!test::checksums_valid(frame) ||
                !addressed(fam, test::read_fields(frame), c, from_client)) {
                fail("generated frame is wrong: a bug in this benchmark");
            }
        };
        check(fam.ack_in, true);
        check(fam.ack_out, false);
        for (size_t i = 0; i < kLifecyclePackets; ++i) {
            check(fam.lifecycle[i], kLifecycle[i].from_client);
        }
    }

    // --fragments: the same for the UDP frames. The query, and each datagram written each way
    // and put together again, must have their checksums right (IPv4: each fragment's header's
    // too) and the connection's addresses, in every frame.
    template <class Record>
    void self_check_udp(const Family<Record>& fam) {
        const auto c = check_conn(fam);
        write_from_client(burst_[0], fam.query, c.client_ip, c.client_port);
        bool right = test::checksums_valid(written(burst_[0])) &&
                     addressed(fam, test::read_fields(written(burst_[0])), c, true);
        for (const Datagram* d :
             {&fam.whole_in, &fam.fragmented_in, &fam.whole_out, &fam.fragmented_out}) {
            const bool from_client = d == &fam.whole_in || d == &fam.fragmented_in;
            std::vector<std::vector<uint8_t>> frames;
            for (const Piece& piece : d->pieces) {
                write_piece<Record>(burst_[0], piece, c, from_client, 0x1234);
                frames.push_back(written(burst_[0]));
                right = right && addressed(fam, test::read_fields(frames.back()), c, from_client);
                if constexpr (!Family<Record>::kIpv6) {
                    right =
                        right && dp::csum_fold(dp::csum_partial(frames.back().data() + kL3,
                                                                dp::ipv4::kMinHeaderLen)) == 0xffff;
                }
            }
            const std::vector<uint8_t> whole = reassembled(frames);
            right = right && test::checksums_valid(whole) &&
                    addressed(fam, test::read_fields(whole), c, from_client);
        }
        if (!right) {
            fail("generated UDP frame is wrong: a bug in this benchmark");
        }
    }

    static std::vector<uint8_t> written(const rte_mbuf* m) {
        const auto* f = rte_pktmbuf_mtod(m, const uint8_t*);
        return {f, f + rte_pktmbuf_data_len(m)};
    }

    template <class Record>
    void create_table(Family<Record>& fam, uint32_t size, Memory& mem) {
        rte_malloc_socket_stats before{}, after{};
        const int socket = static_cast<int>(rte_socket_id());
        rte_malloc_get_socket_stats(socket, &before);
        std::string error;
        fam.table = Family<Record>::Table::create(
            (Family<Record>::kIpv6 ? "bench6_" : "bench") + std::to_string(tables_++), size, socket,
            now_ms(rte_rdtsc()), &error);
        if (!fam.table) {
            fail(error + " (more EAL memory: -m, or --huge)");
        }
        rte_malloc_get_socket_stats(socket, &after);
        mem.capacity = size;
        mem.heap_bytes = after.heap_allocsz_bytes - before.heap_allocsz_bytes;
        if constexpr (!Family<Record>::kIpv6) {
            ctx_.table = fam.table.get();
            if (options_.sync) {
                // The sync phases run on IPv4 connections only.
                sync_ = std::make_unique<dp::ConnSync>(fam.table->capacity(), 0);
            }
        }
    }

    template <class Record>
    void measure_memory(const Family<Record>& fam, Memory& mem) const {
        mem.live = fam.table->size();
        mem.table_bytes = fam.table->memory_bytes();
        rte_malloc_get_socket_stats(static_cast<int>(rte_socket_id()), &mem.heap);
    }

    template <class Record>
    void collect_live(Family<Record>& fam) {
        fam.live.clear();
        fam.live.reserve(fam.table->size());
        fam.table->for_each([&fam](uint32_t, const Record& c) {
            fam.live.push_back({c.client_ip, c.rip, c.client_port, c.rport});
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
        last_sent_ = back;
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
        const unsigned queued =
            rte_ring_sp_enqueue_burst_elem(sync_ring_, sync.outbox.data(),
                                           sizeof(dp::sync::AnyRecord), sync.outbox_count, nullptr);
        ctx_.counters.sync_queued += queued;
        ctx_.counters.sync_dropped += sync.outbox_count - queued;
        sync.outbox_count = 0;
        std::array<dp::sync::AnyRecord, 64> taken;
        unsigned n = 0;
        while ((n = rte_ring_sc_dequeue_burst_elem(
                    sync_ring_, taken.data(), sizeof(dp::sync::AnyRecord), taken.size(), nullptr)) >
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

    // --ipv6: runs an IPv4 `round` as a dual-stack worker does, with the IPv6 table (full) in the
    // worker's context. The round draws its clients and random choices from generators of its
    // own, so that the rounds without the IPv6 table send what they would without --ipv6. IPv6
    // connections expiring meanwhile (none should) are counted in dual_expired_.
    template <class Round>
    void with_table6(Round&& round) {
        const uint32_t v6_live = v6_.table->size();
        ctx_.table6 = v6_.table.get();
        std::swap(v4_.rng, alt_rng_);
        std::swap(v4_.clients, alt_clients_);
        round();
        std::swap(v4_.rng, alt_rng_);
        std::swap(v4_.clients, alt_clients_);
        ctx_.table6 = nullptr;
        dual_expired_ += v6_live - v6_.table->size();
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

    // Empties `fam`'s table by moving the clock past every timeout (not timed). With --ipv6 the
    // other family's table keeps its connections: each is given its state's timeout from the new
    // time, as if its last packet had just come.
    template <class Record>
    void expire_all(Family<Record>& fam) {
        uint32_t other_live = 0;
        jump_clock(longest_timeout_ms_ + 1000, [&](uint32_t now) {
            with_other_table<Record>([&](auto& table) { other_live = keep_live(table, now); });
        });
        if (fam.table->size() != 0) {
            fail("connections left after expiring everything");
        }
        with_other_table<Record>([&](const auto& table) {
            if (table.size() != other_live) {
                fail("the other family's connections expired with the clock's jump");
            }
        });
    }

    // Moves the clock `ms` on (not timed): `settle(now)` first gives the connections that are to
    // outlive the jump their expiry from the new time `now`, then both tables' wheels catch up
    // with the clock, without a budget (the IPv6 table's too, in the context for it), so that the
    // jump leaves no work for the timed bursts. Returns the connections expired.
    template <class Settle>
    uint32_t jump_clock(uint64_t ms, Settle&& settle) {
        jumped_ms_ += ms;
        const uint32_t now = now_ms(rte_rdtsc());
        settle(now);
        dp::ConnTable6* const table6 = ctx_.table6;
        ctx_.table6 = v6_.table.get();
        const uint32_t expired = dp::expire_connections(ctx_, now, UINT32_MAX);
        ctx_.table6 = table6;
        return expired;
    }

    // Calls `visit(table)` with the table of the family other than `Record`'s, if there is one
    // (--ipv6).
    template <class Record, class Visit>
    void with_other_table(Visit&& visit) {
        if constexpr (Family<Record>::kIpv6) {
            visit(*v4_.table);
        } else if (v6_.table) {
            visit(*v6_.table);
        }
    }

    // Gives every connection of `table` its state's timeout from `now`. Returns how many.
    template <class Table>
    uint32_t keep_live(Table& table, uint32_t now) {
        live_ids(table, kept_ids_);
        keep_live(table, kept_ids_, now);
        return static_cast<uint32_t>(kept_ids_.size());
    }
    template <class Table>
    void keep_live(Table& table, const std::vector<uint32_t>& ids, uint32_t now) {
        for (uint32_t id : ids) {
            table.set_expiry(id,
                             now + snapshot_->timeouts[static_cast<size_t>(table.conn(id).state)]);
        }
    }
    template <class Table>
    static void live_ids(const Table& table, std::vector<uint32_t>& ids) {
        ids.clear();
        table.for_each([&ids](uint32_t id, const auto&) { ids.push_back(id); });
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

    // Sends SYNs (or another `opening` frame) from fresh clients until the table holds `target`
    // or the hash refuses one. Returns the cycles taken and adds the packets sent to `packets`.
    template <class Record>
    uint64_t fill(Family<Record>& fam, uint32_t target, uint64_t& packets) {
        return fill(fam, target, packets, fam.syn);
    }
    template <class Record>
    uint64_t fill(Family<Record>& fam, uint32_t target, uint64_t& packets, const Frame& opening) {
        uint64_t cycles = 0;
        while (fam.table->size() < target) {
            const auto n =
                static_cast<uint16_t>(std::min<uint32_t>(kBurst, target - fam.table->size()));
            for (uint16_t i = 0; i < n; ++i) {
                const auto c = fam.clients.next();
                write_from_client(burst_[i], opening, c.ip, c.port);
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
    // With `synced`, each fill is followed by one with sync on, measured into it; with `dual`,
    // each is preceded by one with the IPv6 table in the context (with_table6), measured into it.
    template <class Record>
    Phase new_connections(Family<Record>& fam, uint32_t target, Phase* synced = nullptr,
                          Phase* dual = nullptr) {
        Phase p(fam.name("new connections (SYN)"));
        uint64_t warm_up = 0;
        fill(fam, target, warm_up);
        const dp::WorkerCounters before = ctx_.counters;
        uint32_t fullest_refusal = 0, emptiest_refusal = UINT32_MAX;
        // One fill from empty, measured into `phase`; returns its packets.
        auto measure_fill = [&](Phase& phase) {
            uint64_t packets = 0;
            const uint64_t cycles = fill(fam, target, packets);
            if (fam.table->size() < target) {
                fullest_refusal = std::max(fullest_refusal, fam.table->size());
                emptiest_refusal = std::min(emptiest_refusal, fam.table->size());
            }
            phase.rounds.push_back(static_cast<double>(cycles) / static_cast<double>(packets));
            phase.packets += packets;
            return packets;
        };
        uint64_t fills = 0;
        while (!((fills >= options_.rounds && p.packets >= options_.packets) ||
                 (fills > 0 && p.packets >= 3 * options_.packets))) {
            expire_all(fam);
            if (dual != nullptr) {
                with_table6([&] { measure_fill(*dual); });
                expire_all(fam);
            }
            measure_fill(p);
            ++fills;
            if (synced != nullptr) {
                expire_all(fam);
                with_sync(*synced, [&] { return measure_fill(*synced); });
            }
        }
        finish(p, before,
               p.packets + (synced != nullptr ? synced->packets : 0) +
                   (dual != nullptr ? dual->packets : 0));
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
        if (dual != nullptr) {
            name_dual(p, *dual);
        }
        return p;
    }

    // A phase with the IPv6 table: its name and check (the counters are the two phases'
    // together), and the IPv6 connections that expired during its rounds, if any did.
    void name_dual(const Phase& p, Phase& dual) {
        dual.name = p.name + " + IPv6 table";
        dual.check = p.check;
        if (dual_expired_ > 0) {
            dual.check += "; " + std::to_string(dual_expired_) + " IPv6 connections expired";
        }
        dual_expired_ = 0;
    }

    // Packets of live connections, uniformly random over the live set, in either direction or
    // only from the servers. One untimed warm-up round first.
    // With `synced`, each round is followed by one with sync on, measured into it; with `dual`,
    // each is preceded by one with the IPv6 table in the context (with_table6), measured into it.
    template <class Record>
    Phase established(Family<Record>& fam, Direction direction, Phase* synced = nullptr,
                      Phase* dual = nullptr) {
        Phase p(fam.name(direction == Direction::either ? "established flows"
                                                        : "replies (server->client)"));
        const uint64_t per_round = packets_per_round();
        for (uint64_t packets = 0; packets < per_round; packets += kBurst) {
            write_random_established(fam, direction);
            pipeline_burst(kBurst);
        }
        const dp::WorkerCounters before = ctx_.counters;
        // One round, measured into `phase`; returns its packets.
        auto measure_round = [&](Phase& phase) {
            uint64_t cycles = 0, packets = 0;
            for (; packets < per_round; packets += kBurst) {
                write_random_established(fam, direction);
                cycles += pipeline_burst(kBurst);
            }
            phase.rounds.push_back(static_cast<double>(cycles) / static_cast<double>(packets));
            phase.packets += packets;
            return packets;
        };
        for (uint32_t round = 0; round < options_.rounds; ++round) {
            if (dual != nullptr) {
                with_table6([&] { measure_round(*dual); });
            }
            measure_round(p);
            if (synced != nullptr) {
                with_sync(*synced, [&] { return measure_round(*synced); });
            }
        }
        finish(p, before, 0);
        if (synced != nullptr) {
            synced->name = p.name + " + sync";
            synced->check = p.check;  // the counters are the two phases' together
            note_sync(*synced);
        }
        if (dual != nullptr) {
            name_dual(p, *dual);
        }
        return p;
    }

    uint64_t packets_per_round() const {
        return std::max<uint64_t>(options_.packets / options_.rounds, kBurst);
    }

    // Established packets with 1% SYNs from fresh clients. Each new connection takes the place
    // of a random live one, erased before the burst (not timed), so the table keeps its size.
    template <class Record>
    Phase mix(Family<Record>& fam) {
        Phase p(fam.name("1% new connections"));
        const uint64_t per_round = packets_per_round();
        const dp::WorkerCounters before = ctx_.counters;
        uint64_t opened = 0;
        for (uint32_t round = 0; round < options_.rounds; ++round) {
            uint64_t cycles = 0, packets = 0;
            for (; packets < per_round; packets += kBurst) {
                SlotList replaced;
                std::array<bool, kBurst> is_syn{};
                for (uint16_t i = 0; i < kBurst && fam.live.size() > 2 * kBurst; ++i) {
                    if (fam.rng.below(100) < kMixNewPercent) {
                        const uint32_t slot = pick_slot(fam, replaced);
                        const uint32_t id =
                            fam.table->lookup(inbound_key(fam.live[slot], fam.vip, fam.vport));
                        if (id == ConnTable::kNoConn) {
                            fail("a live connection is missing from the table");
                        }
                        fam.table->erase(id);  // what expiry would do, minus the counters
                        const auto c = fam.clients.next();
                        fam.live[slot] = {c.ip, {}, c.port, 0};
                        write_syn(fam, burst_[i], c);
                        replaced.push(slot);
                        is_syn[i] = true;
                    }
                }
                for (uint16_t i = 0; i < kBurst; ++i) {
                    if (!is_syn[i]) {
                        write_established(fam, burst_[i], fam.live[pick_slot(fam, replaced)],
                                          fam.rng.next() & 1);
                    }
                }
                cycles += pipeline_burst(kBurst);
                opened += replaced.count;
                learn_servers(fam, replaced);
            }
            p.rounds.push_back(static_cast<double>(cycles) / static_cast<double>(packets));
            p.packets += packets;
        }
        finish(p, before, opened);
        p.name += " (" + std::to_string(opened) + " SYN)";
        return p;
    }

    // Slots of the live set whose connection is being replaced in this burst.
    struct SlotList {
        std::array<uint32_t, kBurst> slots{};
        uint16_t count = 0;
        void push(uint32_t slot) { slots[count++] = slot; }
        bool has(uint32_t slot) const {
            return std::find(slots.begin(), slots.begin() + count, slot) != slots.begin() + count;
        }
    };

    // A random live slot not being replaced in this burst.
    template <class Record>
    static uint32_t pick_slot(Family<Record>& fam, const SlotList& replaced) {
        for (;;) {
            const uint32_t slot = fam.rng.below(static_cast<uint32_t>(fam.live.size()));
            if (!replaced.has(slot)) {
                return slot;
            }
        }
    }

    // Where the scheduler sent the new connections, for their packets from the server. A SYN
    // the table refused (counted as a drop) leaves its slot: it is removed from the live set.
    template <class Record>
    static void learn_servers(Family<Record>& fam, SlotList& replaced) {
        std::sort(replaced.slots.begin(), replaced.slots.begin() + replaced.count,
                  std::greater<>());
        for (uint16_t i = 0; i < replaced.count; ++i) {
            const uint32_t slot = replaced.slots[i];
            const uint32_t id = fam.table->lookup(inbound_key(fam.live[slot], fam.vip, fam.vport));
            if (id == ConnTable::kNoConn) {
                fam.live[slot] = fam.live.back();  // slots above this one are already settled
                fam.live.pop_back();
                continue;
            }
            fam.live[slot].rip = fam.table->conn(id).rip;
            fam.live[slot].rport = fam.table->conn(id).rport;
        }
    }

    // Full TCP lifecycles: connections in flight, each a lane the phase sends kLifecycle's packets
    // of, one a turn; at a lane's turn after its last ACK, a new connection from a fresh client.
    template <class Address>
    struct Lifecycles {
        struct Lane {
            BasicLive<Address> conn{};
            // The next packet of kLifecycle it sends; below 0, the turns it waits before its first
            // SYN, so that the lanes of a burst are at different stages.
            int32_t step = 0;
        };
        std::vector<Lane> lanes;
        uint32_t cursor = 0;    // the next burst's first lane
        bool opening = true;    // false: the lanes finish their connections and open no more
        uint64_t clock_ms = 0;  // the last burst's time
        uint32_t in_flight = 0;
        uint64_t opened = 0, packets = 0, forwarded = 0;
        std::array<uint32_t, kBurst> syn_lanes{};  // the lanes whose SYN the burst carries
        uint16_t syns = 0;
    };

    // How the lifecycles run in a table of `live` connections. Half of them stay as they are (the
    // fillers: the phase only keeps them live); the other half is the lifecycles': `lanes`
    // connections in flight, and the finished ones waiting for their expiry. The clock moves
    // `step_ms` a burst: a finished connection is expired after `wait_ms` (its last state's
    // timeout, and the wheel's tick in which its slot comes round), and the kBurst /
    // kLifecyclePackets connections each burst finishes wait that long within their half.
    struct LifecyclePlan {
        uint32_t lanes = 0;
        uint32_t wait_ms = 0;
        uint32_t step_ms = 0;
        uint64_t warm_up_bursts = 0;  // until connections expire as fast as they finish
        uint64_t span_ms = 0;         // the clock's move from the first burst to the last
    };

    LifecyclePlan plan_lifecycles(uint32_t live) const {
        LifecyclePlan plan;
        const uint32_t room = live / 2;
        // At most half the room in flight: a connection's packets then come at most wait_ms / 8
        // apart (15 s), within the timeouts of SYN_RECV and CLOSE_WAIT (60 s) it waits in.
        plan.lanes = std::min(kLifecycleLanes, room / 2 / kBurst * kBurst);
        plan.wait_ms = snapshot_->timeouts[static_cast<size_t>(lifecycle_end_state())] +
                       2 * dp::TimerWheel::kDefaultTickMs;
        constexpr uint32_t kFinishedPerBurst = kBurst / kLifecyclePackets;
        plan.step_ms = static_cast<uint32_t>(
            (uint64_t{kFinishedPerBurst} * plan.wait_ms + room - plan.lanes - 1) /
            (room - plan.lanes));
        // A lane's connection lasts kLifecyclePackets of its turns, one every lanes / kBurst
        // bursts; the first ones start up to as many turns late (the stagger).
        const uint64_t lifetime = uint64_t{kLifecyclePackets} * plan.lanes / kBurst;
        plan.warm_up_bursts = 2 * lifetime + (plan.wait_ms + plan.step_ms - 1) / plan.step_ms;
        const uint64_t timed = options_.rounds * ((packets_per_round() + kBurst - 1) / kBurst);
        // At the end, up to a lifetime for the lanes' last connections to finish.
        plan.span_ms = (plan.warm_up_bursts + timed + lifetime) * plan.step_ms;
        return plan;
    }

    // Whole TCP connections through the pipeline, SYN to expiry (kLifecycle), interleaved in
    // a table kept at its size: half of it fillers (the live connections the phase finds, the
    // rest erased), half the lifecycles' (plan_lifecycles). Not timed: erasing, putting the
    // fillers' (and the other family's) expiry past the phase, a warm-up until connections
    // expire as fast as they finish, the lanes' last connections finished at the end, the clock
    // moved past their expiry, and the table filled again to its size. Checked: every packet
    // forwarded, every connection opened created and expired, the fillers all live.
    template <class Record>
    Phase lifecycles(Family<Record>& fam) {
        Phase p(fam.name("TCP lifecycles (8 pkts/conn)"));
        p.ok = "all forwarded, all expired";
        const uint32_t live = fam.table->size();
        if (live < kMinLifecycleSize) {
            p.check = "not run: under " + std::to_string(kMinLifecycleSize) + " connections";
            return p;
        }
        const LifecyclePlan plan = plan_lifecycles(live);
        if (plan.span_ms > INT32_MAX / 2) {  // well within what the wheel's 32-bit times compare
            p.check = "not run: its clock would move past 2^30 ms (fewer --packets)";
            return p;
        }
        while (fam.table->size() > live - live / 2) {
            const uint32_t id =
                fam.live.empty()
                    ? ConnTable::kNoConn
                    : fam.table->lookup(inbound_key(fam.live.back(), fam.vip, fam.vport));
            if (id == ConnTable::kNoConn) {
                fail("a live connection is missing from the table");
            }
            fam.table->erase(id);  // what expiry would do, minus the counters
            fam.live.pop_back();
        }
        std::vector<uint32_t> fillers, others;
        live_ids(*fam.table, fillers);
        with_other_table<Record>([&](const auto& table) { live_ids(table, others); });
        const dp::WorkerCounters before = ctx_.counters;
        // The fillers' expiry past the phase's last burst, in the wheel's slot for it: a jump of a
        // turn of the wheel (the tables' are made with the defaults) visits every slot, and moves
        // each connection to its expiry's, where the phase's clock does not reach.
        constexpr uint32_t kTurnMs = dp::TimerWheel::kDefaultSlots * dp::TimerWheel::kDefaultTickMs;
        jump_clock(kTurnMs + 2 * dp::TimerWheel::kDefaultTickMs, [&](uint32_t now) {
            const auto until =
                static_cast<uint32_t>(now + plan.span_ms + 2 * dp::TimerWheel::kDefaultTickMs);
            expire_at(*fam.table, fillers, until);
            with_other_table<Record>([&](auto& table) { expire_at(table, others, until); });
        });

        Lifecycles<typename Family<Record>::Address> lc;
        lc.clock_ms = clock_ms(rte_rdtsc());
        lc.lanes.resize(plan.lanes);
        for (uint32_t i = 0; i < plan.lanes; ++i) {
            lc.lanes[i].step = -static_cast<int32_t>(i % kLifecyclePackets);
        }
        uint64_t packets = 0;
        for (uint64_t b = 0; b < plan.warm_up_bursts; ++b) {
            lifecycle_burst(fam, lc, plan.step_ms, packets);
        }
        const uint64_t opened = lc.opened;
        const uint64_t expired = ctx_.counters.connections_expired;
        const uint64_t per_round = packets_per_round();
        for (uint32_t round = 0; round < options_.rounds; ++round) {
            uint64_t cycles = 0;
            packets = 0;
            while (packets < per_round) {
                cycles += lifecycle_burst(fam, lc, plan.step_ms, packets);
            }
            p.rounds.push_back(static_cast<double>(cycles) / static_cast<double>(packets));
            p.packets += packets;
        }
        const uint64_t timed_opened = lc.opened - opened;
        const uint64_t timed_expired = ctx_.counters.connections_expired - expired;
        lc.opening = false;
        while (lc.in_flight > 0) {
            lifecycle_burst(fam, lc, plan.step_ms, packets);
        }
        jump_clock(plan.wait_ms, [&](uint32_t now) {
            keep_live(*fam.table, fillers, now);
            with_other_table<Record>([&](auto& table) { keep_live(table, others, now); });
        });

        finish(p, before, lc.opened);
        const auto problem = [&p](const std::string& what) {
            p.check += (p.check.empty() ? "" : "; ") + what;
        };
        if (lc.forwarded != lc.packets) {
            problem(std::to_string(lc.forwarded) + " of " + std::to_string(lc.packets) +
                    " packets forwarded");
        }
        const uint64_t ended = ctx_.counters.connections_expired - before.connections_expired;
        if (ended != lc.opened) {
            problem(std::to_string(ended) + " expired, " + std::to_string(lc.opened) + " opened");
        }
        if (fam.table->size() != fillers.size()) {
            problem(std::to_string(fam.table->size()) + " of " + std::to_string(fillers.size()) +
                    " other connections left");
        }
        with_other_table<Record>([&](const auto& table) {
            if (table.size() != others.size()) {
                problem("the other family's connections expired");
            }
        });
        char note[160];
        std::snprintf(
            note, sizeof note,
            "; %u in flight, clock +%u ms/burst, %s %u s; timed: %llu opened, %llu expired",
            plan.lanes, plan.step_ms,
            std::string(dp::conn_state_name(lifecycle_end_state())).c_str(),
            (plan.wait_ms - 2 * dp::TimerWheel::kDefaultTickMs) / 1000,
            static_cast<unsigned long long>(timed_opened),
            static_cast<unsigned long long>(timed_expired));
        p.note = note;

        uint64_t refill = 0;
        fill(fam, live, refill);
        collect_live(fam);
        return p;
    }

    template <class Table>
    static void expire_at(Table& table, const std::vector<uint32_t>& ids, uint32_t at) {
        for (uint32_t id : ids) {
            table.set_expiry(id, at);
        }
    }

    // One burst of lifecycles: the next packet of each of the next kBurst lanes (none of a lane
    // still waiting for its first turn, nor a new connection once the lanes open no more), at
    // the last burst's time and `step_ms`. Afterwards, where its SYNs were scheduled, for the
    // server's packets; a lane whose SYN the table refused starts again. Returns the burst's cycles
    // and adds its packets to `packets`.
    template <class Record, class Address>
    uint64_t lifecycle_burst(Family<Record>& fam, Lifecycles<Address>& lc, uint32_t step_ms,
                             uint64_t& packets) {
        uint16_t n = 0;
        lc.syns = 0;
        for (uint16_t i = 0; i < kBurst; ++i) {
            const uint32_t at = lc.cursor;
            auto& lane = lc.lanes[at];
            lc.cursor = (at + 1) % static_cast<uint32_t>(lc.lanes.size());
            if (lane.step < 0) {
                ++lane.step;
                continue;
            }
            if (lane.step == 0) {
                if (!lc.opening) {
                    continue;
                }
                const auto c = fam.clients.next();
                lane.conn = {c.ip, {}, c.port, 0};
                lc.syn_lanes[lc.syns++] = at;
                ++lc.in_flight;
            }
            const auto step = static_cast<size_t>(lane.step);
            write_packet(burst_[n++], fam.lifecycle[step], lane.conn, kLifecycle[step].from_client);
            if (++lane.step == static_cast<int32_t>(kLifecyclePackets)) {
                lane.step = 0;
                --lc.in_flight;
            }
        }
        lc.clock_ms += step_ms;
        set_clock_ms(lc.clock_ms);
        const uint64_t cycles = pipeline_burst(n);
        lc.packets += n;
        lc.forwarded += last_sent_;
        lc.opened += lc.syns;
        packets += n;
        for (uint16_t i = 0; i < lc.syns; ++i) {
            auto& lane = lc.lanes[lc.syn_lanes[i]];
            const uint32_t id = fam.table->lookup(inbound_key(lane.conn, fam.vip, fam.vport));
            if (id == ConnTable::kNoConn) {
                lane.step = 0;
                --lc.in_flight;
                continue;
            }
            lane.conn.rip = fam.table->conn(id).rip;
            lane.conn.rport = fam.table->conn(id).rport;
        }
        return cycles;
    }

    // --fragments: the family's connections replaced by UDP ones, `size` of them if the hash
    // takes them (the clock moved past every timeout, then a query from each of as many fresh
    // clients; not timed), and known to the generator. Returns how many. The family's fragment
    // table is made afresh: the clock's jumps between one size's phases and the next's add up to
    // weeks, past what the table's 32-bit millisecond expiry compares (2^31 ms, 24.8 days), and
    // the last size's entries would look live for weeks more.
    template <class Record>
    uint32_t refill_udp(Family<Record>& fam, uint32_t size) {
        if constexpr (Family<Record>::kIpv6) {
            fragments6_ = std::make_unique<dp::FragmentTable6>();
            ctx_.fragments6 = fragments6_.get();
        } else {
            fragments_ = std::make_unique<dp::FragmentTable>();
            ctx_.fragments = fragments_.get();
        }
        expire_all(fam);
        uint64_t packets = 0;
        fill(fam, size, packets, fam.query);
        collect_live(fam);
        return fam.table->size();
    }

    // --fragments: a family's UDP phases on a table refilled with UDP connections, each run by
    // `run_phase(phase, measure)`.
    template <class Record, class RunPhase>
    void udp_phases(Family<Record>& fam, uint32_t size, UdpPhases& u, RunPhase&& run_phase) {
        u.live = refill_udp(fam, size);
        run_phase(u.whole, [&] { return datagrams(fam, fam.whole_in, fam.whole_out); });
        run_phase(u.in_order,
                  [&] { return datagrams(fam, fam.fragmented_in, fam.fragmented_out); });
        run_phase(u.last_first, [&] {
            return datagrams(fam, fam.fragmented_in, fam.fragmented_out, Order::last_first);
        });
        run_phase(u.first_ahead, [&] {
            return datagrams(fam, fam.fragmented_in, fam.fragmented_out, Order::first_ahead);
        });
    }

    // --fragments: UDP datagrams of live connections through the pipeline (write_datagrams:
    // `in` from clients, `out` from servers, their frames in `order`), in rounds, after an
    // untimed warm-up round. Checked besides drops and new connections: every frame
    // came back from the TX batches after its burst, none was held past it, every first
    // fragment's translation was recorded, and every later fragment forwarded as its first was
    // translated (fragments_forwarded). Fragments still held at the end (their translation lost)
    // are freed here, so that the next phase starts with an empty hold.
    template <class Record>
    Phase datagrams(Family<Record>& fam, const Datagram& in, const Datagram& out,
                    Order order = Order::in_order) {
        const size_t pieces = in.pieces.size();
        static constexpr const char* kOrders[] = {"in order", "last first", "first ahead"};
        Phase p(fam.name(("UDP " + std::to_string(in.payload) + " B" +
                          (pieces == 1 ? std::string(", unfragmented")
                                       : "/" + std::to_string(pieces) + " frags, " +
                                             kOrders[static_cast<size_t>(order)]))
                             .c_str()));
        p.ok = pieces == 1 ? "all forwarded" : "all forwarded, none held";
        const uint64_t per_round = packets_per_round();
        // first_ahead: the warm-up's last datagrams' later fragments go in the first round (their
        // firsts were not counted, they are: 20 later fragments a burst either way); the last
        // round's last first fragments have none after them.
        ahead_count_ = 0;
        uint64_t sent = 0;  // frames back from the TX batches after their burst
        const auto burst = [&](uint64_t& packets) {
            const uint16_t n = write_datagrams(fam, in, out, order);
            const uint64_t cycles = pipeline_burst(n);
            sent += last_sent_;
            packets += n;
            return cycles;
        };
        for (uint64_t packets = 0; packets < per_round;) {
            burst(packets);
        }
        const dp::WorkerCounters before = ctx_.counters;
        sent = 0;
        for (uint32_t round = 0; round < options_.rounds; ++round) {
            uint64_t cycles = 0, packets = 0;
            while (packets < per_round) {
                cycles += burst(packets);
            }
            p.rounds.push_back(static_cast<double>(cycles) / static_cast<double>(packets));
            p.packets += packets;
        }
        finish(p, before, 0);
        const dp::WorkerCounters& after = ctx_.counters;
        const uint64_t later = p.packets / pieces * (pieces - 1);
        const uint64_t forwarded = after.fragments_forwarded - before.fragments_forwarded;
        const auto problem = [&p](const std::string& what) {
            p.check += (p.check.empty() ? "" : "; ") + what;
        };
        if (forwarded != later) {
            problem(std::to_string(forwarded) + " of " + std::to_string(later) +
                    " later fragments forwarded");
        }
        if (after.fragments_held != before.fragments_held) {
            problem(std::to_string(after.fragments_held - before.fragments_held) + " held");
        }
        if (after.fragments_unrecorded != before.fragments_unrecorded) {
            problem(std::to_string(after.fragments_unrecorded - before.fragments_unrecorded) +
                    " first fragments unrecorded");
        }
        if (sent != p.packets) {
            problem(std::to_string(sent) + " of " + std::to_string(p.packets) + " frames sent");
        }
        dp::FragmentHold& hold = ctx_.fragment_hold;
        for (uint16_t i = 0; i < hold.count; ++i) {
            rte_pktmbuf_free(hold.items[i].mbuf);
        }
        hold.count = 0;
        return p;
    }

    // The same frames as the established phase through parse, TTL (IPv6: hop limit) and NAT
    // rewrite only: no table, no state, no routing or MAC addresses, no TX batches.
    template <class Record>
    Phase ceiling(Family<Record>& fam) {
        constexpr bool kIpv6 = Family<Record>::kIpv6;
        Phase p(fam.name("ceiling: parse + TTL + NAT only"));
        p.ok = "all parsed";
        const uint64_t per_round = packets_per_round();
        uint64_t not_parsed = 0;
        for (uint32_t round = 0; round < options_.rounds; ++round) {
            uint64_t cycles = 0, packets = 0;
            for (; packets < per_round; packets += kBurst) {
                write_random_established(fam);
                const uint64_t start = rte_rdtsc();
                for (rte_mbuf* m : burst_) {
                    auto* f = rte_pktmbuf_mtod(m, uint8_t*);
                    const dp::ParsedFrame parsed = dp::parse_frame(f, rte_pktmbuf_data_len(m));
                    if (parsed.kind != (kIpv6 ? dp::FrameKind::ipv6 : dp::FrameKind::ipv4)) {
                        ++not_parsed;
                        continue;
                    }
                    uint8_t* ip = f + parsed.l3_offset;
                    uint8_t* l4p = f + parsed.l4_offset;
                    if constexpr (kIpv6) {
                        dp::decrement_hop_limit(ip);
                        if (std::memcmp(ip + dp::ipv6::kDst, fam.vip.data(), fam.vip.size()) == 0) {
                            dp::nat6_rewrite(ip, l4p, parsed.ip_protocol, dp::Endpoint::destination,
                                             fam.ceiling_rip, fam.ceiling_rport);
                        } else {
                            dp::nat6_rewrite(ip, l4p, parsed.ip_protocol, dp::Endpoint::source,
                                             fam.vip, fam.vport);
                        }
                    } else {
                        if (dp::load_u32_raw(ip + dp::ipv4::kDst) == fam.vip) {
                            dp::nat_forward_rewrite(ip, l4p, parsed.ip_protocol,
                                                    dp::Endpoint::destination, fam.ceiling_rip,
                                                    fam.ceiling_rport);
                        } else {
                            dp::nat_forward_rewrite(ip, l4p, parsed.ip_protocol,
                                                    dp::Endpoint::source, fam.vip, fam.vport);
                        }
                    }
                }
                cycles += rte_rdtsc() - start;
            }
            p.rounds.push_back(static_cast<double>(cycles) / static_cast<double>(packets));
            p.packets += packets;
        }
        if (not_parsed > 0) {
            p.check =
                std::to_string(not_parsed) + " frames not parsed as " + (kIpv6 ? "IPv6" : "IPv4");
        }
        return p;
    }

    const Options& options_;
    const uint64_t tsc_per_ms_;
    uint64_t start_tsc_ = 0;
    uint64_t jumped_ms_ = 0;
    uint32_t longest_timeout_ms_ = 0;
    uint32_t tables_ = 0;
    Family<dp::Conn> v4_;
    Family<dp::Conn6> v6_;  // --ipv6 only
    // --ipv6: IPv4's rounds with the IPv6 table draw from these (with_table6), and the IPv6
    // connections that expired during them (none should).
    Rng alt_rng_;
    FreshClients alt_clients_;
    uint32_t dual_expired_ = 0;
    std::vector<uint32_t> kept_ids_;  // keep_live's
    std::unique_ptr<dp::Snapshot> snapshot_;
    dp::NeighborTable neighbors_;
    dp::NeighborTable6 neighbors6_;
    std::vector<dp::DestCounters> dest_counters_;
    // --sync: the worker's sync state (attached to ctx_ only in sync rounds), the ring to the
    // sync thread and the sync thread's writer.
    std::unique_ptr<dp::ConnSync> sync_;
    rte_ring* sync_ring_ = nullptr;
    dp::sync::MessageWriter sync_writer_;
    uint64_t sync_cycles_ = 0;
    uint64_t sync_messages_ = 0;
    // --fragments: the fragment tables (shared by every worker in vsnatd; here the one's; made
    // by refill_udp), the last datagram's identification.
    std::unique_ptr<dp::FragmentTable> fragments_;
    std::unique_ptr<dp::FragmentTable6> fragments6_;
    uint32_t datagram_id_ = 0;
    // first_ahead: the datagrams whose first fragment went in the last burst.
    struct Sending {
        uint32_t slot;  // in the family's live set
        bool from_client;
        uint32_t id;
    };
    std::array<Sending, kBurst> ahead_{};
    uint16_t ahead_count_ = 0;
    rte_mempool* pool_ = nullptr;
    std::array<rte_mbuf*, kBurst> burst_{};
    uint16_t last_sent_ = 0;  // frames back from the TX batches after the last burst
    dp::WorkerContext ctx_;
};

std::string verdict(bool met) {
    return met ? "met" : "not met";
}

// The target a phase's figure is held to, and whether it meets it; "" for phases without one.
// The targets are stated at 1M connections; other sizes show where they stand against them.
std::string phase_target(const SizeResult& r, const Phase& p, double mpps) {
    char text[64];
    if (&p == &r.fresh || &p == &r.fresh_sync || &p == &r.fresh_dual || &p == &r.fresh6) {
        std::snprintf(text, sizeof text, ">=%.0f Mpps: %s", kTargetNewMpps,
                      verdict(mpps >= kTargetNewMpps).c_str());
    } else if (&p == &r.established || &p == &r.replies || &p == &r.established_sync ||
               &p == &r.established_dual || &p == &r.established6 || &p == &r.replies6) {
        const double limit =
            r.size <= kCachedSize ? kTargetEstablishedCyclesCached : kTargetEstablishedCycles;
        std::snprintf(text, sizeof text, "<=%.0f cyc/pkt: %s", limit,
                      verdict(p.median() <= limit).c_str());
    } else if ((&p == &r.lifecycles || &p == &r.lifecycles6) && !p.rounds.empty()) {
        const double mcps = mpps / kLifecyclePackets;
        std::snprintf(text, sizeof text, ">=%.0f M conn/s: %.2f, %s", kTargetLifecycleMcps, mcps,
                      verdict(mcps >= kTargetLifecycleMcps).c_str());
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

double bytes_per_live(const Memory& m) {
    return m.live ? static_cast<double>(m.table_bytes) / m.live : 0;
}

// --ipv6: what the IPv6 table changed in an IPv4 phase. Its rounds ran between those without it
// (D0 M0 D1 M1 ...: each round with the table just before the round without it of the same
// index), so each is set against the mean of the rounds without it on either side, which cancels
// a drift over the phase (the load on the other vCPU, the wheel's work 2 s after a fill) that a
// difference with one neighbour would count. The median of those differences; with one round,
// the difference with the round after it.
double paired_change(const Phase& with_table6, const Phase& without) {
    const size_t n = std::min(with_table6.rounds.size(), without.rounds.size());
    if (n == 1) {
        return with_table6.rounds[0] - without.rounds[0];
    }
    std::vector<double> differences;
    for (size_t i = 1; i < n; ++i) {
        differences.push_back(with_table6.rounds[i] -
                              (without.rounds[i - 1] + without.rounds[i]) / 2);
    }
    return median(differences);
}

// --ipv6: each IPv6 figure beside its IPv4 twin; IPv4's with the IPv6 table in the context beside
// IPv4's without it (what IPv6 costs IPv4); the bytes per connection of each family's table.
void print_ipv6(const std::vector<SizeResult>& results, double tsc_hz) {
    auto mpps = [tsc_hz](double cycles) { return cycles > 0 ? tsc_hz / cycles / 1e6 : 0; };
    std::printf(
        "\nIPv6 beside IPv4 (--ipv6): cycles/packet (medians of rounds), bytes per live "
        "connection\n%-11s  %-26s %8s %24s %8s %10s  %s\n",
        "live conns", "figure", "IPv4", "IPv4 + IPv6 table", "IPv6", "IPv6/IPv4",
        "IPv6 against the target (IPv4's)");
    struct Row {
        const char* name;
        const Phase* v4;
        const Phase* dual;  // IPv4 with the IPv6 table; null: not measured
        const Phase* v6;
    };
    for (const SizeResult& r : results) {
        const Row rows[] = {
            {"new connections (SYN)", &r.fresh, &r.fresh_dual, &r.fresh6},
            {"established flows", &r.established, &r.established_dual, &r.established6},
            {"replies (server->client)", &r.replies, nullptr, &r.replies6},
            {"1% new connections", &r.mix, nullptr, &r.mix6},
            {"ceiling: parse + TTL + NAT", &r.ceiling, nullptr, &r.ceiling6},
            {"full TCP lifecycles", &r.lifecycles, nullptr, &r.lifecycles6},
        };
        for (const Row& row : rows) {
            const double v4 = row.v4->median();
            const double v6 = row.v6->median();
            char dual[48] = "-";
            if (row.dual != nullptr) {
                const double change = paired_change(*row.dual, *row.v4);
                std::snprintf(dual, sizeof dual, "%.0f (%+.1f, %+.1f%%)", row.dual->median(),
                              change, v4 > 0 ? 100 * change / v4 : 0);
            }
            std::string target = phase_target(r, *row.v6, mpps(v6));
            if (row.v6 == &r.fresh6) {
                char rate[48];
                std::snprintf(rate, sizeof rate, " (%.2f Mpps; IPv4 %.2f)", mpps(v6), mpps(v4));
                target += rate;
            }
            std::printf("%-11u  %-26s %8.0f %24s %8.0f %9.2fx  %s\n", r.size, row.name, v4, dual,
                        v6, v4 > 0 ? v6 / v4 : 0, target.c_str());
        }
        const double b4 = bytes_per_live(r.memory);
        const double b6 = bytes_per_live(r.memory6);
        std::printf("%-11u  %-26s %8.1f %24s %8.1f %9.2fx  %s\n", r.size,
                    "bytes per live connection", b4, "(IPv4's table alone)", b6,
                    b4 > 0 ? b6 / b4 : 0, memory_target(r.memory6).c_str());
    }
    std::printf(
        "  IPv4 + IPv6 table: IPv4's rounds with the IPv6 table in the worker's context, full (as "
        "many IPv6 connections as the\n  size), in rounds alternating with those of the IPv4 "
        "column, which run as without --ipv6 (no IPv6 table, the same\n  frames). In brackets: "
        "the median over its rounds of a round with the table minus the mean of the rounds "
        "without\n  it on either side, in cycles/pkt and in %% of the IPv4 median: what the IPv6 "
        "table's existence costs an IPv4 packet.\n  Memory: the IPv6 table is an allocation of "
        "its own (ConnTable6: the same index and wheel, %zu-byte Conn6 records);\n  IPv4's "
        "holds only %zu-byte Conn records, its bytes per connection are the same with and "
        "without IPv6. IPv6 rows:\n  with IPv4's table, full, in the context (a dual-stack "
        "worker's). Targets: the issue's, stated for IPv4, at 1M\n  connections.\n",
        sizeof(dp::Conn6), sizeof(dp::Conn));
}

// --fragments: each UDP phase per frame and per datagram, against the same connections'
// datagrams sent whole.
void print_fragments(const std::vector<SizeResult>& results, double tsc_hz) {
    std::printf(
        "\nfragmented UDP (--fragments): medians of rounds, one worker\n%-11s %-7s %10s  %-28s "
        "%10s %12s %13s %14s %15s\n",
        "live conns", "family", "UDP conns", "datagrams", "cyc/frame", "Mpps frames",
        "cyc/datagram", "M datagrams/s", "x whole/frame");
    for (const SizeResult& r : results) {
        for (const auto& [family, u, whole] : {std::tuple{"IPv4", &r.udp, "1472 B, whole"},
                                               std::tuple{"IPv6", &r.udp6, "1452 B, whole"}}) {
            const std::pair<const Phase*, const char*> rows[] = {
                {&u->whole, whole},
                {&u->in_order, "4000 B, 3 frags in order"},
                {&u->last_first, "4000 B, 3 frags, last first"},
                {&u->first_ahead, "4000 B, 3 frags, first ahead"},
            };
            for (const auto& [phase, what] : rows) {
                if (phase->rounds.empty()) {
                    continue;
                }
                const double frame = phase->median();
                const double frames = phase == &u->whole ? 1 : 3;
                std::printf("%-11u %-7s %10u  %-28s %10.0f %12.2f %13.0f %14.2f %14.2fx\n", r.size,
                            family, u->live, what, frame, tsc_hz / frame / 1e6, frames * frame,
                            tsc_hz / (frames * frame) / 1e6, frame / u->whole.median());
            }
        }
    }
    std::printf(
        "  Datagrams of established UDP connections (as many as the size, each opened by a "
        "%zu-byte query), random over\n  them, either direction at random (client to VIP:53, "
        "server back): whole (one 1,514-byte frame) or %zu bytes of\n  UDP payload in the 3 "
        "fragments an MTU-%zu link takes. The first fragment goes through the connection lookup "
        "and\n  records its translation; the later ones look it up in the fragment table. Bursts "
        "of 32 whole datagrams, or of 10\n  datagrams of 3 fragments (30 frames) in order or last "
        "fragment first: either way the later fragments are sorted\n  before their first is "
        "translated, held back in the burst and forwarded at its end (settle_fragments); first\n"
        "  ahead: each burst has the first fragments of 10 datagrams and the 20 later fragments of "
        "the last burst's,\n  which find their translation when they come. x whole/frame: cycles "
        "per frame over the whole datagrams'.\n",
        kQueryPayload, kFragmentedPayload, kLinkMtu);
}

void print_report(const std::vector<SizeResult>& results, double tsc_hz) {
    auto mpps = [tsc_hz](double cycles) { return cycles > 0 ? tsc_hz / cycles / 1e6 : 0; };
    std::printf("\n%-11s  %-36s %9s %12s %17s %10s %-24s %10s %7s  %s\n", "live conns", "phase",
                "Mpps", "cycles/pkt", "min..max cyc/pkt", "x ceiling", "target", "packets",
                "on-CPU", "check");
    for (const SizeResult& r : results) {
        std::vector<const Phase*> phases = {&r.fresh, &r.established, &r.replies, &r.mix,
                                            &r.ceiling};
        if (!r.fresh_sync.rounds.empty()) {  // --sync: each after its phase without sync
            phases = {&r.fresh,   &r.fresh_sync, &r.established, &r.established_sync,
                      &r.replies, &r.mix,        &r.ceiling};
        }
        if (!r.fresh_dual.rounds.empty()) {  // --ipv6: each after its phase without the table
            phases = {&r.fresh,   &r.fresh_dual, &r.established, &r.established_dual,
                      &r.replies, &r.mix,        &r.ceiling};
        }
        phases.push_back(&r.lifecycles);
        // Then --fragments' (if run), and IPv6's (--ipv6).
        const std::vector<const Phase*> phases6 = {
            &r.fresh6,          &r.established6,    &r.replies6,   &r.mix6,
            &r.ceiling6,        &r.lifecycles6,     &r.udp6.whole, &r.udp6.in_order,
            &r.udp6.last_first, &r.udp6.first_ahead};
        for (const Phase* p :
             {&r.udp.whole, &r.udp.in_order, &r.udp.last_first, &r.udp.first_ahead}) {
            if (!p->rounds.empty()) {
                phases.push_back(p);
            }
        }
        for (const Phase* p : phases6) {
            if (!p->rounds.empty() || !p->check.empty()) {  // run, or said why not
                phases.push_back(p);
            }
        }
        for (const Phase* p : phases) {
            const bool v6 = std::find(phases6.begin(), phases6.end(), p) != phases6.end();
            const double ceiling = (v6 ? r.ceiling6 : r.ceiling).median();
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
    for (const SizeResult& r : results) {
        if (r.memory6.capacity == 0) {
            continue;
        }
        const Memory& m = r.memory6;
        const auto mb = [](double b) { return b / (1 << 20); };
        std::printf("%-11s %10u %10u %11.1f %11.1f %10.1f %10.1f %13.1f %13.1f  %s\n",
                    (std::to_string(r.size) + " IPv6").c_str(), m.capacity, m.live,
                    mb(static_cast<double>(m.table_bytes)), mb(static_cast<double>(m.heap_bytes)),
                    static_cast<double>(m.table_bytes) / m.capacity, bytes_per_live(m),
                    mb(static_cast<double>(m.heap.heap_allocsz_bytes)),
                    mb(static_cast<double>(m.heap.heap_totalsz_bytes)), memory_target(m).c_str());
    }
    std::printf(
        "  table = ConnTable::memory_bytes(): the index (64-byte buckets of 8 entries, 2 per "
        "connection) + %zu-byte records\n  + timer wheel nodes; created = what rte_malloc's "
        "counters moved when the table was made; heap = "
        "rte_malloc socket %u stats with the table full (mbufs included).\n",
        sizeof(dp::Conn), rte_socket_id());
    if (!results.empty() && results.front().memory6.capacity != 0) {
        std::printf(
            "  IPv6 rows: ConnTable6::memory_bytes(), the same index and wheel with %zu-byte Conn6 "
            "records; heap: both tables full.\n",
            sizeof(dp::Conn6));
    }

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
    if (at->lifecycles.rounds.empty()) {
        std::printf("  full TCP lifecycles: %s\n", at->lifecycles.check.c_str());
    } else {
        const double per_connection = kLifecyclePackets * at->lifecycles.median();
        const double mcps = tsc_hz / per_connection / 1e6;
        std::printf(
            "  full TCP lifecycles         %7.2f M conn/s    target >=%.0f M conn/s per worker: %s "
            "(%.0f cycles a connection of %u packets)\n",
            mcps, kTargetLifecycleMcps, verdict(mcps >= kTargetLifecycleMcps).c_str(),
            per_connection, kLifecyclePackets);
    }
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
    if (!at->fresh6.rounds.empty()) {
        print_ipv6(results, tsc_hz);
    }
    if (!at->udp.in_order.rounds.empty()) {
        print_fragments(results, tsc_hz);
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
    const uint64_t memory_mb = eal_memory_mb(largest, options.ipv6);
    const bool huge = options.huge.value_or(free_hugepage_mb() >= memory_mb);
    // Besides the EAL's memory: the generator's lists of live connections.
    const size_t live_bytes = sizeof(Live) + (options.ipv6 ? sizeof(Live6) : 0);
    const uint64_t needed_mb =
        (huge ? 0 : memory_mb) + ((static_cast<uint64_t>(largest) * live_bytes) >> 20) + 64;
    if (needed_mb > mem_available_mb()) {
        std::fprintf(stderr, "%u connections need about %llu MB; only %llu MB are available\n",
                     largest, static_cast<unsigned long long>(needed_mb),
                     static_cast<unsigned long long>(mem_available_mb()));
        return 1;
    }

    const std::optional<std::string> eal_line =
        init_eal(argv[0], huge, memory_mb, "vsnat-bench-", options.eal_extra);
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
    std::printf("EAL:     %s\n         (%s)\n", eal_line->c_str(),
                huge ? "hugepages, as vsnatd" : "4 KB pages: no hugepages free, or --no-huge");
    std::printf("CPU:     %s, TSC %.3f GHz (rte_get_tsc_hz); one worker on lcore %u\n",
                cpu_model().c_str(), static_cast<double>(tsc_hz) / 1e9, rte_lcore_id());
    std::printf(
        "traffic: bursts of %u mbufs, %zu-byte TCP/IPv4 frames (64 B on the wire), seed scenario "
        "(VIP 202.103.106.5:80,\n         wrr 1:2 over 2 servers), clients from 198.18.0.0/15, "
        "either direction, no RX offload flags (IP\n         header checksum verified in "
        "software)\n",
        kBurst, kFrameLen);
    if (options.ipv6) {
        std::printf(
            "ipv6:    (--ipv6) the same phases with %zu-byte TCP/IPv6 frames (%zu B on the wire) "
            "through the IPv6 path and table:\n         VIP [%s]:80, wrr 1:2 over [%s]:80 and "
            "[%s]:8000, clients from\n         2001:2:0:1000::/55 (in RFC 5180's 2001:2::/48) "
            "through the outside gateway; the ceiling decrements the hop\n         limit. IPv4's "
            "phases run as without --ipv6 (no IPv6 table in the context: the same frames); IPv4's "
            "new\n         connections and established flows also run with the IPv6 table in the "
            "context, full, in rounds alternating\n         with those without it (\"+ IPv6 "
            "table\"; their own clients and random choices); IPv6's phases run with IPv4's\n"
            "         table, full, in the context. The other family's table keeps its connections "
            "across the clock's jumps\n         (given their timeouts afresh, not timed).\n",
            kFrameLen6, kFrameLen6 + 4, test::kVip6.c_str(), test::kRs1Ip6.c_str(),
            test::kRs2Ip6.c_str());
    }
    if (options.fragments) {
        std::printf(
            "udp:     (--fragments) after the other phases, each family's table emptied and "
            "refilled with as many UDP\n         connections to the dns service (VIP:53, rr over "
            "172.16.0.2:53 and .3:53; IPv6: dns6), then\n         datagrams of those: whole, and "
            "in 3 fragments (section \"fragmented UDP\" at the end). Fragment\n         tables "
            "in the worker's context only with --fragments, new for each size.\n");
    }
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
    std::printf(
        "lifecycles: whole TCP connections, SYN to expiry: SYN, SYN-ACK (from the real server it "
        "was scheduled to), ACK, a %u-byte\n         request, a %u-byte response, FIN from the "
        "client, FIN from the server, last ACK (%u packets, both ways); up to\n         %u in "
        "flight, each burst the next packet of %u of them (%u at each stage), a fresh client's in "
        "the place of each\n         one done. Half the table keeps the connections found in it "
        "(their expiry put past the phase), the other half\n         holds the lifecycles' in "
        "flight and done: the clock moves a fixed step a burst (in the check column) so that a\n"
        "         done connection's last state (%s) times out while they fit. Also timed: their "
        "expiry. Not timed: a\n         warm-up until connections expire as fast as they open, "
        "the erase and refill of the other half. conn/s =\n         TSC Hz / (%u x cycles/pkt).\n",
        kRequestBytes, kResponseBytes, kLifecyclePackets, kLifecycleLanes, kBurst,
        kBurst / kLifecyclePackets, std::string(dp::conn_state_name(lifecycle_end_state())).c_str(),
        kLifecyclePackets);
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
