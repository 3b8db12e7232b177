// Internet checksums (RFC 1071) and their incremental update (RFC 1624, equation 3).
//
// All values are 16- or 32-bit words exactly as they sit in the packet (network order loaded
// natively): one's-complement sums do not depend on byte order, so no swaps are needed.
#pragma once

#include <cstddef>
#include <cstdint>

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

/// A UDP checksum of 0 means "none" and stays 0; a computed 0 is sent as 0xFFFF (RFC 768).
inline uint16_t udp_checksum_fixup(uint16_t computed) {
    return computed == 0 ? 0xffff : computed;
}

}  // namespace vsnat::dp
