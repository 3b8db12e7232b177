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

namespace {

size_t l4_header_len(uint8_t protocol) {
    return protocol == 6 ? 20 : 8;  // TCP without options; UDP and ICMP 8
}

uint16_t l4_checksum(const uint8_t* ip, const uint8_t* l4p, uint16_t l4_len, uint8_t protocol) {
    uint64_t sum = 0;
    if (protocol != ipv4::kProtoIcmp) {
        sum = csum_pseudo_header(load_u32_raw(ip + ipv4::kSrc), load_u32_raw(ip + ipv4::kDst),
                                 protocol, l4_len);
    }
    return static_cast<uint16_t>(~csum_fold(csum_partial(l4p, l4_len, sum)));
}

size_t checksum_offset(uint8_t protocol) {
    switch (protocol) {
        case 6:
            return l4::kTcpChecksum;
        case 17:
            return l4::kUdpChecksum;
        default:
            return l4::kIcmpChecksum;
    }
}

}  // namespace

std::vector<uint8_t> build_packet(const PacketSpec& s) {
    const size_t l2 = eth::kHeaderLen + (s.vlan >= 0 ? eth::kVlanTagLen : 0);
    const size_t ihl = ipv4::kMinHeaderLen + s.ip_options.size();
    const size_t l4_len = l4_header_len(s.protocol) + s.payload.size();
    std::vector<uint8_t> f(l2 + ihl + l4_len, 0);
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
    store_be16(ip + ipv4::kTotalLength, static_cast<uint16_t>(ihl + l4_len));
    store_be16(ip + 4, s.ip_id);
    ip[ipv4::kTtl] = s.ttl;
    ip[ipv4::kProtocol] = s.protocol;
    store_u32_raw(ip + ipv4::kSrc, ip_raw(s.src_ip));
    store_u32_raw(ip + ipv4::kDst, ip_raw(s.dst_ip));
    // std::copy, not memcpy: an empty vector's data() may be null, which memcpy may not take.
    std::copy(s.ip_options.begin(), s.ip_options.end(), ip + ipv4::kMinHeaderLen);
    uint8_t* l4p = ip + ihl;
    if (s.protocol == 6) {
        store_be16(l4p + l4::kSrcPort, s.src_port);
        store_be16(l4p + l4::kDstPort, s.dst_port);
        store_be32(l4p + l4::kTcpSeq, s.seq);
        store_be32(l4p + l4::kTcpAck, s.ack);
        l4p[l4::kTcpDataOffset] = 5 << 4;
        l4p[l4::kTcpFlags] = s.tcp_flags;
        store_be16(l4p + 14, 65535);
    } else if (s.protocol == 17) {
        store_be16(l4p + l4::kSrcPort, s.src_port);
        store_be16(l4p + l4::kDstPort, s.dst_port);
        store_be16(l4p + l4::kUdpLength, static_cast<uint16_t>(l4_len));
    } else {
        l4p[0] = 8;  // echo request
    }
    std::copy(s.payload.begin(), s.payload.end(), l4p + l4_header_len(s.protocol));
    recompute_checksums(f);
    if (s.protocol == 17 && !s.udp_checksum) {
        store_u16_raw(l4p + l4::kUdpChecksum, 0);
    }
    return f;
}

void recompute_checksums(std::vector<uint8_t>& f) {
    ParsedFrame p = parse_frame(f.data(), f.size());
    if (p.kind != FrameKind::ipv4) {
        throw std::invalid_argument("not an IPv4 frame");
    }
    uint8_t* ip = &f[p.l3_offset];
    store_u16_raw(ip + ipv4::kChecksum, 0);
    store_u16_raw(ip + ipv4::kChecksum,
                  ipv4_header_checksum(ip, static_cast<size_t>(p.l4_offset - p.l3_offset)));
    uint8_t* l4p = &f[p.l4_offset];
    const size_t off = checksum_offset(p.ip_protocol);
    store_u16_raw(l4p + off, 0);
    uint16_t c = l4_checksum(ip, l4p, p.l4_length, p.ip_protocol);
    if (p.ip_protocol == 17) {
        c = udp_checksum_fixup(c);
    }
    store_u16_raw(l4p + off, c);
}

bool checksums_valid(const std::vector<uint8_t>& f) {
    ParsedFrame p = parse_frame(f.data(), f.size());
    if (p.kind != FrameKind::ipv4) {
        return false;
    }
    const uint8_t* ip = &f[p.l3_offset];
    if (csum_fold(csum_partial(ip, static_cast<size_t>(p.l4_offset - p.l3_offset))) != 0xffff) {
        return false;
    }
    const uint8_t* l4p = &f[p.l4_offset];
    if (p.ip_protocol == 17 && load_u16_raw(l4p + l4::kUdpChecksum) == 0) {
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
    PacketFields out{};
    const uint8_t* ip = &f[p.l3_offset];
    const uint8_t* l4p = &f[p.l4_offset];
    out.src_ip = load_u32_raw(ip + ipv4::kSrc);
    out.dst_ip = load_u32_raw(ip + ipv4::kDst);
    out.src_port = load_be16(l4p + l4::kSrcPort);
    out.dst_port = load_be16(l4p + l4::kDstPort);
    out.ttl = ip[ipv4::kTtl];
    out.protocol = ip[ipv4::kProtocol];
    std::memcpy(out.dst_mac.data(), &f[eth::kDst], 6);
    std::memcpy(out.src_mac.data(), &f[eth::kSrc], 6);
    return out;
}

}  // namespace vsnat::test
