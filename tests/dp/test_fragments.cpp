// IPv4 and IPv6 fragments through the real pipeline, on the seed's scenario (UDP
// 202.103.106.5:53 to 172.16.0.2 and 172.16.0.3, 1:1; in IPv6 [2001:2:0:18::5]:53 to
// [2001:2:0:19::2] and [::3]): the first fragment goes with its connection, the later ones
// follow its translation in any order, the reply's fragments leave from the VIP.
#include <catch2/catch.hpp>

#include <algorithm>
#include <iterator>
#include <numeric>

#include "dp/bytes.hpp"
#include "dp/owner.hpp"
#include "lab_fixture.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using namespace vsnat::test;

namespace {

constexpr size_t kIp = 14;  // Ethernet header: the IPv4 header starts here

uint16_t ip_header_checksum(const uint8_t* ip) {
    uint32_t sum = 0;
    for (size_t i = 0; i < ipv4::kMinHeaderLen; i += 2) {
        sum += i == ipv4::kChecksum ? 0u : load_be16(ip + i);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum);
}

// The datagram the fragments in `sent` make, put together again by offset (as the receiver
// does), as one unfragmented frame.
std::vector<uint8_t> reassembled(const std::vector<PipelineHarness::Sent>& sent) {
    std::vector<std::pair<size_t, const std::vector<uint8_t>*>> pieces;
    for (const auto& s : sent) {
        pieces.emplace_back(
            (load_be16(s.bytes.data() + kIp + ipv4::kFragment) & ipv4::kOffsetMask) * 8, &s.bytes);
    }
    std::sort(pieces.begin(), pieces.end());
    std::vector<uint8_t> frame(pieces[0].second->begin(),
                               pieces[0].second->begin() + kIp + ipv4::kMinHeaderLen);
    for (const auto& [offset, bytes] : pieces) {
        REQUIRE(frame.size() - kIp - ipv4::kMinHeaderLen == offset);
        frame.insert(frame.end(), bytes->begin() + kIp + ipv4::kMinHeaderLen, bytes->end());
    }
    uint8_t* ip = frame.data() + kIp;
    store_be16(ip + ipv4::kTotalLength, static_cast<uint16_t>(frame.size() - kIp));
    store_be16(ip + ipv4::kFragment, 0);
    store_be16(ip + ipv4::kChecksum, ip_header_checksum(ip));
    return frame;
}

// A 3,000-byte DNS-sized UDP datagram from the seed's client, in three fragments.
PacketSpec big_query(uint16_t client_port = 5300) {
    PacketSpec s = client_packet(17, 0, 53, client_port);
    s.payload.resize(3000);
    std::iota(s.payload.begin(), s.payload.end(), uint8_t{7});
    s.ip_id = 0x4242;
    return s;
}

struct FragmentHarness {
    FragmentHarness() {
        h.ctx.fragments = &table;
        h.ctx.fragments6 = &table6;
    }
    ~FragmentHarness() {
        for (uint16_t i = 0; i < h.ctx.fragment_hold.count; ++i) {
            rte_pktmbuf_free(h.ctx.fragment_hold.items[i].mbuf);
        }
    }
    // Forwards what the worker loop would release now.
    void release(uint32_t now_ms) {
        release_fragments(h.ctx, now_ms);
        h.run({}, now_ms);
    }
    PipelineHarness h;
    FragmentTable table;
    FragmentTable6 table6;
};

// Two workers sharing their fragment tables, as vsnatd's do.
struct FragmentGroup {
    FragmentGroup() {
        for (auto& w : g.workers) {
            w->ctx.fragments = &table;
            w->ctx.fragments6 = &table6;
        }
    }
    WorkerGroup g{seed_snapshot(2), 2};
    FragmentTable table;
    FragmentTable6 table6;
};

bool all_ip_checksums_valid(const std::vector<PipelineHarness::Sent>& sent) {
    return std::all_of(sent.begin(), sent.end(), [](const PipelineHarness::Sent& s) {
        return load_be16(s.bytes.data() + kIp + ipv4::kChecksum) ==
               ip_header_checksum(s.bytes.data() + kIp);
    });
}

}  // namespace

TEST_CASE("fragments: in order, every fragment reaches the real server; the datagram is whole") {
    FragmentHarness f;
    const PacketSpec q = big_query();
    const auto frags = ipv4_fragments(build_packet(q), 1480);
    REQUIRE(frags.size() == 3);
    // One burst: the later fragments are sorted before the first is translated, and forwarded
    // once it is, at the end of the burst.
    f.h.run(frags);
    REQUIRE(f.h.sent.size() == 3);
    CHECK(all_ip_checksums_valid(f.h.sent));
    const std::vector<uint8_t> whole = reassembled(f.h.sent);
    CHECK(checksums_valid(whole));  // the UDP checksum, adjusted in the first, covers it all
    const PacketFields out = read_fields(whole);
    CHECK(format_ip(out.dst_ip) == "172.16.0.2");
    CHECK(out.dst_port == 53);
    CHECK(format_ip(out.src_ip) == "202.100.1.2");
    CHECK(f.h.ctx.counters.fragments_forwarded == 2);
    CHECK(f.h.ctx.counters.fragments_held == 0);
}

TEST_CASE("fragments: in any order, the later ones wait for the first") {
    std::vector<size_t> order = {0, 1, 2};
    do {
        FragmentHarness f;
        const auto frags = ipv4_fragments(build_packet(big_query()), 1480);
        for (size_t i : order) {
            f.h.run({frags[i]}, 10);
            f.release(10);
        }
        INFO("order " << order[0] << order[1] << order[2]);
        REQUIRE(f.h.sent.size() == 3);
        CHECK(checksums_valid(reassembled(f.h.sent)));
        CHECK(f.h.ctx.counters.fragments_held ==
              static_cast<uint64_t>(std::find(order.begin(), order.end(), 0) - order.begin()));
        CHECK(f.h.ctx.fragment_hold.count == 0);
    } while (std::next_permutation(order.begin(), order.end()));
}

TEST_CASE("fragments: the real server's fragmented answer leaves from the VIP") {
    FragmentHarness f;
    f.h.run({build_packet(client_packet(17, 0, 53, 5301))});
    REQUIRE(f.h.sent.size() == 1);
    const std::string rip = format_ip(read_fields(f.h.sent[0].bytes).dst_ip);
    f.h.sent.clear();
    PacketSpec answer = server_packet(17, rip, 53, 0, 5301);
    answer.payload.resize(4000, 0x5a);
    answer.ip_id = 0x777;
    const auto frags = ipv4_fragments(build_packet(answer), 1480);
    f.h.run({frags[2], frags[1]});
    f.h.run({frags[0]});
    f.release(0);
    REQUIRE(f.h.sent.size() == 3);
    const std::vector<uint8_t> whole = reassembled(f.h.sent);
    CHECK(checksums_valid(whole));
    CHECK(format_ip(read_fields(whole).src_ip) == "202.103.106.5");
    CHECK(read_fields(whole).src_port == 53);
}

TEST_CASE("fragments: without their first, later ones are dropped after a second; duplicates go") {
    FragmentHarness f;
    const auto frags = ipv4_fragments(build_packet(big_query(5302)), 1480);
    f.h.run({frags[1], frags[2]}, 0);
    f.release(900);
    CHECK(f.h.sent.empty());
    CHECK(f.h.ctx.fragment_hold.count == 2);
    f.release(1100);
    CHECK(f.h.ctx.fragment_hold.count == 0);
    CHECK(dropped(f.h, DropReason::fragment_timeout) == 2);

    // A datagram whose middle fragment comes twice: both copies are forwarded (the receiver
    // keeps one).
    const auto again = ipv4_fragments(build_packet(big_query(5303)), 1480);
    f.h.run({again[0], again[1], again[1], again[2]}, 2000);
    f.release(2000);
    CHECK(f.h.sent.size() == 4);
}

TEST_CASE("fragments: a full hold gives up its oldest; a first fragment holds its TCP header") {
    FragmentHarness f;
    for (uint16_t id = 0; id < FragmentHold::kCapacity + 3; ++id) {
        PacketSpec q = big_query();
        q.ip_id = id;
        f.h.run({ipv4_fragments(build_packet(q), 1480)[2]});
    }
    CHECK(f.h.ctx.fragment_hold.count == FragmentHold::kCapacity);
    CHECK(dropped(f.h, DropReason::fragment_hold_full) == 3);
    // The newest are kept: the first fragment of the last datagram finds its others.
    PacketSpec last = big_query();
    last.ip_id = FragmentHold::kCapacity + 2;
    f.h.run({ipv4_fragments(build_packet(last), 1480)[0]});
    f.release(0);
    CHECK(f.h.sent.size() == 2);

    PacketSpec syn = from_client(5400, SYN);
    syn.payload.resize(64);
    const auto tiny = ipv4_fragments(build_packet(syn), 8);  // 8 bytes of a 20-byte header
    f.h.run({tiny[0]});
    CHECK(dropped(f.h, DropReason::bad_l4_header) == 1);
}

TEST_CASE("fragments: drop, as configured") {
    FragmentHarness f;
    auto snap = seed_snapshot();
    snap->drop_fragments = true;
    snap->finalize(1);
    f.h.ctx.snapshot = snap.get();
    f.h.run(ipv4_fragments(build_packet(big_query()), 1480));
    CHECK(f.h.sent.empty());
    CHECK(dropped(f.h, DropReason::ip_fragment) == 3);
}

TEST_CASE("fragments: later ones follow their first across workers") {
    FragmentGroup fg;
    WorkerGroup& g = fg.g;
    // A client port whose connection worker 1 owns: later fragments (no ports) reach worker 0.
    uint16_t port = 5500;
    while (owner_of_client(ip_raw("202.100.1.2"), port_raw(port), 2) != 1) {
        ++port;
    }
    const auto frags = ipv4_fragments(build_packet(big_query(port)), 1480);
    g.run({frags[0], frags[1], frags[2]});
    CHECK(g.handled_by == std::vector<uint32_t>{1, 0, 0});
    REQUIRE(g.sent.size() == 3);
    CHECK(checksums_valid(reassembled(g.sent)));
    CHECK(g.counter(&WorkerCounters::fragments_forwarded) == 2);
}

// ---- IPv6 --------------------------------------------------------------------------------------

namespace {

constexpr size_t kIp6 = kIp;                   // the IPv6 header starts here too
constexpr size_t kFragmentHeader = kIp6 + 40;  // in what ipv6_fragments makes
constexpr size_t kFragmentData = kFragmentHeader + 8;

// A 3,000-byte UDP query from the IPv6 client: 3,008 bytes of UDP, in fragments of 1,448, 1,448
// and 112 bytes (what a kernel makes at MTU 1500).
PacketSpec big_query6(uint16_t client_port = 5300) {
    PacketSpec s = client_packet6(17, 0, 53, client_port);
    s.payload.resize(3000);
    std::iota(s.payload.begin(), s.payload.end(), uint8_t{9});
    return s;
}

std::vector<std::vector<uint8_t>> fragments6_of(const PacketSpec& s, uint32_t id = 0x80004242,
                                                std::vector<size_t> offsets = {0, 1448, 2896}) {
    return ipv6_fragments(build_packet(s), offsets, id);
}

size_t fragment_offset6(const std::vector<uint8_t>& frame) {
    return load_be16(frame.data() + kFragmentHeader + ipv6::kFragmentOffsetFlags) &
           ipv6::kFragmentOffsetMask;
}

uint32_t fragment_id6(const std::vector<uint8_t>& frame) {
    return load_be32(frame.data() + kFragmentHeader + ipv6::kFragmentId);
}

// The packet the fragments in `sent` make (as the receiver reassembles it, RFC 8200 4.5: all
// of one source, destination and id), as one unfragmented frame: the first's IPv6 header naming
// what its fragment header names, then every fragment's data by offset.
std::vector<uint8_t> reassembled6(const std::vector<PipelineHarness::Sent>& sent) {
    std::vector<std::pair<size_t, const std::vector<uint8_t>*>> pieces;
    for (const auto& s : sent) {
        pieces.emplace_back(fragment_offset6(s.bytes), &s.bytes);
    }
    std::sort(pieces.begin(), pieces.end());
    const std::vector<uint8_t>& first = *pieces[0].second;
    std::vector<uint8_t> frame(first.begin(), first.begin() + kFragmentHeader);
    frame[kIp6 + ipv6::kNextHeader] = first[kFragmentHeader + ipv6::kFragmentNextHeader];
    for (const auto& [offset, bytes] : pieces) {
        REQUIRE(frame.size() - kFragmentHeader == offset);
        REQUIRE(fragment_id6(*bytes) == fragment_id6(first));
        REQUIRE(std::equal(bytes->begin() + kIp6 + ipv6::kSrc,
                           bytes->begin() + kIp6 + ipv6::kDst + ipv6::kAddressLen,
                           first.begin() + kIp6 + ipv6::kSrc));
        frame.insert(frame.end(), bytes->begin() + kFragmentData, bytes->end());
    }
    store_be16(frame.data() + kIp6 + ipv6::kPayloadLength,
               static_cast<uint16_t>(frame.size() - kFragmentHeader));
    return frame;
}

// The sent frames of datagram `id`.
std::vector<PipelineHarness::Sent> of_datagram(const std::vector<PipelineHarness::Sent>& sent,
                                               uint32_t id) {
    std::vector<PipelineHarness::Sent> out;
    std::copy_if(sent.begin(), sent.end(), std::back_inserter(out),
                 [id](const PipelineHarness::Sent& s) { return fragment_id6(s.bytes) == id; });
    return out;
}

}  // namespace

TEST_CASE("IPv6 fragments: in one burst, every fragment reaches the real server translated") {
    FragmentHarness f;
    const auto frags = fragments6_of(big_query6());
    f.h.run(frags);
    REQUIRE(f.h.sent.size() == 3);
    const std::vector<uint8_t> whole = reassembled6(f.h.sent);
    // The UDP checksum, adjusted in the first fragment for the new destination, covers it all.
    CHECK(checksums_valid(whole));
    const PacketFields out = read_fields(whole);
    CHECK(format_ip(out.dst_ip6) == kRs1Ip6);
    CHECK(out.dst_port == 53);
    CHECK(format_ip(out.src_ip6) == kClient6);
    for (const auto& s : f.h.sent) {
        CHECK(s.port == kInsidePort);
        CHECK(read_fields(s.bytes).ttl == 63);
        // The fragment header as it came: same id, offset and next header.
        CHECK(fragment_id6(s.bytes) == 0x80004242);
        CHECK(s.bytes[kFragmentHeader + ipv6::kFragmentNextHeader] == 17);
    }
    CHECK(f.h.ctx.counters.fragments_forwarded == 2);
    CHECK(f.h.ctx.counters.fragments_held == 0);
    CHECK(f.h.table6->size() == 1);
}

TEST_CASE("IPv6 fragments: first, middle and last in every order") {
    std::vector<size_t> order = {0, 1, 2};
    do {
        FragmentHarness f;
        const auto frags = fragments6_of(big_query6());
        for (size_t i : order) {
            f.h.run({frags[i]}, 10);
            f.release(10);
        }
        INFO("order " << order[0] << order[1] << order[2]);
        REQUIRE(f.h.sent.size() == 3);
        const std::vector<uint8_t> whole = reassembled6(f.h.sent);
        CHECK(checksums_valid(whole));
        CHECK(format_ip(read_fields(whole).dst_ip6) == kRs1Ip6);
        CHECK(f.h.ctx.counters.fragments_held ==
              static_cast<uint64_t>(std::find(order.begin(), order.end(), 0) - order.begin()));
        CHECK(f.h.ctx.fragment_hold.count == 0);
    } while (std::next_permutation(order.begin(), order.end()));
}

TEST_CASE("IPv6 fragments: the real server's fragmented answer leaves from the VIP") {
    FragmentHarness f;
    f.h.run({build_packet(client_packet6(17, 0, 53, 5301))});
    REQUIRE(f.h.sent.size() == 1);
    const std::string rip = format_ip(read_fields(f.h.sent[0].bytes).dst_ip6);
    f.h.sent.clear();
    PacketSpec answer = server_packet6(17, rip, 53, 0, 5301);
    answer.payload.resize(4000, 0x5a);
    const auto frags = fragments6_of(answer, 0x777, {0, 1448, 2896});
    f.h.run({frags[2], frags[1]});
    f.h.run({frags[0]});
    f.release(0);
    REQUIRE(f.h.sent.size() == 3);
    const std::vector<uint8_t> whole = reassembled6(f.h.sent);
    CHECK(checksums_valid(whole));
    CHECK(format_ip(read_fields(whole).src_ip6) == kVip6);
    CHECK(read_fields(whole).src_port == 53);
    CHECK(format_ip(read_fields(whole).dst_ip6) == kClient6);
    for (const auto& s : f.h.sent) {
        CHECK(s.port == kOutsidePort);
    }
}

TEST_CASE("IPv6 fragments: without their first, dropped after a second; duplicates, overlaps") {
    FragmentHarness f;
    const auto frags = fragments6_of(big_query6(5302), 1);
    f.h.run({frags[1], frags[2]}, 0);
    f.release(900);
    CHECK(f.h.sent.empty());
    CHECK(f.h.ctx.fragment_hold.count == 2);
    f.release(1100);
    CHECK(f.h.ctx.fragment_hold.count == 0);
    CHECK(dropped(f.h, DropReason::fragment_timeout) == 2);

    // A middle fragment twice, and one that overlaps two others: the director does not
    // reassemble, every one goes on translated (the receiver keeps one copy, and drops a
    // datagram with overlapping fragments, RFC 8200 4.5).
    const auto again = fragments6_of(big_query6(5303), 2);
    const auto overlap = fragments6_of(big_query6(5303), 2, {0, 1000, 2000});
    f.h.run({again[0], again[1], again[1], overlap[1], again[2]}, 2000);
    f.release(2000);
    REQUIRE(f.h.sent.size() == 5);
    for (const auto& s : f.h.sent) {
        CHECK(read_fields(s.bytes).ipv6);
        CHECK(format_ip(read_fields(s.bytes).dst_ip6) == kRs1Ip6);
    }
    CHECK(f.h.ctx.counters.fragments_forwarded == 4);
}

TEST_CASE("IPv6 fragments: two datagrams between the same addresses, told apart by their id") {
    FragmentHarness f;
    // Two queries from two client ports: UDP :53 is round robin, so one goes to each server.
    const auto a = fragments6_of(big_query6(5304), 0x1111);
    const auto b = fragments6_of(big_query6(5305), 0x2222);
    f.h.run({a[2], b[1], b[2], a[1]});
    f.h.run({b[0], a[0]});
    f.release(0);
    REQUIRE(f.h.sent.size() == 6);
    const std::vector<uint8_t> whole_a = reassembled6(of_datagram(f.h.sent, 0x1111));
    const std::vector<uint8_t> whole_b = reassembled6(of_datagram(f.h.sent, 0x2222));
    CHECK(checksums_valid(whole_a));
    CHECK(checksums_valid(whole_b));
    CHECK(read_fields(whole_a).src_port == 5304);
    CHECK(read_fields(whole_b).src_port == 5305);
    CHECK(format_ip(read_fields(whole_b).dst_ip6) == kRs1Ip6);  // the first scheduled
    CHECK(format_ip(read_fields(whole_a).dst_ip6) == kRs2Ip6);
}

TEST_CASE("IPv6 fragments: the same id in IPv4 and IPv6 is two datagrams") {
    FragmentHarness f;
    PacketSpec q4 = big_query();
    q4.ip_id = 0x4242;
    const auto v4 = ipv4_fragments(build_packet(q4), 1480);
    const auto v6 = fragments6_of(big_query6(), 0x4242);
    // IPv4's first is translated; IPv6's later ones still wait for theirs.
    f.h.run({v4[0], v6[1], v6[2]});
    CHECK(f.h.sent.size() == 1);
    CHECK(f.h.ctx.fragment_hold.count == 2);
    f.h.run({v6[0], v4[1], v4[2]});
    f.release(0);
    REQUIRE(f.h.sent.size() == 6);
    std::vector<PipelineHarness::Sent> sent4, sent6;
    for (const auto& s : f.h.sent) {
        (read_fields(s.bytes).ipv6 ? sent6 : sent4).push_back(s);
    }
    REQUIRE(sent4.size() == 3);
    REQUIRE(sent6.size() == 3);
    CHECK(checksums_valid(reassembled(sent4)));
    CHECK(format_ip(read_fields(reassembled(sent4)).dst_ip) == "172.16.0.2");
    CHECK(checksums_valid(reassembled6(sent6)));
    CHECK(format_ip(read_fields(reassembled6(sent6)).dst_ip6) == kRs1Ip6);
}

TEST_CASE("IPv6 fragments: drop, as configured; what vsnat does not balance; the hop limit") {
    FragmentHarness f;
    auto snap = seed_snapshot();
    snap->drop_fragments = true;
    snap->finalize(1);
    f.h.ctx.snapshot = snap.get();
    f.h.run(fragments6_of(big_query6()));
    CHECK(f.h.sent.empty());
    CHECK(dropped(f.h, DropReason::ip_fragment) == 3);
    CHECK(f.h.table6->size() == 0);

    // Forwarded again: fragments of an ICMPv6 echo (no connection to follow) are dropped; a
    // later fragment whose hop limit runs out too.
    FragmentHarness g;
    PacketSpec echo = client_packet6(58, 0, 0);
    echo.payload.assign(2000, 1);
    g.h.run(ipv6_fragments(build_packet(echo), {0, 1448}));
    CHECK(dropped(g.h, DropReason::ip_fragment) == 2);
    auto frags = fragments6_of(big_query6());
    frags[1][kIp6 + ipv6::kHopLimit] = 1;
    g.h.run(frags);
    CHECK(g.h.sent.size() == 2);
    CHECK(dropped(g.h, DropReason::ttl_expired) == 1);
}

TEST_CASE("IPv6 fragments: one larger than the egress link gets packet too big, untranslated") {
    FragmentHarness f;
    f.h.snapshot->interfaces[1].mtu = 1280;
    f.h.snapshot->finalize(1);
    // 1,000 and 1,400 bytes of data: the second is 1,448 bytes of IPv6, over 1,280.
    const auto frags = fragments6_of(big_query6(), 3, {0, 1000, 2400});
    f.h.run(frags);
    REQUIRE(f.h.sent.size() == 3);
    const auto ptb = std::find_if(f.h.sent.begin(), f.h.sent.end(),
                                  [](const auto& s) { return s.port == kOutsidePort; });
    REQUIRE(ptb != f.h.sent.end());
    const uint8_t* icmp = ptb->bytes.data() + kIp6 + 40;
    CHECK(icmp[0] == 2);
    CHECK(load_be32(icmp + 4) == 1280);
    CHECK(format_ip(read_fields(ptb->bytes).dst_ip6) == kClient6);
    CHECK(checksums_valid(ptb->bytes));
    // It quotes the fragment as the client sent it: to the VIP, at offset 1,000.
    CHECK(load_ipv6(icmp + 8 + 24) == ip6_raw(kVip6));
    CHECK(load_be16(icmp + 8 + 40 + ipv6::kFragmentOffsetFlags) == (1000 | ipv6::kFragmentMore));
    CHECK(f.h.ctx.counters.packet_too_big_sent == 1);
    CHECK(f.h.ctx.counters.fragments_forwarded == 1);
}

TEST_CASE("IPv6 fragments: later ones follow their first across workers") {
    FragmentGroup fg;
    WorkerGroup& g = fg.g;
    uint16_t port = 5500;
    while (owner_of_client(ip6_raw(kClient6), port_raw(port), 2) != 1) {
        ++port;
    }
    const auto frags = fragments6_of(big_query6(port));
    g.run({frags[0], frags[1], frags[2]});
    CHECK(g.handled_by == std::vector<uint32_t>{1, 0, 0});
    REQUIRE(g.sent.size() == 3);
    CHECK(checksums_valid(reassembled6(g.sent)));
    CHECK(g.counter(&WorkerCounters::fragments_forwarded) == 2);
}

TEST_CASE("IPv6 fragments: held on one worker, released in the millisecond another records") {
    FragmentGroup fg;
    WorkerGroup& g = fg.g;
    uint16_t port = 5600;
    while (owner_of_client(ip6_raw(kClient6), port_raw(port), 2) != 1) {
        ++port;
    }
    const auto frags = fragments6_of(big_query6(port));
    PipelineHarness& w0 = *g.workers[0];
    g.run({frags[2], frags[1]}, 5);
    release_fragments(w0.ctx, 5);
    CHECK(w0.ctx.fragment_hold.count == 2);
    g.run({frags[0]}, 5);  // worker 1 records the translation
    release_fragments(w0.ctx, 5);
    w0.run({}, 5);
    CHECK(w0.ctx.fragment_hold.count == 0);
    REQUIRE(w0.sent.size() == 2);
    g.sent.insert(g.sent.end(), w0.sent.begin(), w0.sent.end());
    CHECK(checksums_valid(reassembled6(g.sent)));
}
