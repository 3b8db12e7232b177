#include "dp/local6.hpp"

#include <algorithm>
#include <cstring>

#include "dp/bytes.hpp"
#include "dp/checksum.hpp"
#include "dp/local_common.hpp"
#include "dp/nat.hpp"

namespace vsnat::dp {
namespace {

// ICMPv6 types (RFC 4443 2.1, RFC 4861 4).
constexpr uint8_t kIcmp6Unreachable = 1, kIcmp6PacketTooBig = 2, kIcmp6ParameterProblem = 4,
                  kIcmp6EchoRequest = 128, kIcmp6EchoReply = 129, kNeighborSolicitation = 135,
                  kNeighborAdvertisement = 136, kRedirect = 137;
constexpr uint8_t kPortUnreachable = 4;
constexpr size_t kIcmp6HeaderLen = l4::kIcmpHeaderLen, kIcmp6Checksum = l4::kIcmpChecksum,
                 kIcmp6Data = 4;  // the 32-bit field after the checksum: MTU, ND flags

// Neighbor solicitation and advertisement (RFC 4861 4.3, 4.4): 4 bytes of header, 4 of flags
// and reserved, the target, then options; a link-layer address option is 8 bytes on Ethernet.
constexpr size_t kNdTarget = 8, kNdMinLen = 24, kNdMacOptionLen = 8;
constexpr uint8_t kOptionSourceMac = 1, kOptionTargetMac = 2;
constexpr uint8_t kNaRouter = 0x80, kNaSolicited = 0x40, kNaOverride = 0x20;
constexpr uint8_t kNdHopLimit = 255;  // RFC 4861: proves the sender is on the link

// RFC 8200 5: every link carries 1280 bytes; RFC 4443 2.4(c): an error fits in that.
constexpr size_t kMinMtu = 1280;

constexpr Ipv6 kAllNodes = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
constexpr MacAddress kAllNodesMac = {0x33, 0x33, 0, 0, 0, 0x01};

static_assert(kNeighborSolicitationFrameLen ==
              eth::kHeaderLen + ipv6::kHeaderLen + kNdMinLen + kNdMacOptionLen);

void store_ipv6(uint8_t* p, const Ipv6& a) {
    std::memcpy(p, a.data(), a.size());
}

bool is_multicast(const Ipv6& a) {
    return a[0] == 0xff;
}

bool is_unspecified(const Ipv6& a) {
    return std::all_of(a.begin(), a.end(), [](uint8_t b) { return b == 0; });
}

// ff02::1:ff00:0/104 (RFC 4291 2.7.1), the group of every address ending in the same 24 bits.
constexpr uint8_t kSolicitedNodePrefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};

bool is_solicited_node(const Ipv6& a) {
    return std::memcmp(a.data(), kSolicitedNodePrefix, sizeof kSolicitedNodePrefix) == 0;
}

Ipv6 solicited_node(const Ipv6& target) {
    Ipv6 a = target;
    std::memcpy(a.data(), kSolicitedNodePrefix, sizeof kSolicitedNodePrefix);
    return a;
}

// The TCP, UDP or ICMPv6 checksum to store for `len` bytes at `l4` (its checksum field zeroed).
uint16_t checksum6(const Ipv6& src, const Ipv6& dst, uint8_t next_header, const uint8_t* l4,
                   size_t len) {
    const uint64_t pseudo = csum_pseudo_header6(src, dst, static_cast<uint32_t>(len), next_header);
    return static_cast<uint16_t>(~csum_fold(csum_partial(l4, len, pseudo)));
}

// Writes a 40-byte IPv6 header with no extension header after it.
void write_ipv6_header(uint8_t* ip6, size_t payload_len, uint8_t next_header, uint8_t hop_limit,
                       const Ipv6& src, const Ipv6& dst) {
    std::memset(ip6, 0, ipv6::kPayloadLength);
    ip6[ipv6::kVersionClassFlow] = 0x60;
    store_be16(ip6 + ipv6::kPayloadLength, static_cast<uint16_t>(payload_len));
    ip6[ipv6::kNextHeader] = next_header;
    ip6[ipv6::kHopLimit] = hop_limit;
    store_ipv6(ip6 + ipv6::kSrc, src);
    store_ipv6(ip6 + ipv6::kDst, dst);
}

// What RFC 4861 7.1.1 and 7.1.2 ask of both solicitations and advertisements, options apart:
// hop limit 255, code 0, at least 24 bytes, checksum right, target not multicast. And RFC 6980
// 5: no fragment header, not even an atomic fragment's.
bool nd_valid(const uint8_t* frame, const ParsedFrame& parsed, uint8_t type) {
    const uint8_t* ip6 = frame + parsed.l3_offset;
    const uint8_t* icmp = frame + parsed.l4_offset;
    if (parsed.ip_protocol != ipv6::kProtoIcmpv6 || parsed.fragment_header_offset != 0 ||
        parsed.l4_length < kNdMinLen || icmp[0] != type || icmp[1] != 0 ||
        ip6[ipv6::kHopLimit] != kNdHopLimit || is_multicast(load_ipv6(icmp + kNdTarget))) {
        return false;
    }
    const uint64_t pseudo =
        csum_pseudo_header6(load_ipv6(ip6 + ipv6::kSrc), load_ipv6(ip6 + ipv6::kDst),
                            parsed.l4_length, ipv6::kProtoIcmpv6);
    return csum_fold(csum_partial(icmp, parsed.l4_length, pseudo)) == 0xffff;
}

// Walks the options after the 24-byte message (RFC 4861 4.6): false if one has length 0 or runs
// past the message. `found` is the first option of type `wanted`, or null.
bool walk_nd_options(const uint8_t* icmp, size_t len, uint8_t wanted, const uint8_t*& found) {
    found = nullptr;
    for (size_t off = kNdMinLen; off < len;) {
        if (len - off < 2) {
            return false;
        }
        const size_t option_len = static_cast<size_t>(icmp[off + 1]) * 8;
        if (option_len == 0 || option_len > len - off) {
            return false;
        }
        if (icmp[off] == wanted && found == nullptr) {
            found = icmp + off;
        }
        off += option_len;
    }
    return true;
}

// The MAC in a link-layer address option: Ethernet's is one 8-byte unit (RFC 2464 6). One of
// another length is not Ethernet's: ignored.
bool read_mac_option(const uint8_t* option, MacAddress& mac) {
    if (option == nullptr || option[1] != 1) {
        return false;
    }
    std::memcpy(mac.data(), option + 2, mac.size());
    return true;
}

}  // namespace

bool parse_neighbor_solicitation(const uint8_t* frame, const ParsedFrame& parsed,
                                 NeighborSolicitation& out) {
    if (!nd_valid(frame, parsed, kNeighborSolicitation)) {
        return false;
    }
    const uint8_t* ip6 = frame + parsed.l3_offset;
    const uint8_t* icmp = frame + parsed.l4_offset;
    const uint8_t* option = nullptr;
    if (!walk_nd_options(icmp, parsed.l4_length, kOptionSourceMac, option)) {
        return false;
    }
    out = NeighborSolicitation{};
    out.source = load_ipv6(ip6 + ipv6::kSrc);
    out.target = load_ipv6(icmp + kNdTarget);
    // Duplicate address detection: to the solicited-node group, with no address to answer at.
    if (is_unspecified(out.source) &&
        (!is_solicited_node(load_ipv6(ip6 + ipv6::kDst)) || option != nullptr)) {
        return false;
    }
    out.has_source_mac = read_mac_option(option, out.source_mac);
    return true;
}

size_t make_neighbor_advertisement(uint8_t* frame, size_t capacity, const ParsedFrame& parsed,
                                   const NeighborSolicitation& solicitation,
                                   const MacAddress& our_mac) {
    constexpr size_t kLen = kNdMinLen + kNdMacOptionLen;
    const size_t len = parsed.l3_offset + ipv6::kHeaderLen + kLen;
    if (len > capacity) {
        return 0;
    }
    const bool dad = is_unspecified(solicitation.source);
    const Ipv6& dst = dad ? kAllNodes : solicitation.source;
    uint8_t* ip6 = frame + parsed.l3_offset;
    uint8_t* icmp = ip6 + ipv6::kHeaderLen;
    write_ipv6_header(ip6, kLen, ipv6::kProtoIcmpv6, kNdHopLimit, solicitation.target, dst);
    std::memset(icmp, 0, kLen);
    icmp[0] = kNeighborAdvertisement;
    icmp[kIcmp6Data] = dad ? kNaOverride : kNaOverride | kNaSolicited;
    store_ipv6(icmp + kNdTarget, solicitation.target);
    icmp[kNdMinLen] = kOptionTargetMac;
    icmp[kNdMinLen + 1] = 1;
    std::memcpy(icmp + kNdMinLen + 2, our_mac.data(), our_mac.size());
    store_u16_raw(icmp + kIcmp6Checksum,
                  checksum6(solicitation.target, dst, ipv6::kProtoIcmpv6, icmp, kLen));
    if (dad) {
        set_ethernet_addresses(frame, our_mac, kAllNodesMac);
    } else {
        reply_l2(frame, our_mac);
    }
    return len;
}

bool parse_neighbor_advertisement(const uint8_t* frame, const ParsedFrame& parsed,
                                  NeighborAdvertisement& out) {
    if (!nd_valid(frame, parsed, kNeighborAdvertisement)) {
        return false;
    }
    const uint8_t* ip6 = frame + parsed.l3_offset;
    const uint8_t* icmp = frame + parsed.l4_offset;
    const uint8_t flags = icmp[kIcmp6Data];
    if ((flags & kNaSolicited) && is_multicast(load_ipv6(ip6 + ipv6::kDst))) {
        return false;
    }
    const uint8_t* option = nullptr;
    if (!walk_nd_options(icmp, parsed.l4_length, kOptionTargetMac, option)) {
        return false;
    }
    out = NeighborAdvertisement{};
    out.target = load_ipv6(icmp + kNdTarget);
    out.router = (flags & kNaRouter) != 0;
    out.solicited = (flags & kNaSolicited) != 0;
    out.override = (flags & kNaOverride) != 0;
    out.has_target_mac = read_mac_option(option, out.target_mac);
    return true;
}

size_t build_neighbor_solicitation(uint8_t* frame, const MacAddress& our_mac, const Ipv6& our_ip,
                                   const Ipv6& target, const MacAddress* target_mac) {
    constexpr size_t kLen = kNdMinLen + kNdMacOptionLen;
    std::memset(frame, 0, kNeighborSolicitationFrameLen);
    const Ipv6 dst = target_mac != nullptr ? target : solicited_node(target);
    // RFC 2464 7: an IPv6 multicast goes to 33:33 and the group's last 32 bits.
    const MacAddress multicast_mac = {0x33, 0x33, dst[12], dst[13], dst[14], dst[15]};
    set_ethernet_addresses(frame, our_mac, target_mac != nullptr ? *target_mac : multicast_mac);
    store_be16(frame + eth::kType, eth::kTypeIpv6);
    uint8_t* ip6 = frame + eth::kHeaderLen;
    uint8_t* icmp = ip6 + ipv6::kHeaderLen;
    write_ipv6_header(ip6, kLen, ipv6::kProtoIcmpv6, kNdHopLimit, our_ip, dst);
    icmp[0] = kNeighborSolicitation;
    store_ipv6(icmp + kNdTarget, target);
    icmp[kNdMinLen] = kOptionSourceMac;
    icmp[kNdMinLen + 1] = 1;
    std::memcpy(icmp + kNdMinLen + 2, our_mac.data(), our_mac.size());
    store_u16_raw(icmp + kIcmp6Checksum, checksum6(our_ip, dst, ipv6::kProtoIcmpv6, icmp, kLen));
    return kNeighborSolicitationFrameLen;
}

size_t make_echo6_reply(uint8_t* frame, const ParsedFrame& parsed, const MacAddress& our_mac) {
    uint8_t* ip6 = frame + parsed.l3_offset;
    uint8_t* icmp = frame + parsed.l4_offset;
    if (parsed.ip_protocol != ipv6::kProtoIcmpv6 || icmp[0] != kIcmp6EchoRequest || icmp[1] != 0) {
        return 0;
    }
    const uint16_t old_word = load_u16_raw(icmp);
    icmp[0] = kIcmp6EchoReply;
    // Over the pseudo-header, never all zero: csum_replace2's corner is a full computation's.
    store_u16_raw(icmp + kIcmp6Checksum,
                  csum_replace2(load_u16_raw(icmp + kIcmp6Checksum), old_word, load_u16_raw(icmp)));
    const Ipv6 src = load_ipv6(ip6 + ipv6::kSrc);
    const Ipv6 dst = load_ipv6(ip6 + ipv6::kDst);
    store_ipv6(ip6 + ipv6::kSrc, dst);  // swapping leaves the pseudo-header's sum unchanged
    store_ipv6(ip6 + ipv6::kDst, src);
    uint8_t* reply = ip6 + ipv6::kHeaderLen;
    if (icmp != reply) {
        std::memmove(reply, icmp, parsed.l4_length);  // the extension headers go
    }
    store_be16(ip6 + ipv6::kPayloadLength, parsed.l4_length);
    ip6[ipv6::kNextHeader] = ipv6::kProtoIcmpv6;
    ip6[ipv6::kHopLimit] = kDefaultTtl;
    reply_l2(frame, our_mac);
    return parsed.l3_offset + ipv6::kHeaderLen + parsed.l4_length;
}

size_t make_tcp_reset6(uint8_t* frame, const ParsedFrame& parsed, const MacAddress& our_mac) {
    uint8_t* ip6 = frame + parsed.l3_offset;
    const uint8_t* in_tcp = frame + parsed.l4_offset;
    const uint8_t flags = parsed.tcp_flags;
    if (flags & l4::kTcpRst) {
        return 0;
    }
    const Ipv6 src = load_ipv6(ip6 + ipv6::kSrc), dst = load_ipv6(ip6 + ipv6::kDst);
    const uint16_t sport = load_u16_raw(in_tcp + l4::kSrcPort);
    const uint16_t dport = load_u16_raw(in_tcp + l4::kDstPort);
    const uint32_t seq = load_be32(in_tcp + l4::kTcpSeq), ack = load_be32(in_tcp + l4::kTcpAck);
    const uint32_t seg_len = static_cast<uint32_t>(parsed.ip_end - parsed.payload_offset) +
                             ((flags & l4::kTcpSyn) ? 1 : 0) + ((flags & l4::kTcpFin) ? 1 : 0);

    uint8_t* tcp = ip6 + ipv6::kHeaderLen;  // may be where the received header was: read first
    write_ipv6_header(ip6, l4::kTcpMinHeaderLen, ipv4::kProtoTcp, kDefaultTtl, dst, src);
    std::memset(tcp, 0, l4::kTcpMinHeaderLen);
    store_u16_raw(tcp + l4::kSrcPort, dport);
    store_u16_raw(tcp + l4::kDstPort, sport);
    if (flags & l4::kTcpAckFlag) {
        store_be32(tcp + l4::kTcpSeq, ack);
        tcp[l4::kTcpFlags] = l4::kTcpRst;
    } else {
        store_be32(tcp + l4::kTcpAck, seq + seg_len);
        tcp[l4::kTcpFlags] = l4::kTcpRst | l4::kTcpAckFlag;
    }
    tcp[l4::kTcpDataOffset] = 5 << 4;
    store_u16_raw(tcp + l4::kTcpChecksum,
                  checksum6(dst, src, ipv4::kProtoTcp, tcp, l4::kTcpMinHeaderLen));
    reply_l2(frame, our_mac);
    return parsed.l3_offset + ipv6::kHeaderLen + l4::kTcpMinHeaderLen;
}

size_t make_unreachable6(uint8_t* frame, size_t capacity, const ParsedFrame& parsed,
                         const MacAddress& our_mac, const Ipv6& from, Unreachable6 kind,
                         uint32_t mtu) {
    uint8_t* ip6 = frame + parsed.l3_offset;
    const Ipv6 source = load_ipv6(ip6 + ipv6::kSrc);
    const bool too_big = kind == Unreachable6::packet_too_big;
    // RFC 4443 2.4(e). Packet too big is sent about multicast too: its sender needs it as well.
    if (is_unspecified(source) || is_multicast(source)) {
        return 0;
    }
    if (!too_big && (is_multicast(load_ipv6(ip6 + ipv6::kDst)) || (frame[eth::kDst] & 0x01))) {
        return 0;  // the group bit: link-layer multicast and broadcast
    }
    if (parsed.ip_protocol == ipv6::kProtoIcmpv6) {
        // A later fragment's type cannot be seen: it may be an error's.
        const bool later_fragment = parsed.fragment && !parsed.first_fragment;
        const uint8_t type = frame[parsed.l4_offset];
        if (later_fragment || type < kIcmp6EchoRequest || type == kRedirect) {
            return 0;
        }
    }
    constexpr size_t kHeaders = ipv6::kHeaderLen + kIcmp6HeaderLen;
    const size_t room =
        capacity > parsed.l3_offset + kHeaders ? capacity - parsed.l3_offset - kHeaders : 0;
    const size_t quoted =
        std::min({static_cast<size_t>(parsed.ip_end - parsed.l3_offset), kMinMtu - kHeaders, room});
    // At least its headers and the first 8 bytes past them: ports, for the sender to match.
    const size_t needed = std::min<size_t>(parsed.ip_end, parsed.l4_offset + 8u) - parsed.l3_offset;
    if (quoted < needed) {
        return 0;
    }
    std::memmove(ip6 + kHeaders, ip6, quoted);
    uint8_t* icmp = ip6 + ipv6::kHeaderLen;
    write_ipv6_header(ip6, kIcmp6HeaderLen + quoted, ipv6::kProtoIcmpv6, kDefaultTtl, from, source);
    icmp[0] = too_big ? kIcmp6PacketTooBig : kIcmp6Unreachable;
    icmp[1] = too_big ? 0 : kPortUnreachable;
    store_u16_raw(icmp + kIcmp6Checksum, 0);
    store_be32(icmp + kIcmp6Data, too_big ? mtu : 0);
    store_u16_raw(icmp + kIcmp6Checksum,
                  checksum6(from, source, ipv6::kProtoIcmpv6, icmp, kIcmp6HeaderLen + quoted));
    reply_l2(frame, our_mac);
    return parsed.l3_offset + kHeaders + quoted;
}

bool parse_icmp6_error(const uint8_t* frame, const ParsedFrame& outer, Icmp6Error& out) {
    if (outer.ip_protocol != ipv6::kProtoIcmpv6 || outer.fragment) {
        return false;
    }
    const uint8_t type = frame[outer.l4_offset];
    if (type < kIcmp6Unreachable || type > kIcmp6ParameterProblem) {
        return false;
    }
    out.inner = parse_ipv6(frame, outer.ip_end, outer.l4_offset + kIcmp6HeaderLen, true);
    const ParsedFrame& in = out.inner;
    if (in.kind != FrameKind::ipv6 || in.fragment ||
        (in.ip_protocol != ipv4::kProtoTcp && in.ip_protocol != ipv4::kProtoUdp)) {
        return false;
    }
    const uint8_t* ip6 = frame + in.l3_offset;
    const uint8_t* l4p = frame + in.l4_offset;
    out.reply_key = FlowKey6{};
    out.reply_key.src_ip = load_ipv6(ip6 + ipv6::kDst);
    out.reply_key.dst_ip = load_ipv6(ip6 + ipv6::kSrc);
    out.reply_key.src_port = load_u16_raw(l4p + l4::kDstPort);
    out.reply_key.dst_port = load_u16_raw(l4p + l4::kSrcPort);
    out.reply_key.protocol = in.ip_protocol;
    return true;
}

Ipv6 translate_icmp6_error(uint8_t* frame, const ParsedFrame& outer, const Icmp6Error& error,
                           const Conn6& conn, bool towards_client) {
    uint8_t* ip6 = frame + outer.l3_offset;
    uint8_t* inner_ip = frame + error.inner.l3_offset;
    uint8_t* inner_l4 = frame + error.inner.l4_offset;
    const uint8_t proto = error.inner.ip_protocol;
    // The quoted L4 checksum is only adjusted when the quote holds it (UDP's always does). What
    // the quote holds is bounded by the message, whatever length the quoted header announces.
    const size_t checksum_end = proto == ipv4::kProtoTcp ? l4::kTcpChecksum + 2u : 8u;
    const size_t quoted_l4 = std::min<size_t>(
        error.inner.l4_length, static_cast<size_t>(outer.ip_end - error.inner.l4_offset));
    const uint8_t l4_for_rewrite = quoted_l4 >= checksum_end ? proto : static_cast<uint8_t>(0);

    Ipv6 outer_dst;
    if (towards_client) {
        // Quoted: client -> RIP:rport, as we sent it. The client must see VIP:vport.
        nat6_rewrite(inner_ip, inner_l4, l4_for_rewrite, Endpoint::destination, conn.vip,
                     conn.vport);
        store_ipv6(ip6 + ipv6::kSrc, conn.vip);
        outer_dst = conn.client_ip;
    } else {
        // Quoted: VIP:vport -> client, as we sent it. The real server must see RIP:rport.
        nat6_rewrite(inner_ip, inner_l4, l4_for_rewrite, Endpoint::source, conn.rip, conn.rport);
        outer_dst = conn.rip;
        store_ipv6(ip6 + ipv6::kDst, outer_dst);
    }
    uint8_t* icmp = frame + outer.l4_offset;
    const size_t len = static_cast<size_t>(outer.ip_end - outer.l4_offset);
    store_u16_raw(icmp + kIcmp6Checksum, 0);
    store_u16_raw(icmp + kIcmp6Checksum,
                  checksum6(load_ipv6(ip6 + ipv6::kSrc), load_ipv6(ip6 + ipv6::kDst),
                            ipv6::kProtoIcmpv6, icmp, len));
    return outer_dst;
}

}  // namespace vsnat::dp
