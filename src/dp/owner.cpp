#include "dp/owner.hpp"

#include <rte_thash.h>

#include <cstring>

#include "dp/bytes.hpp"
#include "dp/local.hpp"
#include "dp/local6.hpp"

namespace vsnat::dp {

// The widely used default Toeplitz key (Microsoft RSS specification).
const uint8_t kRssKey[40] = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
                             0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
                             0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
                             0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

uint32_t owner_of_client(uint32_t client_ip, uint16_t client_port, uint32_t workers) {
    // The NIC hashes the source (or destination) address and port only: that input, padded
    // with zero bits, which add nothing to a Toeplitz hash.
    uint32_t tuple[2] = {__builtin_bswap32(client_ip),
                         static_cast<uint32_t>(__builtin_bswap16(client_port)) << 16};
    const uint32_t hash = rte_softrss(tuple, 2, kRssKey);
    return (hash % kRssTableSpan) % workers;
}

uint32_t owner_of_client(const Ipv6& client_ip, uint16_t client_port, uint32_t workers) {
    uint32_t tuple[5];
    for (size_t i = 0; i < 4; ++i) {
        tuple[i] = load_be32(client_ip.data() + 4 * i);
    }
    tuple[4] = static_cast<uint32_t>(__builtin_bswap16(client_port)) << 16;
    const uint32_t hash = rte_softrss(tuple, 5, kRssKey);
    return (hash % kRssTableSpan) % workers;
}

namespace {

uint32_t owner_of_ipv6(const uint8_t* frame, const ParsedFrame& parsed, const Snapshot& snap,
                       uint32_t workers, uint32_t self) {
    const uint8_t* ip = frame + parsed.l3_offset;
    const uint8_t* l4p = frame + parsed.l4_offset;
    if (parsed.ip_protocol == ipv4::kProtoTcp || parsed.ip_protocol == ipv4::kProtoUdp) {
        const Ipv6 dst = load_ipv6(ip + ipv6::kDst);
        if (snap.is_vip6(dst)) {
            return owner_of_client(load_ipv6(ip + ipv6::kSrc), load_u16_raw(l4p + l4::kSrcPort),
                                   workers);
        }
        return owner_of_client(dst, load_u16_raw(l4p + l4::kDstPort), workers);
    }
    Icmp6Error error;
    if (parsed.ip_protocol == ipv6::kProtoIcmpv6 && parse_icmp6_error(frame, parsed, error)) {
        const FlowKey6& k = error.reply_key;
        return snap.is_vip6(k.dst_ip) ? owner_of_client(k.src_ip, k.src_port, workers)
                                      : owner_of_client(k.dst_ip, k.dst_port, workers);
    }
    return self;
}

}  // namespace

uint32_t owner_of_frame(const uint8_t* frame, const ParsedFrame& parsed, const Snapshot& snap,
                        uint32_t workers, uint32_t self) {
    // A later fragment has no ports: whoever receives it forwards it (classify_fragment).
    if (parsed.fragment && !parsed.first_fragment) {
        return self;
    }
    if (parsed.kind == FrameKind::ipv6) {
        return owner_of_ipv6(frame, parsed, snap, workers, self);
    }
    if (parsed.kind != FrameKind::ipv4) {
        return self;
    }
    const uint8_t* ip = frame + parsed.l3_offset;
    const uint8_t* l4p = frame + parsed.l4_offset;
    if (parsed.ip_protocol == ipv4::kProtoTcp || parsed.ip_protocol == ipv4::kProtoUdp) {
        const uint32_t dst = load_u32_raw(ip + ipv4::kDst);
        if (snap.is_vip(dst)) {
            return owner_of_client(load_u32_raw(ip + ipv4::kSrc), load_u16_raw(l4p + l4::kSrcPort),
                                   workers);
        }
        return owner_of_client(dst, load_u16_raw(l4p + l4::kDstPort), workers);
    }
    IcmpError error;
    if (parsed.ip_protocol == ipv4::kProtoIcmp && parse_icmp_error(frame, parsed, error)) {
        // The quoted packet is one we sent: VIP -> client, or client -> real server.
        const FlowKey& k = error.reply_key;  // reversed: k.src is the quoted destination
        return snap.is_vip(k.dst_ip) ? owner_of_client(k.src_ip, k.src_port, workers)
                                     : owner_of_client(k.dst_ip, k.dst_port, workers);
    }
    return self;
}

}  // namespace vsnat::dp
