// Loads and stores of packet fields. Packet bytes are in network order and may be unaligned.
#pragma once

#include <cstdint>
#include <cstring>

#include "vsnat/types.hpp"

namespace vsnat::dp {

inline uint16_t load_u16_raw(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline uint32_t load_u32_raw(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store_u16_raw(uint8_t* p, uint16_t v) {
    std::memcpy(p, &v, sizeof v);
}
inline void store_u32_raw(uint8_t* p, uint32_t v) {
    std::memcpy(p, &v, sizeof v);
}

inline uint16_t load_be16(const uint8_t* p) {
    return __builtin_bswap16(load_u16_raw(p));
}
inline uint32_t load_be32(const uint8_t* p) {
    return __builtin_bswap32(load_u32_raw(p));
}
inline void store_be16(uint8_t* p, uint16_t v) {
    store_u16_raw(p, __builtin_bswap16(v));
}
inline void store_be32(uint8_t* p, uint32_t v) {
    store_u32_raw(p, __builtin_bswap32(v));
}
inline Ipv6 load_ipv6(const uint8_t* p) {
    Ipv6 a;
    std::memcpy(a.data(), p, a.size());
    return a;
}

// Header layouts, as offsets: the parser validates lengths before anyone uses these.
namespace eth {
constexpr size_t kHeaderLen = 14;
constexpr size_t kVlanTagLen = 4;
constexpr size_t kDst = 0, kSrc = 6, kType = 12;
constexpr uint16_t kTypeIpv4 = 0x0800, kTypeArp = 0x0806, kTypeVlan = 0x8100, kTypeIpv6 = 0x86dd;
}  // namespace eth

namespace ipv4 {
constexpr size_t kMinHeaderLen = 20;
constexpr size_t kVersionIhl = 0, kTotalLength = 2, kId = 4, kFragment = 6, kTtl = 8, kProtocol = 9,
                 kChecksum = 10, kSrc = 12, kDst = 16;
constexpr uint16_t kMoreFragments = 0x2000, kOffsetMask = 0x1fff;
constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17;
}  // namespace ipv4

namespace ipv6 {
constexpr size_t kHeaderLen = 40;
constexpr size_t kVersionClassFlow = 0, kPayloadLength = 4, kNextHeader = 6, kHopLimit = 7,
                 kSrc = 8, kDst = 24;
constexpr size_t kAddressLen = 16;
// Next-header values: the extension headers the parser walks (RFC 8200 4.1), and the rest.
constexpr uint8_t kHopByHop = 0, kRouting = 43, kFragmentHeader = 44, kEsp = 50, kAh = 51,
                  kProtoIcmpv6 = 58, kNoNextHeader = 59, kDestinationOptions = 60;
// The fragment header (RFC 8200 4.5): 8 bytes.
constexpr size_t kFragmentHeaderLen = 8, kFragmentNextHeader = 0, kFragmentOffsetFlags = 2,
                 kFragmentId = 4;
constexpr uint16_t kFragmentOffsetMask = 0xfff8, kFragmentMore = 0x0001;
}  // namespace ipv6

namespace l4 {
constexpr size_t kSrcPort = 0, kDstPort = 2;
constexpr size_t kTcpMinHeaderLen = 20, kTcpSeq = 4, kTcpAck = 8, kTcpDataOffset = 12,
                 kTcpFlags = 13, kTcpChecksum = 16;
constexpr size_t kUdpHeaderLen = 8, kUdpLength = 4, kUdpChecksum = 6;
constexpr size_t kIcmpHeaderLen = 8, kIcmpChecksum = 2;
constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAckFlag = 0x10;
}  // namespace l4

namespace arp {
constexpr size_t kLen = 28;
constexpr size_t kHardwareType = 0, kProtocolType = 2, kHardwareLen = 4, kProtocolLen = 5,
                 kOperation = 6, kSenderMac = 8, kSenderIp = 14, kTargetMac = 18, kTargetIp = 24;
}  // namespace arp

}  // namespace vsnat::dp
