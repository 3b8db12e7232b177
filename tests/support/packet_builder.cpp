#include "packet_builder.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "dp/bytes.hpp"
#include "dp/checksum.hpp"
#include "dp/parse.hpp"

namespace vsnat::test {

using namespace vsnat::dp;

uint32_t ip_raw(const std::string& dotted) {
    in_addr a{};
    if (inet_pton(AF_INET, dotted.c_str(), &a) != 1) {
        throw std::invalid_argument("bad address " + dotted);
    }
    return a.s_addr;
}

Ipv6 ip6_raw(const std::string& text) {
    Ipv6 a{};
    if (inet_pton(AF_INET6, text.c_str(), a.data()) != 1) {
        throw std::invalid_argument("bad IPv6 address " + text);
    }
    return a;
}

uint16_t port_raw(uint16_t port) {
    return htons(port);
}

MacAddress mac(const std::string& text) {
    MacAddress m{};
    unsigned v[6];
    if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) !=
        6) {
        throw std::invalid_argument("bad mac " + text);
    }
    for (int i = 0; i < 6; ++i) {
        m[static_cast<size_t>(i)] = static_cast<uint8_t>(v[i]);
    }
    return m;
}

std::string format_ip(uint32_t raw) {
    char buf[INET_ADDRSTRLEN];
    in_addr a{raw};
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
}

std::string format_ip(const Ipv6& raw) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, raw.data(), buf, sizeof buf);
    return buf;
}

Ipv6Extension ipv6_options(uint8_t type, uint8_t units) {
    // PadN options (type 1, RFC 8200 4.2) of at most 8 bytes each: 6 bytes, then 8 per unit.
    std::vector<uint8_t> b(8 * (units + 1U), 0);
    b[1] = units;
    for (size_t at = 2; at < b.size(); at += at == 2 ? 6 : 8) {
        b[at] = 1;
        b[at + 1] = static_cast<uint8_t>((at == 2 ? 6 : 8) - 2);
    }
    return {type, b};
}

Ipv6Extension ipv6_routing(const std::string& segment, uint8_t segments_left) {
    std::vector<uint8_t> b(8 + ipv6::kAddressLen, 0);
    b[1] = 2;  // length in 8-byte units after the first 8
    b[2] = 4;  // segment routing
    b[3] = segments_left;
    const Ipv6 a = ip6_raw(segment);
    std::copy(a.begin(), a.end(), b.begin() + 8);
    return {ipv6::kRouting, b};
}

Ipv6Extension ipv6_fragment_header(uint16_t offset, bool more, uint32_t id) {
    std::vector<uint8_t> b(ipv6::kFragmentHeaderLen, 0);
    store_be16(&b[ipv6::kFragmentOffsetFlags],
               static_cast<uint16_t>(offset | (more ? ipv6::kFragmentMore : 0)));
    store_be32(&b[ipv6::kFragmentId], id);
    return {ipv6::kFragmentHeader, b};
}

namespace {

bool is_ipv6(const PacketSpec& s) {
    const bool src6 = s.src_ip.find(':') != std::string::npos;
    const bool dst6 = s.dst_ip.find(':') != std::string::npos;
    if (src6 != dst6) {
        throw std::invalid_argument("addresses of two families: " + s.src_ip + ", " + s.dst_ip);
    }
    return src6;
}

// Where the L4 checksum sits; 0 for an upper layer that has none the builder knows of.
size_t checksum_offset(uint8_t protocol, bool v6) {
    if (protocol == ipv4::kProtoTcp) {
        return l4::kTcpChecksum;
    }
    if (protocol == ipv4::kProtoUdp) {
        return l4::kUdpChecksum;
    }
    if (protocol == (v6 ? ipv6::kProtoIcmpv6 : ipv4::kProtoIcmp)) {
        return l4::kIcmpChecksum;
    }
    return 0;
}

// Sum of the IPv6 pseudo-header (RFC 8200 8.1), written out as bytes from the header at `ip`.
uint64_t pseudo_header6_sum(const uint8_t* ip, uint32_t upper_length, uint8_t next_header) {
    uint8_t pseudo[2 * ipv6::kAddressLen + 8] = {};
    std::memcpy(pseudo, ip + ipv6::kSrc, 2 * ipv6::kAddressLen);
    store_be32(pseudo + 2 * ipv6::kAddressLen, upper_length);
    pseudo[sizeof pseudo - 1] = next_header;
    return csum_partial(pseudo, sizeof pseudo);
}

// What a checksum field must hold for `len` bytes of L4 at `l4p` (its own field zero), summed
// from `sum`; UDP's computed 0 is sent as 0xFFFF.
uint16_t l4_checksum(const uint8_t* l4p, size_t len, uint8_t protocol, uint64_t sum) {
    const auto c = static_cast<uint16_t>(~csum_fold(csum_partial(l4p, len, sum)));
    return protocol == ipv4::kProtoUdp ? udp_checksum_fixup(c) : c;
}

// The IPv6 L4 checksum of the packet at `ip` whose upper layer (`len` bytes of `protocol`)
// is at `l4p`, stored in place.
void store_l4_checksum6(const uint8_t* ip, uint8_t* l4p, size_t len, uint8_t protocol) {
    const size_t off = checksum_offset(protocol, true);
    if (off == 0) {
        return;
    }
    store_u16_raw(l4p + off, 0);
    store_u16_raw(l4p + off,
                  l4_checksum(l4p, len, protocol,
                              pseudo_header6_sum(ip, static_cast<uint32_t>(len), protocol)));
}

// The upper layer: TCP, UDP or an ICMP echo request (`icmp`, the family's ICMP protocol) with
// its header and the payload, checksum zero; under IPv6 another protocol is the payload alone.
std::vector<uint8_t> upper_layer(const PacketSpec& s, uint8_t icmp, bool v6) {
    if (s.tcp_options.size() % 4 != 0) {
        throw std::invalid_argument("TCP options not a multiple of 4 bytes");
    }
    std::vector<uint8_t> b;
    if (s.protocol == ipv4::kProtoTcp) {
        const size_t header = l4::kTcpMinHeaderLen + s.tcp_options.size();
        b.assign(header, 0);
        store_be16(&b[l4::kSrcPort], s.src_port);
        store_be16(&b[l4::kDstPort], s.dst_port);
        store_be32(&b[l4::kTcpSeq], s.seq);
        store_be32(&b[l4::kTcpAck], s.ack);
        b[l4::kTcpDataOffset] = static_cast<uint8_t>((header / 4) << 4);
        b[l4::kTcpFlags] = s.tcp_flags;
        store_be16(&b[14], 65535);  // window
        std::copy(s.tcp_options.begin(), s.tcp_options.end(), b.begin() + l4::kTcpMinHeaderLen);
    } else if (s.protocol == ipv4::kProtoUdp) {
        b.assign(l4::kUdpHeaderLen, 0);
        store_be16(&b[l4::kSrcPort], s.src_port);
        store_be16(&b[l4::kDstPort], s.dst_port);
        store_be16(&b[l4::kUdpLength], static_cast<uint16_t>(b.size() + s.payload.size()));
    } else if (!v6 || s.protocol == icmp) {
        b.assign(l4::kIcmpHeaderLen, 0);
        b[0] = static_cast<uint8_t>(v6 ? 128 : 8);  // echo request
    }
    b.insert(b.end(), s.payload.begin(), s.payload.end());
    return b;
}

std::vector<uint8_t> build_packet4(const PacketSpec& s) {
    const size_t l2 = eth::kHeaderLen + (s.vlan >= 0 ? eth::kVlanTagLen : 0);
    const size_t ihl = ipv4::kMinHeaderLen + s.ip_options.size();
    const std::vector<uint8_t> upper = upper_layer(s, ipv4::kProtoIcmp, false);
    std::vector<uint8_t> f(l2 + ihl, 0);
    f.insert(f.end(), upper.begin(), upper.end());
    std::memcpy(&f[eth::kDst], s.dst_mac.data(), 6);
    std::memcpy(&f[eth::kSrc], s.src_mac.data(), 6);
    if (s.vlan >= 0) {
        store_be16(&f[eth::kType], eth::kTypeVlan);
        store_be16(&f[eth::kType + 2], static_cast<uint16_t>(s.vlan));
        store_be16(&f[eth::kType + 4], eth::kTypeIpv4);
    } else {
        store_be16(&f[eth::kType], eth::kTypeIpv4);
    }
    uint8_t* ip = &f[l2];
    ip[ipv4::kVersionIhl] = static_cast<uint8_t>(0x40 | (ihl / 4));
    store_be16(ip + ipv4::kTotalLength, static_cast<uint16_t>(ihl + upper.size()));
    store_be16(ip + ipv4::kId, s.ip_id);
    ip[ipv4::kTtl] = s.ttl;
    ip[ipv4::kProtocol] = s.protocol;
    store_u32_raw(ip + ipv4::kSrc, ip_raw(s.src_ip));
    store_u32_raw(ip + ipv4::kDst, ip_raw(s.dst_ip));
    // std::copy, not memcpy: an empty vector's data() may be null, which memcpy may not take.
    std::copy(s.ip_options.begin(), s.ip_options.end(), ip + ipv4::kMinHeaderLen);
    recompute_checksums(f);
    if (s.protocol == ipv4::kProtoUdp && !s.udp_checksum) {
        store_u16_raw(ip + ihl + l4::kUdpChecksum, 0);
    }
    return f;
}

}  // namespace

std::vector<uint8_t> build_ipv6_frame(const PacketSpec& s, const std::vector<uint8_t>& upper) {
    const size_t l3 = eth::kHeaderLen + (s.vlan >= 0 ? eth::kVlanTagLen : 0);
    std::vector<uint8_t> f(l3 + ipv6::kHeaderLen, 0);
    std::memcpy(&f[eth::kDst], s.dst_mac.data(), 6);
    std::memcpy(&f[eth::kSrc], s.src_mac.data(), 6);
    if (s.vlan >= 0) {
        store_be16(&f[eth::kType], eth::kTypeVlan);
        store_be16(&f[eth::kType + 2], static_cast<uint16_t>(s.vlan));
    }
    store_be16(&f[l3 - 2], eth::kTypeIpv6);
    uint8_t* ip = &f[l3];
    store_be32(ip + ipv6::kVersionClassFlow, 6U << 28);  // traffic class and flow label 0
    const std::vector<Ipv6Extension>& chain = s.ipv6_extensions;
    ip[ipv6::kNextHeader] = chain.empty() ? s.protocol : chain[0].type;
    ip[ipv6::kHopLimit] = s.ttl;
    const Ipv6 src = ip6_raw(s.src_ip), dst = ip6_raw(s.dst_ip);
    std::copy(src.begin(), src.end(), ip + ipv6::kSrc);
    std::copy(dst.begin(), dst.end(), ip + ipv6::kDst);
    for (size_t i = 0; i < chain.size(); ++i) {
        if (chain[i].bytes.empty()) {
            throw std::invalid_argument("an empty IPv6 extension header");
        }
        const size_t at = f.size();
        f.insert(f.end(), chain[i].bytes.begin(), chain[i].bytes.end());
        f[at] = i + 1 < chain.size() ? chain[i + 1].type : s.protocol;
    }
    f.insert(f.end(), upper.begin(), upper.end());
    const size_t payload = f.size() - l3 - ipv6::kHeaderLen;
    if (payload > 0xffff) {
        throw std::invalid_argument("IPv6 payload over 65,535 bytes");
    }
    store_be16(&f[l3 + ipv6::kPayloadLength], static_cast<uint16_t>(payload));
    return f;
}

std::vector<uint8_t> build_packet(const PacketSpec& s) {
    if (!is_ipv6(s)) {
        if (!s.ipv6_extensions.empty()) {
            throw std::invalid_argument("IPv6 extension headers in an IPv4 packet");
        }
        return build_packet4(s);
    }
    if (!s.ip_options.empty()) {
        throw std::invalid_argument("IPv4 options in an IPv6 packet");
    }
    const std::vector<uint8_t> upper = upper_layer(s, ipv6::kProtoIcmpv6, true);
    std::vector<uint8_t> f = build_ipv6_frame(s, upper);
    const size_t l3 = eth::kHeaderLen + (s.vlan >= 0 ? eth::kVlanTagLen : 0);
    uint8_t* l4p = &f[f.size() - upper.size()];
    store_l4_checksum6(&f[l3], l4p, upper.size(), s.protocol);
    if (s.protocol == ipv4::kProtoUdp && !s.udp_checksum) {
        store_u16_raw(l4p + l4::kUdpChecksum, 0);
    }
    return f;
}

std::vector<std::vector<uint8_t>> ipv4_fragments(const std::vector<uint8_t>& frame, size_t piece) {
    const ParsedFrame p = parse_frame(frame.data(), frame.size());
    if (p.kind != FrameKind::ipv4 || p.fragment ||
        p.l4_offset - p.l3_offset != ipv4::kMinHeaderLen) {
        throw std::invalid_argument("not an IPv4 packet without options or fragmentation");
    }
    if (piece == 0 || piece % 8 != 0) {
        throw std::invalid_argument("fragments of a multiple of 8 bytes");
    }
    const size_t header_end = p.l4_offset;
    const size_t payload = p.ip_end - header_end;
    std::vector<std::vector<uint8_t>> out;
    for (size_t at = 0; at < payload; at += piece) {
        const size_t len = std::min(piece, payload - at);
        std::vector<uint8_t> f(frame.begin(), frame.begin() + static_cast<long>(header_end));
        const auto from = frame.begin() + static_cast<long>(header_end + at);
        f.insert(f.end(), from, from + static_cast<long>(len));
        uint8_t* ip = &f[p.l3_offset];
        store_be16(ip + ipv4::kTotalLength, static_cast<uint16_t>(ipv4::kMinHeaderLen + len));
        const bool more = at + len < payload;
        store_be16(ip + ipv4::kFragment,
                   static_cast<uint16_t>((more ? ipv4::kMoreFragments : 0) | (at / 8)));
        store_u16_raw(ip + ipv4::kChecksum, 0);
        store_u16_raw(ip + ipv4::kChecksum, ipv4_header_checksum(ip, ipv4::kMinHeaderLen));
        out.push_back(std::move(f));
    }
    return out;
}

std::vector<std::vector<uint8_t>> ipv6_fragments(const std::vector<uint8_t>& frame,
                                                 const std::vector<size_t>& offsets, uint32_t id) {
    const ParsedFrame p = parse_frame(frame.data(), frame.size());
    if (p.kind != FrameKind::ipv6 || p.fragment_header_offset != 0) {
        throw std::invalid_argument("not an IPv6 packet without a fragment header");
    }
    // The per-fragment part: up to the routing header, else the hop-by-hop one (destination
    // options before a routing header are for the routers on the way too). `next_at` is the
    // next-header field that names the first header of the rest.
    const size_t l3 = p.l3_offset;
    size_t next_at = l3 + ipv6::kNextHeader;
    size_t unfragmentable = l3 + ipv6::kHeaderLen;
    uint8_t next = frame[next_at];
    for (size_t at = unfragmentable;
         next == ipv6::kHopByHop || next == ipv6::kRouting || next == ipv6::kDestinationOptions;) {
        const size_t len = 8 * (frame[at + 1] + 1U);
        if (next != ipv6::kDestinationOptions) {
            unfragmentable = at + len;
            next_at = at;
        }
        next = frame[at];
        at += len;
    }
    const std::vector<uint8_t> rest(frame.begin() + static_cast<long>(unfragmentable),
                                    frame.begin() + p.ip_end);
    if (offsets.empty() || offsets[0] != 0) {
        throw std::invalid_argument("the first fragment starts at 0");
    }
    std::vector<std::vector<uint8_t>> out;
    for (size_t i = 0; i < offsets.size(); ++i) {
        const size_t from = offsets[i];
        const size_t to = i + 1 < offsets.size() ? offsets[i + 1] : rest.size();
        if (from % 8 != 0 || from >= to || to > rest.size()) {
            throw std::invalid_argument("fragment offsets out of order, or not multiples of 8");
        }
        std::vector<uint8_t> f(frame.begin(), frame.begin() + static_cast<long>(unfragmentable));
        Ipv6Extension h = ipv6_fragment_header(static_cast<uint16_t>(from), to < rest.size(), id);
        h.bytes[0] = frame[next_at];
        f[next_at] = ipv6::kFragmentHeader;
        f.insert(f.end(), h.bytes.begin(), h.bytes.end());
        f.insert(f.end(), rest.begin() + static_cast<long>(from),
                 rest.begin() + static_cast<long>(to));
        store_be16(&f[l3 + ipv6::kPayloadLength],
                   static_cast<uint16_t>(f.size() - l3 - ipv6::kHeaderLen));
        out.push_back(std::move(f));
    }
    return out;
}

void recompute_checksums(std::vector<uint8_t>& f) {
    ParsedFrame p = parse_frame(f.data(), f.size());
    if (p.kind == FrameKind::ipv6) {
        if (p.fragment) {
            throw std::invalid_argument("an IPv6 fragment: its L4 checksum covers the packet");
        }
        store_l4_checksum6(&f[p.l3_offset], &f[p.l4_offset], p.l4_length, p.ip_protocol);
        return;
    }
    if (p.kind != FrameKind::ipv4) {
        throw std::invalid_argument("not an IPv4 or IPv6 frame");
    }
    uint8_t* ip = &f[p.l3_offset];
    store_u16_raw(ip + ipv4::kChecksum, 0);
    store_u16_raw(ip + ipv4::kChecksum,
                  ipv4_header_checksum(ip, static_cast<size_t>(p.l4_offset - p.l3_offset)));
    uint8_t* l4p = &f[p.l4_offset];
    // Whatever IPv4 carries that is neither TCP nor UDP is taken for ICMP.
    const size_t off = p.ip_protocol == ipv4::kProtoTcp || p.ip_protocol == ipv4::kProtoUdp
                           ? checksum_offset(p.ip_protocol, false)
                           : l4::kIcmpChecksum;
    store_u16_raw(l4p + off, 0);
    uint64_t sum = 0;
    if (p.ip_protocol != ipv4::kProtoIcmp) {
        sum = csum_pseudo_header(load_u32_raw(ip + ipv4::kSrc), load_u32_raw(ip + ipv4::kDst),
                                 p.ip_protocol, p.l4_length);
    }
    store_u16_raw(l4p + off, l4_checksum(l4p, p.l4_length, p.ip_protocol, sum));
}

bool checksums_valid(const std::vector<uint8_t>& f) {
    ParsedFrame p = parse_frame(f.data(), f.size());
    if (p.kind == FrameKind::ipv6) {
        if (p.fragment) {
            return false;
        }
        const uint8_t* l4p = &f[p.l4_offset];
        if (checksum_offset(p.ip_protocol, true) == 0) {
            return true;
        }
        if (p.ip_protocol == ipv4::kProtoUdp && load_u16_raw(l4p + l4::kUdpChecksum) == 0) {
            return false;
        }
        const uint64_t sum = pseudo_header6_sum(&f[p.l3_offset], p.l4_length, p.ip_protocol);
        return csum_fold(csum_partial(l4p, p.l4_length, sum)) == 0xffff;
    }
    if (p.kind != FrameKind::ipv4) {
        return false;
    }
    const uint8_t* ip = &f[p.l3_offset];
    if (csum_fold(csum_partial(ip, static_cast<size_t>(p.l4_offset - p.l3_offset))) != 0xffff) {
        return false;
    }
    const uint8_t* l4p = &f[p.l4_offset];
    if (p.ip_protocol == ipv4::kProtoUdp && load_u16_raw(l4p + l4::kUdpChecksum) == 0) {
        return true;
    }
    uint64_t sum = 0;
    if (p.ip_protocol != ipv4::kProtoIcmp) {
        sum = csum_pseudo_header(load_u32_raw(ip + ipv4::kSrc), load_u32_raw(ip + ipv4::kDst),
                                 p.ip_protocol, p.l4_length);
    }
    return csum_fold(csum_partial(l4p, p.l4_length, sum)) == 0xffff;
}

PacketFields read_fields(const std::vector<uint8_t>& f) {
    ParsedFrame p = parse_frame(f.data(), f.size());
    if (p.kind != FrameKind::ipv4 && p.kind != FrameKind::ipv6) {
        throw std::invalid_argument("not an IPv4 or IPv6 frame");
    }
    PacketFields out{};
    const uint8_t* ip = &f[p.l3_offset];
    const uint8_t* l4p = &f[p.l4_offset];
    if (p.kind == FrameKind::ipv6) {
        out.ipv6 = true;
        std::copy(ip + ipv6::kSrc, ip + ipv6::kSrc + ipv6::kAddressLen, out.src_ip6.begin());
        std::copy(ip + ipv6::kDst, ip + ipv6::kDst + ipv6::kAddressLen, out.dst_ip6.begin());
        out.ttl = ip[ipv6::kHopLimit];
        out.protocol = p.ip_protocol;
    } else {
        out.src_ip = load_u32_raw(ip + ipv4::kSrc);
        out.dst_ip = load_u32_raw(ip + ipv4::kDst);
        out.ttl = ip[ipv4::kTtl];
        out.protocol = ip[ipv4::kProtocol];
    }
    if (p.l4_length >= 4) {  // ICMP's type and code, checksum read as ports
        out.src_port = load_be16(l4p + l4::kSrcPort);
        out.dst_port = load_be16(l4p + l4::kDstPort);
    }
    std::memcpy(out.dst_mac.data(), &f[eth::kDst], 6);
    std::memcpy(out.src_mac.data(), &f[eth::kSrc], 6);
    return out;
}

}  // namespace vsnat::test
