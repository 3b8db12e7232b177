// Frame parser: Ethernet (one optional 802.1Q tag), ARP, IPv4 (options allowed), TCP, UDP, ICMP.
// Pure: works on a byte span, knows nothing of mbufs, never reads outside the span.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vsnat/types.hpp"

namespace vsnat::dp {

enum class FrameKind : uint8_t { ipv4, arp, drop };

/// Offsets are from the start of the frame. Fields past the kind that failed are unset.
struct ParsedFrame {
    FrameKind kind = FrameKind::drop;
    DropReason drop_reason = DropReason::frame_truncated;  // valid when kind == drop
    bool vlan = false;
    /// MF set or offset != 0. The first fragment (offset 0) has its L4 header parsed (it must
    /// hold all of it) but not checked against the datagram's length, which is not all here;
    /// a later one has no L4 header (payload_offset = l4_offset).
    bool fragment = false;
    bool first_fragment = false;
    uint8_t ip_protocol = 0;
    uint8_t tcp_flags = 0;
    uint16_t l3_offset = 0;  // ARP or IPv4 header
    uint16_t l4_offset = 0;
    uint16_t l4_length = 0;       // IPv4 total length minus header length
    uint16_t payload_offset = 0;  // after the TCP/UDP/ICMP header
    uint16_t ip_end = 0;          // l3_offset + IPv4 total length (trailing padding excluded)
};

/// Parses one frame of `len` bytes. Any thread; no side effects.
ParsedFrame parse_frame(const uint8_t* frame, size_t len);

/// Parses the IPv4 datagram at `l3_offset` (already past L2). Used for the outer packet and for
/// the packet an ICMP error quotes (with `allow_truncated_l4`: only the first 8 bytes of L4 are
/// guaranteed there, RFC 792).
ParsedFrame parse_ipv4(const uint8_t* frame, size_t len, size_t l3_offset,
                       bool allow_truncated_l4 = false);

}  // namespace vsnat::dp
