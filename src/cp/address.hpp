// IP addresses as text, both ways: what the configuration file, the logs and the tools write.
// Plain C++ without yaml-cpp or DPDK, so that vsnatctl can have it too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vsnat/types.hpp"

namespace vsnat::cp {

/// Dotted quad of a host-byte-order address ("10.0.0.1"); any thread.
std::string format_ipv4(Ipv4 address);
/// Strict dotted quad (four decimal octets, no leading zeros) to host byte order; any thread.
std::optional<Ipv4> parse_ipv4(std::string_view text);

/// RFC 5952's canonical text: lower-case hex without leading zeros, the longest run of two or
/// more zero groups (the first of equals) as "::", and an IPv4-mapped address as
/// "::ffff:a.b.c.d"; any thread.
std::string format_ipv6(const Ipv6& address);
/// RFC 4291's text forms (section 2.2): eight groups of 1..4 hex digits (either case), one "::"
/// for one or more zero groups, the last 32 bits possibly as a dotted quad (as parse_ipv4 reads
/// it). No zone ("%eth0"), no brackets, no prefix length. Any thread.
std::optional<Ipv6> parse_ipv6(std::string_view text);

/// format_ipv4 or format_ipv6, by the address's family; any thread.
std::string format_ip_address(const IpAddress& address);
/// IPv6 when the text has a ':', else IPv4; nullopt when it is neither. Any thread.
std::optional<IpAddress> parse_ip_address(std::string_view text);

/// An address and port as ipvsadm prints them: "198.18.0.100:80", "[2001:2:0:18::100]:80"
/// (RFC 5952 section 6); any thread.
std::string format_endpoint(const IpAddress& address, uint16_t port);

}  // namespace vsnat::cp
