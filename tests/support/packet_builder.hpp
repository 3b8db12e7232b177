// Builds Ethernet/IPv4 and Ethernet/IPv6 frames carrying TCP, UDP, ICMP or ICMPv6 as bytes, with
// correct checksums, for fixtures (after Katran's PacketBuilder). Addresses are text, dotted or
// IPv6 (which picks the family); everything else host order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vsnat/types.hpp"

namespace vsnat::test {

uint32_t ip_raw(const std::string& dotted);  // network order, as in the packet
Ipv6 ip6_raw(const std::string& text);       // "2001:db8::1", as in the packet
uint16_t port_raw(uint16_t port);            // network order, as in the packet
MacAddress mac(const std::string& text);

/// An IPv6 extension header as it goes into a frame: the next-header value that names it and its
/// bytes, whose first (its own next header) the builder fills in.
struct Ipv6Extension {
    uint8_t type;
    std::vector<uint8_t> bytes;
};

/// Hop-by-hop (0) or destination options (60) of 8 * (units + 1) bytes, padding only (PadN).
Ipv6Extension ipv6_options(uint8_t type, uint8_t units = 0);
/// A segment routing header (routing type 4, RFC 8754) with one segment.
Ipv6Extension ipv6_routing(const std::string& segment, uint8_t segments_left = 0);
/// A fragment header: `offset` in bytes (a multiple of 8), `more` the M flag.
Ipv6Extension ipv6_fragment_header(uint16_t offset, bool more, uint32_t id = 0x12345678);

struct PacketSpec {
    std::string src_ip = "198.18.0.1";  // both IPv4, or both IPv6 (text with a ':')
    std::string dst_ip = "198.18.0.100";
    uint16_t src_port = 3456;
    uint16_t dst_port = 80;
    uint8_t protocol = 6;  // 6 tcp, 17 udp, 1 icmp (echo request); IPv6: 58 icmpv6 (echo
                           // request), any other: `payload` is the whole upper layer
    uint8_t tcp_flags = 0x02;
    uint32_t seq = 1000;
    uint32_t ack = 0;
    uint8_t ttl = 64;  // IPv6: the hop limit
    uint16_t ip_id = 1;
    std::vector<uint8_t> payload;
    std::vector<uint8_t> ip_options;   // IPv4 only; multiple of 4 bytes
    std::vector<uint8_t> tcp_options;  // multiple of 4 bytes
    bool udp_checksum = true;          // false: send UDP checksum 0
    int vlan = -1;                     // >= 0: one 802.1Q tag with this VLAN id
    MacAddress src_mac = {0x02, 0, 0, 0, 0, 0x01};
    MacAddress dst_mac = {0x02, 0, 0, 0, 0, 0xfe};
    /// IPv6 only: between the IPv6 header and the upper layer, in this order, each one's next
    /// header filled in. The L4 checksum is computed over what follows them all, so a fragment
    /// header other than an atomic fragment's makes a packet no receiver accepts: build the whole
    /// packet and cut it with ipv6_fragments instead.
    std::vector<Ipv6Extension> ipv6_extensions;
};

/// The frame `spec` describes, every checksum right (IPv6: the L4 one over the pseudo-header with
/// the IPv6 header's destination, right when no routing segment is left). Throws
/// std::invalid_argument on addresses of mixed families or IPv4-only fields on IPv6.
std::vector<uint8_t> build_packet(const PacketSpec& spec);

/// Ethernet and IPv6 headers from `spec` (MACs, VLAN, addresses, hop limit, extension headers;
/// next header spec.protocol) around `upper` as it is: no L4 header made, no checksum computed,
/// nothing checked. For malformed packets, and upper layers the builder does not make.
std::vector<uint8_t> build_ipv6_frame(const PacketSpec& spec, const std::vector<uint8_t>& upper);

/// An Ethernet/IPv4 frame without options, not a fragment, cut into fragments as its sender would
/// on a link whose MTU is `piece` + 20 (RFC 791): `piece` bytes of the IP payload in each (a
/// multiple of 8; the last one shorter), each with the header, its own total length, fragment
/// offset, MF flag and header checksum. The L4 checksum is the whole datagram's, as built.
/// Throws std::invalid_argument on anything else, or a `piece` of 0 or not a multiple of 8.
std::vector<std::vector<uint8_t>> ipv4_fragments(const std::vector<uint8_t>& frame, size_t piece);

/// An Ethernet/IPv6 frame with no fragment header cut into fragments, as its sender would (RFC
/// 8200 4.5): the IPv6 header and the extension headers up to the routing header (else the
/// hop-by-hop one) in each, then a fragment header, then the rest of the packet from `offsets[i]`
/// (in bytes, the first 0, the others multiples of 8, increasing) to the next offset. The L4
/// checksum is the whole packet's, as built.
std::vector<std::vector<uint8_t>> ipv6_fragments(const std::vector<uint8_t>& frame,
                                                 const std::vector<size_t>& offsets,
                                                 uint32_t id = 0x12345678);

/// Recomputes and checks every checksum of an Ethernet/IPv4 frame (IPv4 header, TCP/UDP over
/// the pseudo-header; a UDP checksum of 0 passes) or Ethernet/IPv6 frame (TCP, UDP, ICMPv6 over
/// the pseudo-header; a UDP checksum of 0 fails, RFC 8200 8.1; another upper layer has none to
/// check). False for anything else, an IPv6 fragment included.
bool checksums_valid(const std::vector<uint8_t>& frame);

/// Recomputes the IPv4 header checksum and the L4 checksum in place, from scratch; in an IPv6
/// frame the TCP, UDP or ICMPv6 one. Throws std::invalid_argument on an IPv6 fragment (its L4
/// checksum covers the whole packet) and on a frame that does not parse.
void recompute_checksums(std::vector<uint8_t>& frame);

/// Reads fields back out of a frame. IPv6: the addresses in src_ip6/dst_ip6 (src_ip/dst_ip 0),
/// the hop limit in ttl, the upper-layer protocol (past the extension headers) in protocol.
struct PacketFields {
    uint32_t src_ip, dst_ip;
    uint16_t src_port, dst_port;
    uint8_t ttl, protocol;
    MacAddress src_mac, dst_mac;
    bool ipv6 = false;
    Ipv6 src_ip6{}, dst_ip6{};
};
/// Throws std::invalid_argument on a frame that does not parse as IPv4 or IPv6.
PacketFields read_fields(const std::vector<uint8_t>& frame);
std::string format_ip(uint32_t raw);
std::string format_ip(const Ipv6& raw);  // as inet_ntop writes it: "2001:db8::1"

}  // namespace vsnat::test
