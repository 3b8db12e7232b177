// Hand-built Ethernet/IPv6 frames for the unit tests: checksums computed here, byte by byte,
// independently of the code under test; and the offsets the parser would give such a frame,
// filled in by the test itself (offsets6), so that the IPv6 building blocks are tested without
// parse_ipv6.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "dp/parse.hpp"
#include "vsnat/types.hpp"

namespace vsnat::test6 {

inline Ipv6 ip6(const char* text) {
    Ipv6 a{};
    if (inet_pton(AF_INET6, text, a.data()) != 1) {
        throw std::invalid_argument(text);
    }
    return a;
}

inline uint16_t be16_at(const std::vector<uint8_t>& f, size_t off) {
    return static_cast<uint16_t>(f[off] << 8 | f[off + 1]);
}
inline uint32_t be32_at(const std::vector<uint8_t>& f, size_t off) {
    return static_cast<uint32_t>(be16_at(f, off)) << 16 | be16_at(f, off + 2);
}
inline void put16(std::vector<uint8_t>& f, size_t off, uint16_t v) {
    f[off] = static_cast<uint8_t>(v >> 8);
    f[off + 1] = static_cast<uint8_t>(v);
}
inline void put32(std::vector<uint8_t>& f, size_t off, uint32_t v) {
    put16(f, off, static_cast<uint16_t>(v >> 16));
    put16(f, off + 2, static_cast<uint16_t>(v));
}
inline Ipv6 ip6_at(const std::vector<uint8_t>& f, size_t off) {
    Ipv6 a;
    std::copy_n(f.begin() + static_cast<std::ptrdiff_t>(off), 16, a.begin());
    return a;
}
inline void put_ip6(std::vector<uint8_t>& f, size_t off, const Ipv6& a) {
    std::copy(a.begin(), a.end(), f.begin() + static_cast<std::ptrdiff_t>(off));
}

/// RFC 1071, one big-endian word at a time: the one's complement sum, folded (not inverted).
inline uint16_t reference_sum(const std::vector<uint8_t>& bytes) {
    uint64_t sum = 0;
    for (size_t i = 0; i < bytes.size(); i += 2) {
        sum += static_cast<uint64_t>(bytes[i]) << 8;
        if (i + 1 < bytes.size()) {
            sum += bytes[i + 1];
        }
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(sum);
}

/// The IPv6 pseudo-header (RFC 8200 8.1) as bytes, followed by `upper`.
inline std::vector<uint8_t> with_pseudo_header(const Ipv6& src, const Ipv6& dst,
                                               uint8_t next_header,
                                               const std::vector<uint8_t>& upper) {
    std::vector<uint8_t> b(40 + upper.size());
    put_ip6(b, 0, src);
    put_ip6(b, 16, dst);
    put32(b, 32, static_cast<uint32_t>(upper.size()));
    b[39] = next_header;
    std::copy(upper.begin(), upper.end(), b.begin() + 40);
    return b;
}

/// Where the checksum of each upper layer sits.
inline size_t checksum_offset(uint8_t next_header) {
    return next_header == 6 ? 16 : next_header == 17 ? 6 : 2;
}

struct Spec6 {
    Ipv6 src = ip6("2001:db8::1");
    Ipv6 dst = ip6("2001:db8:1::100");
    uint8_t next_header = 6;  // of the upper layer: 6 TCP, 17 UDP, 58 ICMPv6
    std::vector<uint8_t> l4;  // the upper layer, header and payload
    uint8_t hop_limit = 64;
    /// One extension header before the upper layer when not empty: its type and its bytes
    /// (whose next-header and length bytes are filled in here; a fragment header's length byte
    /// is reserved and left).
    uint8_t extension_type = 0;
    std::vector<uint8_t> extension;
    int vlan = -1;              // >= 0: one 802.1Q tag with this VLAN id
    bool fill_checksum = true;  // computes the upper layer's (a UDP 0 sent as 0xFFFF)
    MacAddress src_mac = {0x02, 0, 0, 0, 0, 0x01};
    MacAddress dst_mac = {0x02, 0, 0, 0, 0, 0xfe};
};

/// Computes the upper-layer checksum of the IPv6 packet at `l3` afresh (field zeroed first),
/// the upper layer starting at `l4` and running to the end of the payload.
inline uint16_t full_checksum6(const std::vector<uint8_t>& f, size_t l3, size_t l4,
                               uint8_t next_header) {
    const size_t end = l3 + 40 + be16_at(f, l3 + 4);
    std::vector<uint8_t> upper(f.begin() + static_cast<std::ptrdiff_t>(l4),
                               f.begin() + static_cast<std::ptrdiff_t>(end));
    upper[checksum_offset(next_header)] = upper[checksum_offset(next_header) + 1] = 0;
    const uint16_t c = static_cast<uint16_t>(~reference_sum(
        with_pseudo_header(ip6_at(f, l3 + 8), ip6_at(f, l3 + 24), next_header, upper)));
    return next_header == 17 && c == 0 ? 0xffff : c;
}

inline std::vector<uint8_t> build6(const Spec6& s) {
    const size_t l3 = s.vlan >= 0 ? 18 : 14;
    const size_t l4 = l3 + 40 + s.extension.size();
    // Sized once and written in place here and below (GCC 12 sees out-of-bounds copies in
    // inserts that grow a vector).
    std::vector<uint8_t> f(l4 + s.l4.size());
    std::copy(s.dst_mac.begin(), s.dst_mac.end(), f.begin());
    std::copy(s.src_mac.begin(), s.src_mac.end(), f.begin() + 6);
    if (s.vlan >= 0) {
        put16(f, 12, 0x8100);
        put16(f, 14, static_cast<uint16_t>(s.vlan));
    }
    put16(f, l3 - 2, 0x86dd);
    f[l3] = 0x60;
    put16(f, l3 + 4, static_cast<uint16_t>(s.extension.size() + s.l4.size()));
    f[l3 + 6] = s.extension.empty() ? s.next_header : s.extension_type;
    f[l3 + 7] = s.hop_limit;
    put_ip6(f, l3 + 8, s.src);
    put_ip6(f, l3 + 24, s.dst);
    if (!s.extension.empty()) {
        std::copy(s.extension.begin(), s.extension.end(), f.begin() + l3 + 40);
        f[l3 + 40] = s.next_header;
        if (s.extension_type != 44) {
            f[l3 + 41] = static_cast<uint8_t>(s.extension.size() / 8 - 1);
        }
    }
    std::copy(s.l4.begin(), s.l4.end(), f.begin() + static_cast<std::ptrdiff_t>(l4));
    if (s.fill_checksum) {
        put16(f, l4 + checksum_offset(s.next_header), full_checksum6(f, l3, l4, s.next_header));
    }
    return f;
}

/// The offsets parse_ipv6 gives such a frame of `len` bytes (all of `f` when 0): hop-by-hop,
/// routing, destination options and fragment headers walked, nothing validated. With
/// `truncated` (a quoted packet) the payload length may run past `len` and the L4 header is not
/// read.
inline dp::ParsedFrame offsets6(const std::vector<uint8_t>& f, size_t l3, bool truncated = false,
                                size_t len = 0) {
    dp::ParsedFrame p;
    p.kind = dp::FrameKind::ipv6;
    p.vlan = l3 == 18;
    p.l3_offset = static_cast<uint16_t>(l3);
    const size_t end = std::min(l3 + 40 + be16_at(f, l3 + 4), len != 0 ? len : f.size());
    uint8_t next = f[l3 + 6];
    size_t off = l3 + 40;
    while (next == 0 || next == 43 || next == 44 || next == 60) {
        if (next == 44) {
            p.fragment_header_offset = static_cast<uint16_t>(off);
            const uint16_t offset_flags = be16_at(f, off + 2);
            p.fragment = offset_flags != 0;  // offset or MF: not an atomic fragment
            p.first_fragment = p.fragment && (offset_flags & 0xfff8) == 0;
            next = f[off];
            off += 8;
        } else {
            next = f[off];
            off += (f[off + 1] + 1u) * 8;
        }
    }
    p.ip_protocol = next;
    p.l4_offset = static_cast<uint16_t>(off);
    p.l4_length = static_cast<uint16_t>(end - off);
    p.ip_end = static_cast<uint16_t>(end);
    if (p.fragment && !p.first_fragment) {
        p.payload_offset = p.l4_offset;
    } else if (truncated) {
        p.payload_offset = p.ip_end;
    } else if (next == 6) {
        p.payload_offset = static_cast<uint16_t>(off + (f[off + 12] >> 4) * 4u);
        p.tcp_flags = f[off + 13];
    } else {
        p.payload_offset = static_cast<uint16_t>(off + 8);
    }
    return p;
}

/// Whether the upper-layer checksum of the IPv6 packet at `l3` verifies. A UDP checksum of 0 does
/// not (RFC 8200 8.1).
inline bool checksum6_valid(const std::vector<uint8_t>& f, size_t l3 = 14) {
    const dp::ParsedFrame p = offsets6(f, l3);
    const std::vector<uint8_t> upper(f.begin() + p.l4_offset, f.begin() + p.ip_end);
    if (p.ip_protocol == 17 && be16_at(f, p.l4_offset + 6) == 0) {
        return false;
    }
    return reference_sum(with_pseudo_header(ip6_at(f, l3 + 8), ip6_at(f, l3 + 24), p.ip_protocol,
                                            upper)) == 0xffff;
}

inline std::vector<uint8_t> tcp_segment(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                                        uint8_t flags, const std::vector<uint8_t>& payload = {}) {
    std::vector<uint8_t> t(20 + payload.size());
    put16(t, 0, sport);
    put16(t, 2, dport);
    put32(t, 4, seq);
    put32(t, 8, ack);
    t[12] = 5 << 4;
    t[13] = flags;
    put16(t, 14, 65535);
    std::copy(payload.begin(), payload.end(), t.begin() + 20);
    return t;
}

inline std::vector<uint8_t> udp_datagram(uint16_t sport, uint16_t dport,
                                         const std::vector<uint8_t>& payload = {}) {
    std::vector<uint8_t> u(8 + payload.size());
    put16(u, 0, sport);
    put16(u, 2, dport);
    put16(u, 4, static_cast<uint16_t>(8 + payload.size()));
    std::copy(payload.begin(), payload.end(), u.begin() + 8);
    return u;
}

/// An ICMPv6 message: type, code, checksum (0 here), the 32-bit field `data`, then `body`.
inline std::vector<uint8_t> icmp6_message(uint8_t type, uint8_t code, uint32_t data,
                                          const std::vector<uint8_t>& body = {}) {
    std::vector<uint8_t> m(8 + body.size());
    m[0] = type;
    m[1] = code;
    put32(m, 4, data);
    std::copy(body.begin(), body.end(), m.begin() + 8);
    return m;
}

}  // namespace vsnat::test6
