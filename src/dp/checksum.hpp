// Internet checksums (RFC 1071) and their incremental update (RFC 1624, equation 3).
//
// All values are 16- or 32-bit words exactly as they sit in the packet (network order loaded
// natively): one's-complement sums do not depend on byte order, so no swaps are needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "vsnat/types.hpp"

namespace vsnat::dp {

inline uint16_t csum_fold(uint64_t sum) {
    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

/// One's-complement sum of `len` bytes (an odd last byte is padded with zero, RFC 1071).
uint64_t csum_partial(const uint8_t* data, size_t len, uint64_t sum = 0);

/// Sum of the TCP/UDP pseudo-header; addresses as in the packet, length in host order.
uint64_t csum_pseudo_header(uint32_t src_raw, uint32_t dst_raw, uint8_t protocol,
                            uint16_t l4_length);

/// Sum of the IPv6 pseudo-header (RFC 8200 8.1) for TCP, UDP and ICMPv6: addresses as in the
/// packet; the upper-layer length (the payload length minus extension headers) and the next
/// header in host order.
uint64_t csum_pseudo_header6(const Ipv6& src, const Ipv6& dst, uint32_t upper_length,
                             uint8_t next_header);

/// Checksum to store for the IPv4 header of `len` bytes (its checksum field included as is:
/// callers zero it first).
inline uint16_t ipv4_header_checksum(const uint8_t* header, size_t len) {
    return static_cast<uint16_t>(~csum_fold(csum_partial(header, len)));
}

/// RFC 1624 eqn. 3 for a 16-bit field changing from `from` to `to`. A full computation over
/// non-zero data never yields 0xFFFF, so neither does this (the -0/+0 corner).
inline uint16_t csum_replace2(uint16_t check, uint16_t from, uint16_t to) {
    uint64_t sum = static_cast<uint16_t>(~check);
    sum += static_cast<uint16_t>(~from);
    sum += to;
    uint16_t result = static_cast<uint16_t>(~csum_fold(sum));
    return result == 0xffff ? 0 : result;
}

/// RFC 1624 eqn. 3 for a 32-bit field (an address) changing from `from` to `to`.
inline uint16_t csum_replace4(uint16_t check, uint32_t from, uint32_t to) {
    uint64_t sum = static_cast<uint16_t>(~check);
    sum += static_cast<uint32_t>(~from & 0xffff) + (~from >> 16);
    sum += (to & 0xffff) + (to >> 16);
    uint16_t result = static_cast<uint16_t>(~csum_fold(sum));
    return result == 0xffff ? 0 : result;
}

/// RFC 1624 eqn. 3 for an address and a port changing together, in one fold (the caller maps
/// the result's corner cases as its protocol wants).
inline uint16_t csum_replace_addr_port(uint16_t check, uint32_t old_addr, uint32_t new_addr,
                                       uint16_t old_port, uint16_t new_port) {
    uint64_t sum = static_cast<uint16_t>(~check);
    sum += static_cast<uint32_t>(~old_addr & 0xffff) + (~old_addr >> 16);
    sum += (new_addr & 0xffff) + (new_addr >> 16);
    sum += static_cast<uint16_t>(~old_port);
    sum += new_port;
    return static_cast<uint16_t>(~csum_fold(sum));
}

/// Adds the one's complement of each 32-bit word of `from` and each word of `to` to `sum`: the
/// RFC 1624 eqn. 3 terms for an IPv6 address changing, to fold with the rest of a rewrite.
inline uint64_t csum_add_replaced16(uint64_t sum, const Ipv6& from, const Ipv6& to) {
    for (size_t i = 0; i < 16; i += 4) {
        uint32_t f, t;
        std::memcpy(&f, from.data() + i, 4);
        std::memcpy(&t, to.data() + i, 4);
        sum += static_cast<uint32_t>(~f);  // the fold adds its two halves: same sum
        sum += t;
    }
    return sum;
}

/// RFC 1624 eqn. 3 for a 128-bit field (an IPv6 address) changing from `from` to `to`. Every
/// checksum over an IPv6 address also covers a non-zero next header, so a full computation
/// never yields 0xFFFF and neither does this.
inline uint16_t csum_replace16(uint16_t check, const Ipv6& from, const Ipv6& to) {
    const uint64_t sum = csum_add_replaced16(static_cast<uint16_t>(~check), from, to);
    uint16_t result = static_cast<uint16_t>(~csum_fold(sum));
    return result == 0xffff ? 0 : result;
}

/// A UDP checksum of 0 means "none" and stays 0; a computed 0 is sent as 0xFFFF (RFC 768).
inline uint16_t udp_checksum_fixup(uint16_t computed) {
    return computed == 0 ? 0xffff : computed;
}

}  // namespace vsnat::dp
