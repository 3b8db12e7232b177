#include "dp/parse.hpp"

#include "dp/bytes.hpp"

namespace vsnat::dp {
namespace {

// The generic extension header layout (RFC 8200 4.2): next header, length in 8-byte units not
// counting the first 8; the routing header's segments left (4.4).
constexpr size_t kExtNextHeader = 0, kExtLength = 1, kRoutingSegmentsLeft = 3;
constexpr size_t kExtMinHeaderLen = 8;
constexpr size_t kMaxPayloadLength = 65535;

// The extension headers parse_ipv6 walks. ESP and AH end the walk as the upper-layer protocol
// (what follows them is encrypted or authenticated for the endpoint), as do no-next-header and
// anything unknown: the pipeline decides on those.
bool is_walked_extension(uint8_t next) {
    return next == ipv6::kHopByHop || next == ipv6::kRouting || next == ipv6::kDestinationOptions ||
           next == ipv6::kFragmentHeader;
}

// Returns nothing, so that `return set_dropped(out, reason);` ends a parser. Whether the frame
// had a VLAN tag stays.
void set_dropped(ParsedFrame& out, DropReason reason) {
    const bool vlan = out.vlan;
    out = ParsedFrame{};
    out.vlan = vlan;
    out.kind = FrameKind::drop;
    out.drop_reason = reason;
}

// Validates the L4 header of a datagram, or of its first fragment, and fills the L4 fields.
// `icmp_protocol` is the ICMP of the network layer: ICMP (1) under IPv4, ICMPv6 (58) under IPv6;
// both have an 8-byte header.
// Inline: without the hint it stayed a call of its own from the IPv4 parse, on every packet.
inline bool parse_l4(const uint8_t* frame, ParsedFrame& out, bool allow_truncated,
                     uint8_t icmp_protocol) {
    const uint8_t* l4p = frame + out.l4_offset;
    size_t need = 0;
    if (out.ip_protocol == ipv4::kProtoTcp) {
        need = l4::kTcpMinHeaderLen;
    } else if (out.ip_protocol == ipv4::kProtoUdp) {
        need = l4::kUdpHeaderLen;
    } else if (out.ip_protocol == icmp_protocol) {
        need = l4::kIcmpHeaderLen;
    } else {
        // The pipeline decides what to do with other protocols; nothing of theirs is read.
        out.payload_offset = out.l4_offset;
        return true;
    }
    if (allow_truncated) {
        // An ICMP error quotes at least 8 bytes of L4: ports, and for TCP the sequence number.
        if (out.l4_length < 8) {
            return false;
        }
        out.payload_offset = static_cast<uint16_t>(out.l4_offset + out.l4_length);
        return true;
    }
    if (out.l4_length < need) {
        return false;
    }
    size_t header_len = need;
    if (out.ip_protocol == ipv4::kProtoTcp) {
        header_len = static_cast<size_t>(l4p[l4::kTcpDataOffset] >> 4) * 4;
        if (header_len < l4::kTcpMinHeaderLen || header_len > out.l4_length) {
            return false;
        }
        out.tcp_flags = l4p[l4::kTcpFlags];
    } else if (out.ip_protocol == ipv4::kProtoUdp) {
        uint16_t udp_len = load_be16(l4p + l4::kUdpLength);
        // A first fragment's UDP length is the whole datagram's, more than it holds.
        if (udp_len < l4::kUdpHeaderLen || (udp_len > out.l4_length && !out.fragment)) {
            return false;
        }
    }
    out.payload_offset = static_cast<uint16_t>(out.l4_offset + header_len);
    return true;
}

// parse_ipv4's work. Always inline into parse_frame(), where every IPv4 packet comes: as a
// call of its own it cost a few cycles a packet.
[[gnu::always_inline]] inline void parse_ipv4_in_place(const uint8_t* frame, size_t len,
                                                       size_t l3_offset, bool allow_truncated_l4,
                                                       ParsedFrame& out) {
    if (len < l3_offset + ipv4::kMinHeaderLen) {
        return set_dropped(out, DropReason::frame_truncated);
    }
    const uint8_t* ip = frame + l3_offset;
    if ((ip[ipv4::kVersionIhl] >> 4) != 4) {
        return set_dropped(out, DropReason::bad_ip_version);
    }
    size_t header_len = static_cast<size_t>(ip[ipv4::kVersionIhl] & 0x0f) * 4;
    if (header_len < ipv4::kMinHeaderLen || l3_offset + header_len > len) {
        return set_dropped(out, DropReason::bad_ip_header_length);
    }
    size_t total_len = load_be16(ip + ipv4::kTotalLength);
    // A quoted datagram inside an ICMP error is cut short on purpose: its total length may run
    // past what was quoted.
    if (total_len < header_len || (!allow_truncated_l4 && l3_offset + total_len > len)) {
        return set_dropped(out, DropReason::bad_ip_total_length);
    }
    if (allow_truncated_l4 && l3_offset + total_len > len) {
        total_len = len - l3_offset;
    }
    out.kind = FrameKind::ipv4;
    out.l3_offset = static_cast<uint16_t>(l3_offset);
    out.l4_offset = static_cast<uint16_t>(l3_offset + header_len);
    out.l4_length = static_cast<uint16_t>(total_len - header_len);
    out.ip_end = static_cast<uint16_t>(l3_offset + total_len);
    out.ip_protocol = ip[ipv4::kProtocol];
    uint16_t fragment = load_be16(ip + ipv4::kFragment);
    out.fragment = (fragment & (ipv4::kMoreFragments | ipv4::kOffsetMask)) != 0;
    out.first_fragment = out.fragment && (fragment & ipv4::kOffsetMask) == 0;
    if (out.fragment && (!out.first_fragment || allow_truncated_l4)) {
        out.payload_offset = out.l4_offset;
        return;
    }
    if (!parse_l4(frame, out, allow_truncated_l4, ipv4::kProtoIcmp)) {
        return set_dropped(out, DropReason::bad_l4_header);
    }
}

}  // namespace

void parse_ipv4(const uint8_t* frame, size_t len, size_t l3_offset, bool allow_truncated_l4,
                ParsedFrame& out) {
    parse_ipv4_in_place(frame, len, l3_offset, allow_truncated_l4, out);
}

void parse_ipv6(const uint8_t* frame, size_t len, size_t l3_offset, bool allow_truncated_l4,
                ParsedFrame& out) {
    if (len < l3_offset + ipv6::kHeaderLen) {
        return set_dropped(out, DropReason::frame_truncated);
    }
    const uint8_t* ip = frame + l3_offset;
    if ((ip[ipv6::kVersionClassFlow] >> 4) != 6) {
        return set_dropped(out, DropReason::bad_ip_version);
    }
    const size_t payload_len = load_be16(ip + ipv6::kPayloadLength);
    const size_t datagram_end = l3_offset + ipv6::kHeaderLen + payload_len;
    // Payload length 0 is a jumbogram's (RFC 2675), carried in a hop-by-hop option: no link
    // here has the MTU for one. A quoted packet (ICMPv6 error) is cut short on purpose.
    if (payload_len == 0 || (!allow_truncated_l4 && datagram_end > len)) {
        return set_dropped(out, DropReason::bad_ip_total_length);
    }
    const size_t end = datagram_end < len ? datagram_end : len;
    out.kind = FrameKind::ipv6;
    out.l3_offset = static_cast<uint16_t>(l3_offset);
    out.ip_end = static_cast<uint16_t>(end);

    // RFC 8200 4: the extension headers, one pass. Each is checked against `end` before any of
    // its bytes is read.
    uint8_t next = ip[ipv6::kNextHeader];
    size_t at = l3_offset + ipv6::kHeaderLen;
    // Past a first fragment's fragment header, a header cut by the fragment's end is an
    // incomplete header chain (RFC 7112 5), refused as a tiny IPv4 first fragment is.
    DropReason cut = DropReason::bad_extension_header;
    for (unsigned walked = 0; is_walked_extension(next); ++walked) {
        if (walked == kMaxExtensionHeaders) {
            return set_dropped(out, DropReason::extension_chain_too_long);
        }
        const uint8_t* h = frame + at;
        if (next == ipv6::kFragmentHeader) {
            if (out.fragment_header_offset != 0) {
                return set_dropped(out,
                                   DropReason::bad_extension_header);  // at most one (RFC 8200 4.1)
            }
            if (at + ipv6::kFragmentHeaderLen > end) {
                return set_dropped(out, cut);
            }
            out.fragment_header_offset = static_cast<uint16_t>(at);
            const uint16_t offset_flags = load_be16(h + ipv6::kFragmentOffsetFlags);
            const size_t offset =
                offset_flags & ipv6::kFragmentOffsetMask;  // 8-byte units, in bytes
            const bool more = (offset_flags & ipv6::kFragmentMore) != 0;
            next = h[kExtNextHeader];
            at += ipv6::kFragmentHeaderLen;
            if (offset == 0 && !more) {
                continue;  // an atomic fragment (RFC 6946): a whole packet, parsed as one
            }
            // RFC 8200 4.5, from the payload length as sent (a quote's is cut short): a fragment
            // other than the last carries a multiple of 8 bytes, and the reassembled payload
            // (the headers before this one, and every fragment's bytes) fits in 65,535.
            const size_t unfragmentable =
                out.fragment_header_offset - (l3_offset + ipv6::kHeaderLen);
            const size_t fragmentable = datagram_end - at;
            if ((more && fragmentable % 8 != 0) ||
                unfragmentable + offset + fragmentable > kMaxPayloadLength) {
                return set_dropped(out, DropReason::bad_fragment);
            }
            out.fragment = true;
            out.first_fragment = offset == 0;
            if (!out.first_fragment) {
                out.ip_protocol = next;  // what the first fragment's chain goes on with
                out.l4_offset = static_cast<uint16_t>(at);
                out.l4_length = static_cast<uint16_t>(end - at);
                out.payload_offset = out.l4_offset;
                return;
            }
            cut = DropReason::bad_l4_header;
            continue;
        }
        // Hop-by-hop options are for every node on the path, so they come first or not at all.
        if (next == ipv6::kHopByHop && walked != 0) {
            return set_dropped(out, DropReason::bad_extension_header);
        }
        if (at + kExtMinHeaderLen > end) {
            return set_dropped(out, cut);
        }
        const size_t header_len = (static_cast<size_t>(h[kExtLength]) + 1) * 8;
        if (at + header_len > end) {
            return set_dropped(out, cut);
        }
        // With segments left, the packet is on its way to another waypoint: the director is
        // none, and would have to rewrite the destination with the next segment (RFC 8200 4.4).
        if (next == ipv6::kRouting && h[kRoutingSegmentsLeft] != 0) {
            return set_dropped(out, DropReason::bad_extension_header);
        }
        next = h[kExtNextHeader];
        at += header_len;
    }
    out.ip_protocol = next;
    out.l4_offset = static_cast<uint16_t>(at);
    out.l4_length = static_cast<uint16_t>(end - at);
    if (out.fragment && allow_truncated_l4) {
        out.payload_offset = out.l4_offset;  // as parse_ipv4: a quoted fragment's L4 is not read
        return;
    }
    if (!parse_l4(frame, out, allow_truncated_l4, ipv6::kProtoIcmpv6)) {
        return set_dropped(out, DropReason::bad_l4_header);
    }
    return;
}

void parse_frame(const uint8_t* frame, size_t len, ParsedFrame& out) {
    out = ParsedFrame{};
    if (len < eth::kHeaderLen) {
        return set_dropped(out, DropReason::frame_truncated);
    }
    size_t l3_offset = eth::kHeaderLen;
    uint16_t type = load_be16(frame + eth::kType);
    if (type == eth::kTypeVlan) {
        if (len < eth::kHeaderLen + eth::kVlanTagLen) {
            return set_dropped(out, DropReason::frame_truncated);
        }
        out.vlan = true;
        l3_offset += eth::kVlanTagLen;
        type = load_be16(frame + eth::kType + eth::kVlanTagLen);
    }
    if (type == eth::kTypeIpv4) {
        parse_ipv4_in_place(frame, len, l3_offset, false, out);
    } else if (type == eth::kTypeIpv6) {
        parse_ipv6(frame, len, l3_offset, false, out);
    } else if (type == eth::kTypeArp) {
        if (len < l3_offset + arp::kLen) {
            return set_dropped(out, DropReason::frame_truncated);
        }
        const uint8_t* a = frame + l3_offset;
        if (load_be16(a + arp::kHardwareType) != 1 ||
            load_be16(a + arp::kProtocolType) != eth::kTypeIpv4 || a[arp::kHardwareLen] != 6 ||
            a[arp::kProtocolLen] != 4) {
            return set_dropped(out, DropReason::bad_arp);
        }
        out.kind = FrameKind::arp;
        out.l3_offset = static_cast<uint16_t>(l3_offset);
    } else {
        set_dropped(out, DropReason::unsupported_l2);  // includes a second (QinQ) tag
    }
}

}  // namespace vsnat::dp
