// Header rewrites for VS/NAT on raw bytes, checksums adjusted incrementally (RFC 1624).
// Pure: callers pass pointers into a frame the parser has validated.
#pragma once

#include <cstdint>

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
void set_ethernet_addresses(uint8_t* frame, const MacAddress& src, const MacAddress& dst);

}  // namespace vsnat::dp
