// libFuzzer target: the frame parser on arbitrary bytes. ASan catches any read past the input
// (libFuzzer hands over a heap copy of exactly `size` bytes); the checks below catch offsets that
// would make the pipeline read or write past the frame later.
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "dp/bytes.hpp"
#include "dp/parse.hpp"

namespace {

namespace arp = vsnat::dp::arp;
namespace ipv4 = vsnat::dp::ipv4;
namespace ipv6 = vsnat::dp::ipv6;
namespace l4 = vsnat::dp::l4;
using vsnat::dp::FrameKind;
using vsnat::dp::kMaxExtensionHeaders;
using vsnat::dp::load_be16;
using vsnat::dp::ParsedFrame;

void require(bool ok) {
    if (!ok) {
        std::abort();
    }
}

// What the pipeline relies on for a frame the parser accepts as IPv4: every offset inside the
// frame, in order, and room for the header the L4 protocol announces.
void check_ipv4(const ParsedFrame& p, size_t len, bool quoted) {
    require(p.l3_offset + ipv4::kMinHeaderLen <= p.l4_offset);
    require(p.l4_offset <= p.ip_end && p.ip_end <= len);
    require(p.l4_length == p.ip_end - p.l4_offset);
    if (p.fragment && (!p.first_fragment || quoted)) {
        require(p.payload_offset == p.l4_offset);  // no L4 header read: later, or quoted
        return;
    }
    const bool balanced = p.ip_protocol == ipv4::kProtoTcp || p.ip_protocol == ipv4::kProtoUdp ||
                          p.ip_protocol == ipv4::kProtoIcmp;
    if (!balanced) {
        // No L4 fields are parsed: the pipeline drops it as unsupported_l4.
        require(p.payload_offset == p.l4_offset);
        return;
    }
    require(p.payload_offset >= p.l4_offset && p.payload_offset <= p.ip_end);
    require(p.l4_length >= 8);  // ports (or ICMP type, code, checksum, rest of header)
    if (p.ip_protocol == ipv4::kProtoTcp && !quoted) {
        require(p.payload_offset - p.l4_offset >= l4::kTcpMinHeaderLen);
    }
}

// The same for IPv6: the payload length as the header says (cut to the frame only in a quote),
// the extension headers between the IPv6 header and L4 (each at most 2,048 bytes), the fragment
// header among them, and the walk gone past every extension header it knows.
void check_ipv6(const uint8_t* data, const ParsedFrame& p, size_t len, bool quoted) {
    require(p.l3_offset + ipv6::kHeaderLen <= p.l4_offset);
    require(p.l4_offset <= p.payload_offset && p.payload_offset <= p.ip_end && p.ip_end <= len);
    require(p.l4_length == p.ip_end - p.l4_offset);
    const size_t payload_len = load_be16(data + p.l3_offset + ipv6::kPayloadLength);
    const size_t declared_end = p.l3_offset + ipv6::kHeaderLen + payload_len;
    require(payload_len != 0);
    require(quoted ? p.ip_end == std::min(declared_end, len) : p.ip_end == declared_end);
    require(p.l4_offset - p.l3_offset - ipv6::kHeaderLen <= kMaxExtensionHeaders * 2048);
    require(!p.first_fragment || p.fragment);
    if (p.fragment_header_offset != 0) {
        require(p.fragment_header_offset >= p.l3_offset + ipv6::kHeaderLen);
        require(p.fragment_header_offset + ipv6::kFragmentHeaderLen <= p.l4_offset);
        const uint16_t offset_flags =
            load_be16(data + p.fragment_header_offset + ipv6::kFragmentOffsetFlags);
        const bool atomic = (offset_flags & (ipv6::kFragmentOffsetMask | ipv6::kFragmentMore)) == 0;
        require(p.fragment == !atomic);
        require(p.first_fragment ==
                (p.fragment && (offset_flags & ipv6::kFragmentOffsetMask) == 0));
    } else {
        require(!p.fragment);
    }
    if (p.fragment && !p.first_fragment) {
        // Straight after the fragment header, whatever it names: nothing past it is read.
        require(p.l4_offset == p.fragment_header_offset + ipv6::kFragmentHeaderLen);
        require(p.payload_offset == p.l4_offset);
        return;
    }
    const uint8_t next = p.ip_protocol;
    require(next != ipv6::kHopByHop && next != ipv6::kRouting && next != ipv6::kFragmentHeader &&
            next != ipv6::kDestinationOptions);
    if (p.fragment && quoted) {
        require(p.payload_offset == p.l4_offset);  // a quoted fragment's L4 is not read
        return;
    }
    const bool balanced =
        next == ipv4::kProtoTcp || next == ipv4::kProtoUdp || next == ipv6::kProtoIcmpv6;
    if (!balanced) {
        require(p.payload_offset == p.l4_offset);
        return;
    }
    require(p.l4_length >= 8);
    if (quoted) {
        return;
    }
    const uint8_t* l4p = data + p.l4_offset;
    if (next == ipv4::kProtoTcp) {
        require(p.l4_length >= l4::kTcpMinHeaderLen);  // before its data offset is read here
        require(p.payload_offset - p.l4_offset ==
                static_cast<size_t>(l4p[l4::kTcpDataOffset] >> 4) * 4);
        require(p.payload_offset - p.l4_offset >= l4::kTcpMinHeaderLen);
    } else {
        require(p.payload_offset - p.l4_offset == 8);
    }
    if (next == ipv4::kProtoUdp) {
        const size_t udp_len = load_be16(l4p + l4::kUdpLength);
        require(udp_len >= l4::kUdpHeaderLen && (p.fragment || udp_len <= p.l4_length));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const ParsedFrame frame = vsnat::dp::parse_frame(data, size);
    if (frame.kind == FrameKind::ipv4) {
        check_ipv4(frame, size, false);
    } else if (frame.kind == FrameKind::ipv6) {
        check_ipv6(data, frame, size, false);
    } else if (frame.kind == FrameKind::arp) {
        require(frame.l3_offset + arp::kLen <= size);
    }
    // The same bytes as the datagram an ICMP error quotes: cut short on purpose, L4 from 8 bytes.
    // The first byte says where it starts (a seed's destination MAC can point at a quote).
    if (size > 0) {
        const size_t l3_offset = data[0] % 64;
        const ParsedFrame quoted = vsnat::dp::parse_ipv4(data, size, l3_offset, true);
        if (quoted.kind == FrameKind::ipv4) {
            check_ipv4(quoted, size, true);
        }
        const ParsedFrame quoted6 = vsnat::dp::parse_ipv6(data, size, l3_offset, true);
        if (quoted6.kind == FrameKind::ipv6) {
            check_ipv6(data, quoted6, size, true);
        }
    }
    return 0;
}
