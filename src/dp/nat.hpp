// Header rewrites for VS/NAT on raw bytes, checksums adjusted incrementally (RFC 1624).
// Pure: callers pass pointers into a frame the parser has validated.
#pragma once

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dp/bytes.hpp"
#include "dp/checksum.hpp"
#include "vsnat/types.hpp"

namespace vsnat::dp {

/// Which end of the flow a rewrite changes.
enum class Endpoint : uint8_t { source, destination };

/// Replaces the address and port of `endpoint` in the IPv4 header at `ip` and the TCP or UDP
/// header at `l4` (address and port in network order), fixing the IPv4 and L4 checksums. A UDP
/// checksum of 0 (none) stays 0. Any other `protocol` changes the port but no L4 checksum.
void nat_rewrite(uint8_t* ip, uint8_t* l4, uint8_t protocol, Endpoint endpoint, uint32_t address,
                 uint16_t port);

/// Replaces only the address of `endpoint` in the IPv4 header at `ip`, fixing its checksum.
/// Returns the old address. (For ICMP, whose checksum does not cover the IP addresses.)
uint32_t nat_rewrite_address(uint8_t* ip, Endpoint endpoint, uint32_t address);

/// Decrements the TTL and fixes the header checksum. Returns false, changing nothing, when the
/// TTL is 1 or 0 and the datagram must not be forwarded.
bool decrement_ttl(uint8_t* ip);

/// decrement_ttl and nat_rewrite of a forwarded TCP or UDP packet in one: every field is read
/// before any is written, and the IPv4 header checksum is updated once, for the TTL and the
/// address together. The TTL must be above 1 (the caller checked). Inline: every forwarded
/// packet comes here (as two calls, which stored the header checksum and read it back, 5-10
/// cycles a packet more).
inline void nat_forward_rewrite(uint8_t* ip, uint8_t* l4, uint8_t protocol, Endpoint endpoint,
                                uint32_t address, uint16_t port) {
    assert(ip[ipv4::kTtl] > 1);
    assert(protocol == ipv4::kProtoTcp || protocol == ipv4::kProtoUdp);
    const bool tcp = protocol == ipv4::kProtoTcp;
    uint8_t* address_field = ip + (endpoint == Endpoint::destination ? ipv4::kDst : ipv4::kSrc);
    uint8_t* port_field = l4 + (endpoint == Endpoint::destination ? l4::kDstPort : l4::kSrcPort);
    uint8_t* l4_check_field = l4 + (tcp ? l4::kTcpChecksum : l4::kUdpChecksum);
    const uint16_t ttl_word = load_u16_raw(ip + ipv4::kTtl);  // TTL, then the protocol
    const uint16_t ip_check = load_u16_raw(ip + ipv4::kChecksum);
    const uint32_t old_address = load_u32_raw(address_field);
    const uint16_t old_port = load_u16_raw(port_field);
    const uint16_t l4_check = load_u16_raw(l4_check_field);

    // The TTL is the word's first byte: its low byte as loaded on a little-endian machine.
    const auto new_ttl_word =
        static_cast<uint16_t>(ttl_word - (std::endian::native == std::endian::little ? 1 : 0x100));
    uint64_t sum = static_cast<uint16_t>(~ip_check);
    sum += static_cast<uint16_t>(~ttl_word);
    sum += new_ttl_word;
    sum += static_cast<uint32_t>(~old_address & 0xffff) + (~old_address >> 16);
    sum += (address & 0xffff) + (address >> 16);
    const auto new_ip_check = static_cast<uint16_t>(~csum_fold(sum));

    store_u16_raw(ip + ipv4::kTtl, new_ttl_word);
    store_u16_raw(ip + ipv4::kChecksum, new_ip_check == 0xffff ? 0 : new_ip_check);
    store_u32_raw(address_field, address);
    store_u16_raw(port_field, port);
    if (tcp) {
        const uint16_t v = csum_replace_addr_port(l4_check, old_address, address, old_port, port);
        store_u16_raw(l4_check_field, v == 0xffff ? 0 : v);  // what a full computation gives
    } else if (l4_check != 0) {                              // UDP: 0 is no checksum, and stays
        store_u16_raw(l4_check_field, udp_checksum_fixup(csum_replace_addr_port(
                                          l4_check, old_address, address, old_port, port)));
    }
}

/// nat_rewrite for IPv6: replaces the address of `endpoint` in the IPv6 header at `ip6` and, for
/// TCP, UDP or any `protocol` but ICMPv6, its port at `l4` (network order); fixes the TCP, UDP
/// or ICMPv6 checksum, which all cover the addresses (RFC 8200 8.1; ICMPv6 has no port). IPv6
/// has no header checksum. A UDP checksum of 0 is invalid in IPv6 (RFC 8200 8.1: receivers
/// discard it) and stays 0, so the datagram is dropped as it would have been: whether to
/// forward it at all is the pipeline's decision. Any other `protocol` changes the port but no
/// checksum (a quoted packet cut short before its checksum). Any thread; the caller owns the
/// bytes.
void nat6_rewrite(uint8_t* ip6, uint8_t* l4, uint8_t protocol, Endpoint endpoint,
                  const Ipv6& address, uint16_t port);

/// Decrements the IPv6 hop limit (no checksum covers it). Returns false, changing nothing, when
/// it is 1 or 0 and the packet must not be forwarded (RFC 8200 3).
bool decrement_hop_limit(uint8_t* ip6);

/// Writes the Ethernet source and destination addresses.
inline void set_ethernet_addresses(uint8_t* frame, const MacAddress& src, const MacAddress& dst) {
    std::memcpy(frame + eth::kDst, dst.data(), dst.size());
    std::memcpy(frame + eth::kSrc, src.data(), src.size());
}

}  // namespace vsnat::dp
