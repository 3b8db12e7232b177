// libFuzzer target: the frame parser on arbitrary bytes. ASan catches any read past the input
// (libFuzzer hands over a heap copy of exactly `size` bytes); the checks below catch offsets that
// would make the pipeline read or write past the frame later.
#include <cstdint>
#include <cstdlib>

#include "dp/bytes.hpp"
#include "dp/parse.hpp"

namespace {

namespace arp = vsnat::dp::arp;
namespace ipv4 = vsnat::dp::ipv4;
namespace l4 = vsnat::dp::l4;
using vsnat::dp::FrameKind;
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
        return;  // no L4 fields are parsed: the pipeline drops it as unsupported_l4
    }
    require(p.payload_offset >= p.l4_offset && p.payload_offset <= p.ip_end);
    require(p.l4_length >= 8);  // ports (or ICMP type, code, checksum, rest of header)
    if (p.ip_protocol == ipv4::kProtoTcp && !quoted) {
        require(p.payload_offset - p.l4_offset >= l4::kTcpMinHeaderLen);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const ParsedFrame frame = vsnat::dp::parse_frame(data, size);
    if (frame.kind == FrameKind::ipv4) {
        check_ipv4(frame, size, false);
    } else if (frame.kind == FrameKind::arp) {
        require(frame.l3_offset + arp::kLen <= size);
    }
    // The same bytes as the datagram an ICMP error quotes: cut short on purpose, L4 from 8 bytes.
    if (size > 0) {
        const size_t l3_offset = data[0] % 64;
        const ParsedFrame quoted = vsnat::dp::parse_ipv4(data, size, l3_offset, true);
        if (quoted.kind == FrameKind::ipv4) {
            check_ipv4(quoted, size, true);
        }
    }
    return 0;
}
