// Writes the seed corpora of fuzz_pipeline and fuzz_parse: short scenarios on the seed's
// dual-stack table (tests/dp/lab_fixture) with the IPv6 FTP service fuzz_pipeline adds, each a file
// of records (pipeline_input.hpp), and every frame they use as a file of its own for the parser;
// and IPv6 frames for the parser alone. The committed corpus came from
//   build-asan/tests/fuzz/make_corpus tests/fuzz/corpus
// (the config corpus is config/*.yaml and tests/unit/configs/*.yaml, copied).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dp/bytes.hpp"
#include "lab_fixture.hpp"
#include "pipeline_input.hpp"

namespace {

using namespace vsnat;
using namespace vsnat::test;
using namespace vsnat::fuzz;
using Frame = std::vector<uint8_t>;

constexpr uint8_t FIN = 0x01, RST = 0x04, PSH = 0x08;  // SYN and ACK: lab_fixture.hpp
constexpr uint8_t kInBurst = 0;                        // a record that does not end its burst
constexpr uint8_t kAlone = kEndBurst;

Frame arp_request_for(const std::string& target) {
    Frame f(60, 0);
    std::fill(f.begin(), f.begin() + 6, 0xff);
    std::copy(kGatewayMac.begin(), kGatewayMac.end(), f.begin() + 6);
    dp::store_be16(&f[12], 0x0806);
    dp::store_be16(&f[14], 1);
    dp::store_be16(&f[16], 0x0800);
    f[18] = 6;
    f[19] = 4;
    dp::store_be16(&f[20], 1);
    std::copy(kGatewayMac.begin(), kGatewayMac.end(), f.begin() + 22);
    dp::store_u32_raw(&f[28], ip_raw("202.103.106.254"));
    dp::store_u32_raw(&f[38], ip_raw(target));
    return f;
}

// A real server's ICMP port unreachable quoting what the director sent it for `quoted`.
Frame icmp_error_from_server(PacketSpec quoted) {
    quoted.dst_ip = "172.16.0.3";
    quoted.dst_port = 8000;
    const Frame inner = build_packet(quoted);
    PacketSpec s = server_packet(1, "172.16.0.3", 0);
    s.payload.assign(inner.begin() + 14, inner.begin() + 14 + 20 + 8);
    Frame f = build_packet(s);
    f[34] = 3;  // destination unreachable
    f[35] = 3;  // port unreachable
    recompute_checksums(f);
    return f;
}

// A control-connection segment of the seed's ftp service (VIP:21 -> 172.16.0.3:21), or of its
// IPv6 twin ([2001:2:0:18::5]:21 -> [2001:2:0:19::3]:21, test::add_ftp6_service).
PacketSpec ftp_command(const std::string& text, bool ipv6 = false) {
    PacketSpec s = ipv6 ? client_packet6(6, PSH | ACK, 21) : client_packet(6, PSH | ACK, 21);
    s.payload.assign(text.begin(), text.end());
    return s;
}
PacketSpec ftp_reply(const std::string& text, uint32_t seq, bool ipv6 = false) {
    PacketSpec s = ipv6 ? server_packet6(6, kRs2Ip6, 21, PSH | ACK)
                        : server_packet(6, "172.16.0.3", 21, PSH | ACK);
    s.payload.assign(text.begin(), text.end());
    s.seq = seq;
    return s;
}

// IPv6 from the lab's client to its VIP and from the gateway's MAC, for the parser. The
// destination MAC's first byte is `quote_at`: fuzz_parse also parses the frame as a quoted packet
// starting there (by default this frame's IPv6 header).
PacketSpec parse_spec6(uint8_t protocol, int vlan = -1, int quote_at = -1) {
    PacketSpec s;
    s.src_ip = kClient6;
    s.dst_ip = kVip6;
    s.protocol = protocol;
    s.vlan = vlan;
    s.src_mac = kGatewayMac;
    s.dst_mac = {};
    s.dst_mac[0] = static_cast<uint8_t>(quote_at >= 0 ? quote_at : vlan >= 0 ? 18 : 14);
    return s;
}

PacketSpec tcp6(uint8_t flags, size_t payload) {  // with an MSS option on a SYN
    PacketSpec s = parse_spec6(6);
    s.tcp_flags = flags;
    s.ack = (flags & ACK) != 0 ? 5001 : 0;
    if ((flags & SYN) != 0) {
        s.tcp_options = {2, 4, 0x05, 0x8c};  // 1420
    }
    s.payload.assign(payload, 0x61);
    return s;
}

PacketSpec udp6(size_t payload, int vlan = -1) {
    PacketSpec s = parse_spec6(17, vlan);
    s.dst_port = 53;
    s.payload.assign(payload, 0x42);
    return s;
}

// The ICMPv6 message `s` describes (protocol 58) as `type`, `rest` the 4 bytes after its checksum
// (build_packet makes an echo request with zeros there).
Frame icmpv6(const PacketSpec& s, uint8_t type, uint32_t rest) {
    Frame f = build_packet(s);
    const size_t l4 = f.size() - s.payload.size() - dp::l4::kIcmpHeaderLen;
    f[l4] = type;
    dp::store_be32(&f[l4 + 4], rest);
    recompute_checksums(f);
    return f;
}

std::vector<std::pair<std::string, Frame>> ipv6_seeds() {
    namespace ipv6 = dp::ipv6;
    constexpr uint32_t kFragmentId = 0x0badcafe;
    PacketSpec echo = parse_spec6(ipv6::kProtoIcmpv6);
    echo.payload.assign(56, 0x55);
    // Segment routing with one segment, the VIP, no segment left.
    PacketSpec chain = tcp6(PSH | ACK, 9);
    chain.ipv6_extensions = {ipv6_options(ipv6::kHopByHop), ipv6_options(ipv6::kDestinationOptions),
                             ipv6_routing(kVip6), ipv6_fragment_header(0, false, kFragmentId),
                             ipv6_options(ipv6::kDestinationOptions)};
    // A 2,000-byte UDP datagram in two fragments of 1,232 and 776 bytes (IPv6's minimum MTU
    // less its headers).
    const std::vector<Frame> fragments =
        ipv6_fragments(build_packet(udp6(2000)), {0, 1232}, kFragmentId);
    // A router's packet too big for a segment the client sent: as much as fits in 1,280 bytes.
    // Its destination MAC points fuzz_parse's quote at the quoted packet.
    PacketSpec sent = tcp6(ACK, 1400);
    sent.ipv6_extensions = {ipv6_options(ipv6::kDestinationOptions)};
    const Frame sent_frame = build_packet(sent);
    PacketSpec too_big = parse_spec6(ipv6::kProtoIcmpv6, -1, 14 + 40 + 8);
    too_big.payload.assign(sent_frame.begin() + 14,
                           sent_frame.begin() + 14 + 1280 - ipv6::kHeaderLen - 8);
    return {
        {"ipv6_tcp_syn", build_packet(tcp6(SYN, 0))},
        {"ipv6_udp_vlan", build_packet(udp6(30, 5))},
        {"ipv6_icmpv6_echo", icmpv6(echo, 128, 0x12340001)},
        {"ipv6_extension_chain", build_packet(chain)},
        {"ipv6_first_fragment", fragments[0]},
        {"ipv6_later_fragment", fragments[1]},
        {"ipv6_packet_too_big", icmpv6(too_big, 2, 1420)},
    };
}

// ---- The pipeline's IPv6 seeds, on the lab's dual stack (lab_fixture.hpp) ----

constexpr uint8_t kIcmp6 = 58;

// A neighbor solicitation for `target` from `source` at `source_mac`, to the target's
// solicited-node group, with a source link-layer address option (none from the unspecified
// address "::": duplicate address detection).
Frame solicitation6(const std::string& source, const MacAddress& source_mac,
                    const std::string& target) {
    const Ipv6 t = ip6_raw(target);
    Ipv6 group = ip6_raw("ff02::1:ff00:0");
    std::copy(t.begin() + 13, t.end(), group.begin() + 13);
    PacketSpec s;
    s.src_ip = source;
    s.dst_ip = format_ip(group);
    s.src_mac = source_mac;
    s.dst_mac = {0x33, 0x33, 0xff, t[13], t[14], t[15]};
    s.protocol = kIcmp6;
    s.ttl = 255;
    Frame upper(24, 0);
    upper[0] = 135;
    std::copy(t.begin(), t.end(), upper.begin() + 8);
    if (source != "::") {
        upper.push_back(1);
        upper.push_back(1);
        upper.insert(upper.end(), source_mac.begin(), source_mac.end());
    }
    Frame f = build_ipv6_frame(s, upper);
    recompute_checksums(f);
    return f;
}

// An unsolicited neighbor advertisement (override set) for `target` at `mac`, to all nodes.
Frame advertisement6(const std::string& target, const MacAddress& mac) {
    const Ipv6 t = ip6_raw(target);
    PacketSpec s;
    s.src_ip = target;
    s.dst_ip = "ff02::1";
    s.src_mac = mac;
    s.dst_mac = {0x33, 0x33, 0, 0, 0, 0x01};
    s.protocol = kIcmp6;
    s.ttl = 255;
    Frame upper(24, 0);
    upper[0] = 136;
    upper[4] = 0x20;
    std::copy(t.begin(), t.end(), upper.begin() + 8);
    upper.push_back(2);
    upper.push_back(1);
    upper.insert(upper.end(), mac.begin(), mac.end());
    Frame f = build_ipv6_frame(s, upper);
    recompute_checksums(f);
    return f;
}

// An ICMPv6 error (`type`, `code`, `value` in its 32-bit field: packet too big's MTU) from `src`
// at `src_mac` to `dst`, quoting `sent` (an Ethernet frame without VLAN tag) as far as 1,280
// bytes hold. It arrives from the outside link unless `src_mac` is a real server's.
Frame icmp6_error(uint8_t type, uint8_t code, uint32_t value, const std::string& src,
                  const MacAddress& src_mac, const std::string& dst, const Frame& sent) {
    PacketSpec s;
    s.src_ip = src;
    s.dst_ip = dst;
    s.src_mac = src_mac;
    s.dst_mac = src_mac == kRs1Mac || src_mac == kRs2Mac ? kInsideMac : kOutsideMac;
    s.protocol = kIcmp6;
    Frame upper(8, 0);
    upper[0] = type;
    upper[1] = code;
    dp::store_be32(&upper[4], value);
    upper.insert(upper.end(), sent.begin() + 14,
                 sent.begin() + static_cast<long>(std::min<size_t>(sent.size(), 14 + 1280 - 48)));
    Frame f = build_ipv6_frame(s, upper);
    recompute_checksums(f);
    return f;
}

struct Seed {
    std::string name;
    std::vector<std::pair<uint8_t, Frame>> records;  // control byte, frame
};

std::vector<Seed> seeds() {
    PacketSpec syn = client_packet(6, SYN, 80);
    PacketSpec ack = client_packet(6, ACK, 80);
    PacketSpec request = client_packet(6, PSH | ACK, 80);
    request.payload = {'G', 'E', 'T', ' ', '/', '\r', '\n', '\r', '\n'};
    PacketSpec fin = client_packet(6, FIN | ACK, 80);
    PacketSpec tagged = syn;
    tagged.vlan = 5;
    PacketSpec options = syn;
    options.ip_options = {1, 1, 1, 0};
    PacketSpec on_link = syn;  // a client on the outside link whose MAC is not known yet
    on_link.src_ip = "202.103.106.7";
    Frame fragment = build_packet(syn);
    dp::store_be16(&fragment[14 + 6], 0x2000);
    recompute_checksums(fragment);
    const uint8_t inside = kFromInside | kAlone;
    PacketSpec big_query = client_packet(17, 0, 53);
    big_query.payload.assign(2000, 0x42);
    const std::vector<Frame> query = ipv4_fragments(build_packet(big_query), 1480);
    PacketSpec big_answer = server_packet(17, "172.16.0.2", 53);
    big_answer.payload.assign(3000, 0x24);
    const std::vector<Frame> answer = ipv4_fragments(build_packet(big_answer), 1480);
    // IPv6: the client 2001:2:0:1::2 through the gateway on the outside link, the real servers
    // [2001:2:0:19::2]:80 and [::3]:8000 (wrr 1:2, a fresh snapshot's first pick the second).
    const PacketSpec syn6 = client_packet6(6, SYN, 80);
    PacketSpec request6 = client_packet6(6, PSH | ACK, 80);
    request6.payload = {'G', 'E', 'T', ' ', '/', '\r', '\n', '\r', '\n'};
    const PacketSpec synack6 = server_packet6(6, kRs2Ip6, 8000, SYN | ACK);
    // What the director sent for them: what a router on the way quotes.
    const Frame sent_syn6 = expected(syn6, kClient6, 3456, kRs2Ip6, 8000, kInsideMac, kRs2Mac);
    const Frame sent_synack6 =
        expected(synack6, kVip6, 80, kClient6, 3456, kOutsideMac, kGatewayMac);
    const PacketSpec query6 = client_packet6(17, 0, 53);
    const Frame sent_answer6 = expected(server_packet6(17, kRs1Ip6, 53), kVip6, 53, kClient6, 3456,
                                        kOutsideMac, kGatewayMac);
    PacketSpec on_link6 = syn6;  // a client on the outside link whose MAC is not known yet
    on_link6.src_ip = "2001:2:0:18::7";
    on_link6.src_mac = {0x02, 0x00, 0x00, 0x00, 0x0a, 0x07};
    PacketSpec big6 = client_packet6(6, ACK, 80);  // 1,560 bytes of IPv6: over the links' 1,500
    big6.payload.assign(1500, 0x6b);
    PacketSpec tagged6 = syn6;
    tagged6.vlan = 5;
    PacketSpec extended6 = syn6;
    extended6.ipv6_extensions = {ipv6_options(0), ipv6_options(60, 1)};
    PacketSpec last_hop6 = syn6;
    last_hop6.ttl = 1;
    PacketSpec bare6 = query6;  // UDP checksum 0: invalid over IPv6
    bare6.udp_checksum = false;
    PacketSpec long_query6 = query6;
    long_query6.payload.assign(2000, 0x42);
    const std::vector<Frame> pieces6 = ipv6_fragments(build_packet(long_query6), {0, 1448});
    PacketSpec long_answer6 = server_packet6(17, kRs1Ip6, 53);
    long_answer6.payload.assign(3000, 0x24);
    const std::vector<Frame> answer6 =
        ipv6_fragments(build_packet(long_answer6), {0, 1448, 2896}, 0x80000001);
    auto echo6 = [](const std::string& to) {
        PacketSpec s = client_packet6(kIcmp6, 0, 0);
        s.dst_ip = to;
        s.payload.assign(56, 0x5a);
        return build_packet(s);
    };
    const std::string outside_link_local = format_ip(dp::link_local_of(kOutsideMac));
    const std::string gateway_link_local = format_ip(dp::link_local_of(kGatewayMac));
    const MacAddress moved = {0x02, 0x00, 0x00, 0x00, 0x0a, 0xfd};
    return {
        {"tcp_connection",
         {{kAlone, build_packet(syn)},
          {inside, build_packet(server_packet(6, "172.16.0.3", 8000, SYN | ACK))},
          {inside, build_packet(server_packet(6, "172.16.0.2", 80, SYN | ACK))},
          {kAlone, build_packet(ack)},
          {kAlone, build_packet(request)},
          {inside, build_packet(server_packet(6, "172.16.0.3", 8000, PSH | ACK))},
          {kAlone, build_packet(fin)},
          {inside, build_packet(server_packet(6, "172.16.0.3", 8000, FIN | ACK))},
          {kAlone | clock_step(7), build_packet(ack)}}},
        {"tcp_one_burst",
         {{kInBurst, build_packet(syn)},
          {kInBurst, build_packet(syn)},
          {kInBurst | kFromInside, build_packet(server_packet(6, "172.16.0.3", 8000, SYN | ACK))},
          {kInBurst, build_packet(ack)},
          {kAlone, build_packet(client_packet(6, RST, 80))}}},
        {"tcp_reuse_after_close",
         {{kAlone, build_packet(syn)},
          {kAlone, build_packet(client_packet(6, RST, 80))},
          {kAlone | clock_step(1), build_packet(syn)},
          {kAlone | clock_step(4), build_packet(ack)}}},
        {"udp",
         {{kAlone, build_packet(client_packet(17, 0, 53))},
          {inside, build_packet(server_packet(17, "172.16.0.2", 53))},
          {inside, build_packet(server_packet(17, "172.16.0.3", 53))},
          {kAlone | clock_step(6), build_packet(client_packet(17, 0, 53))}}},
        {"rejected",
         {{kAlone, build_packet(client_packet(6, SYN, 8080))},
          {kAlone, build_packet(client_packet(17, 0, 54))}}},
        {"icmp_echo",
         {{kAlone, build_packet(client_packet(1, 0, 0))},
          {kAlone,
           [] {
               PacketSpec s = client_packet(1, 0, 0);
               s.dst_ip = "202.103.106.1";
               return build_packet(s);
           }()}}},
        {"icmp_error", {{kAlone, build_packet(syn)}, {inside, icmp_error_from_server(syn)}}},
        {"arp",
         {{kAlone, arp_request_for("202.103.106.5")}, {kAlone, arp_request_for("202.103.106.1")}}},
        {"held_for_arp",
         {{kAlone, build_packet(on_link)},
          {inside, build_packet([] {
               PacketSpec s = server_packet(6, "172.16.0.3", 8000, SYN | ACK);
               s.dst_ip = "202.103.106.7";
               return s;
           }())},
          {kAlone | clock_step(2), build_packet(ack)}}},
        {"ftp_passive",
         {{kAlone, build_packet(client_packet(6, SYN, 21))},
          {inside,
           build_packet(ftp_reply("227 Entering Passive Mode (172,16,0,3,117,48)\r\n", 5000))},
          {kAlone, build_packet(ftp_command("RETR f\r\n"))},
          {inside, build_packet(ftp_reply("150 Here it comes\r\n", 5047))},
          {kAlone,
           [] {
               PacketSpec s = client_packet(6, SYN, 30000);
               s.src_port = 3457;
               return build_packet(s);
           }()},
          {inside,
           build_packet(ftp_reply("227 Entering Passive Mode (172,16,0,3,117,48)\r\n", 5000))}}},
        {"ftp_active",
         {{kAlone, build_packet(client_packet(6, SYN, 21))},
          {kAlone, build_packet(ftp_command("PORT 202,100,1,2,195,80\r\n"))},
          {inside, build_packet([] {
               PacketSpec s = server_packet(6, "172.16.0.3", 20, SYN);
               s.dst_port = 50000;
               return s;
           }())},
          {kAlone, build_packet(ftp_command("EPRT |1|202.100.1.2|50001|\r\n"))},
          {inside,
           build_packet(ftp_reply("229 Entering Extended Passive Mode (|||6446|)\r\n", 5000))},
          {inside, build_packet(ftp_reply("227 Entering Passive Mode (172,16,0,3,", 5100))}}},
        {"udp_fragments",
         {{kAlone, query[1]},  // before its first: held
          {kInBurst, query[0]},
          {kAlone, query[1]},  // after it, in its burst: forwarded at the burst's end
          {inside, answer[2]},
          {kInBurst | kFromInside, answer[0]},
          {inside, answer[1]},
          {kAlone | clock_step(2), query[1]}}},  // past the hold time
        {"odd_headers",
         {{kAlone, build_packet(tagged)}, {kAlone, build_packet(options)}, {kAlone, fragment}}},
        {"ipv6_udp_fragments",
         {{kAlone, pieces6[1]},  // before its first: held
          {kInBurst, pieces6[0]},
          {kAlone, pieces6[1]},  // after it, in its burst: forwarded at the burst's end
          {inside, answer6[2]},
          {kInBurst | kFromInside, answer6[0]},
          {inside, answer6[1]},
          {kAlone | clock_step(2), pieces6[1]}}},  // past the hold time
        {"ipv6_tcp_connection",
         {{kAlone, build_packet(syn6)},
          {inside, build_packet(synack6)},
          {kAlone, build_packet(client_packet6(6, ACK, 80))},
          {kAlone, build_packet(request6)},
          {inside, build_packet(server_packet6(6, kRs2Ip6, 8000, PSH | ACK))},
          {kAlone, build_packet(client_packet6(6, FIN | ACK, 80))},
          {inside, build_packet(server_packet6(6, kRs2Ip6, 8000, FIN | ACK))},
          {kAlone | clock_step(7), build_packet(client_packet6(6, ACK, 80))}}},
        {"ipv6_udp",
         {{kAlone, build_packet(query6)},
          {inside, build_packet(server_packet6(17, kRs1Ip6, 53))},
          {inside, build_packet(server_packet6(17, kRs2Ip6, 53))},
          // The client's port unreachable about the answer: to the real server.
          {kAlone, icmp6_error(1, 4, 0, kClient6, kGatewayMac, kVip6, sent_answer6)},
          {kAlone | clock_step(6), build_packet(query6)}}},
        {"ipv6_neighbor_discovery",
         {{kAlone, solicitation6(kGateway6, kGatewayMac, kVip6)},
          {kAlone, solicitation6(kGateway6, kGatewayMac, kOutsideIp6)},
          {kAlone, solicitation6("::", kGatewayMac, kVip6)},  // duplicate address detection
          {kAlone, solicitation6(gateway_link_local, kGatewayMac, "2001:2:0:18::77")},
          {inside, solicitation6(kRs1Ip6, kRs1Mac, kInsideIp6)},
          {kAlone, advertisement6(kGateway6, moved)},            // a known neighbor moved
          {kAlone, advertisement6("2001:2:0:18::77", moved)}}},  // not one the director has
        {"ipv6_echo",
         {{kAlone, echo6(kVip6)},
          {kAlone, echo6(kOutsideIp6)},
          {kAlone, echo6(outside_link_local)}}},
        {"ipv6_packet_too_big",
         {{kAlone, build_packet(syn6)},
          // A router on the inside about the SYN the director sent: to the client, from the VIP.
          {inside, icmp6_error(2, 0, 1280, "2001:2:0:19::99", kRs2Mac, kClient6, sent_syn6)},
          {inside, build_packet(synack6)},
          // One on the outside about the SYN-ACK: to the real server.
          {kAlone, icmp6_error(2, 0, 1280, "2001:2:0:1::1", kGatewayMac, kVip6, sent_synack6)}}},
        {"ipv6_rejected",
         {{kAlone, build_packet(client_packet6(6, SYN, 81))},
          {kAlone, build_packet(client_packet6(17, 0, 54))}}},
        {"ipv6_held_for_nd",
         {{kAlone, build_packet(on_link6)},
          {inside, build_packet([] {
               PacketSpec s = server_packet6(6, kRs2Ip6, 8000, SYN | ACK);
               s.dst_ip = "2001:2:0:18::7";
               return s;
           }())},
          {kAlone | clock_step(2), build_packet([&] {
               PacketSpec s = on_link6;
               s.tcp_flags = ACK;
               return s;
           }())}}},
        {"ipv6_oversized", {{kAlone, build_packet(syn6)}, {kAlone, build_packet(big6)}}},
        {"ipv6_ftp",
         {{kAlone, build_packet(client_packet6(6, SYN, 21))},
          {inside, build_packet(
                       ftp_reply("229 Entering Extended Passive Mode (|||6446|)\r\n", 5000, true))},
          {kAlone, build_packet(client_packet6(6, SYN, 6446, 3457))},
          {kAlone, build_packet(ftp_command("EPRT |2|2001:2:0:1::2|50000|\r\n", true))},
          {inside, build_packet(server_packet6(6, kRs2Ip6, 20, SYN, 50000))},
          {inside, build_packet(ftp_reply("227 Entering Passive Mode (172,16,0,3,117,48)\r\n", 5047,
                                          true))}}},
        {"ipv6_odd_headers",
         {{kAlone, build_packet(tagged6)},
          {kAlone, build_packet(extended6)},
          {kAlone, build_packet(last_hop6)},
          {kAlone, build_packet(bare6)},
          {kAlone, pieces6[0]}}},
    };
}

void write(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) {
        throw std::runtime_error("cannot write " + path.string());
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const std::filesystem::path root = argv[1];
    std::filesystem::create_directories(root / "pipeline");
    std::filesystem::create_directories(root / "parse");
    for (const Seed& seed : seeds()) {
        std::vector<uint8_t> input;
        for (size_t i = 0; i < seed.records.size(); ++i) {
            const auto& [control, frame] = seed.records[i];
            input.push_back(control);
            input.push_back(static_cast<uint8_t>(frame.size() >> 8));
            input.push_back(static_cast<uint8_t>(frame.size()));
            input.insert(input.end(), frame.begin(), frame.end());
            write(root / "parse" / (seed.name + "_" + std::to_string(i)), frame);
        }
        write(root / "pipeline" / seed.name, input);
    }
    for (const auto& [name, frame] : ipv6_seeds()) {
        write(root / "parse" / name, frame);
    }
    return 0;
}
