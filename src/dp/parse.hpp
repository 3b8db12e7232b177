// Frame parser: Ethernet (one optional 802.1Q tag), ARP, IPv4 (options allowed), IPv6 (with its
// extension headers), TCP, UDP, ICMP, ICMPv6.
// Pure: works on a byte span, knows nothing of mbufs, never reads outside the span.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vsnat/types.hpp"

namespace vsnat::dp {

enum class FrameKind : uint8_t { ipv4, ipv6, arp, drop };

/// Offsets are from the start of the frame. Fields past the kind that failed are unset.
struct ParsedFrame {
    FrameKind kind = FrameKind::drop;
    DropReason drop_reason = DropReason::frame_truncated;  // valid when kind == drop
    bool vlan = false;
    /// MF set or offset != 0 (IPv6: a fragment header that is not an atomic fragment's, RFC
    /// 6946). The first fragment (offset 0) has its L4 header parsed (it must hold all of it)
    /// but not checked against the datagram's length, which is not all here; a later one has
    /// no L4 header (payload_offset = l4_offset).
    bool fragment = false;
    bool first_fragment = false;
    /// The upper-layer protocol: IPv4's protocol field; for IPv6 the next header after the
    /// extension headers (a later fragment's: what its fragment header names).
    uint8_t ip_protocol = 0;
    uint8_t tcp_flags = 0;
    uint16_t l3_offset = 0;       // ARP, IPv4 or IPv6 header
    uint16_t l4_offset = 0;       // IPv6: past every extension header
    uint16_t l4_length = 0;       // IPv4 total length minus header length; IPv6 what follows
                                  // the extension headers within the payload length
    uint16_t payload_offset = 0;  // after the TCP/UDP/ICMP header
    uint16_t ip_end = 0;  // l3_offset + IPv4 total length / 40 + IPv6 payload length (trailing
                          // padding excluded)
    /// IPv6 only: the fragment header's offset from the start of the frame, 0 when none.
    uint16_t fragment_header_offset = 0;
};

/// Parses one frame of `len` bytes into `out`. Any thread; no side effects. The packet path's
/// form: each field is stored once, where it is used. A returned ParsedFrame is built field by
/// field on the stack and then copied whole, and the copy's wide loads stall on those narrow
/// stores (store forwarding).
void parse_frame(const uint8_t* frame, size_t len, ParsedFrame& out);
inline ParsedFrame parse_frame(const uint8_t* frame, size_t len) {
    ParsedFrame out;
    parse_frame(frame, len, out);
    return out;
}

/// Parses the IPv4 datagram at `l3_offset` (already past L2) into `out`, which holds the
/// defaults (and `vlan`) on entry. Used for the outer packet and for the packet an ICMP error
/// quotes (with `allow_truncated_l4`: only the first 8 bytes of L4 are guaranteed there, RFC
/// 792).
void parse_ipv4(const uint8_t* frame, size_t len, size_t l3_offset, bool allow_truncated_l4,
                ParsedFrame& out);
inline ParsedFrame parse_ipv4(const uint8_t* frame, size_t len, size_t l3_offset,
                              bool allow_truncated_l4 = false) {
    ParsedFrame out;
    parse_ipv4(frame, len, l3_offset, allow_truncated_l4, out);
    return out;
}

/// The same for an IPv6 packet at `l3_offset`: the extension headers are walked (at most
/// kMaxExtensionHeaders of them), each malformed case its own drop reason. ICMPv6 errors quote
/// as much of the packet as fits (RFC 4443 2.4): with `allow_truncated_l4` the payload length
/// may run past the frame and only the first 8 bytes of L4 must be there.
void parse_ipv6(const uint8_t* frame, size_t len, size_t l3_offset, bool allow_truncated_l4,
                ParsedFrame& out);
inline ParsedFrame parse_ipv6(const uint8_t* frame, size_t len, size_t l3_offset,
                              bool allow_truncated_l4 = false) {
    ParsedFrame out;
    parse_ipv6(frame, len, l3_offset, allow_truncated_l4, out);
    return out;
}

/// Extension headers parse_ipv6 walks before it gives up (extension_chain_too_long): RFC 8200
/// recommends each at most once (destination options twice), so a legitimate chain has at most
/// six.
constexpr unsigned kMaxExtensionHeaders = 8;

}  // namespace vsnat::dp
