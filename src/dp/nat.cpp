#include "dp/nat.hpp"

#include <cstring>

#include "dp/bytes.hpp"
#include "dp/checksum.hpp"

namespace vsnat::dp {
namespace {

// The same for an IPv6 address and a port.
uint16_t csum_replace_addr6_port(uint16_t check, const Ipv6& old_addr, const Ipv6& new_addr,
                                 uint16_t old_port, uint16_t new_port) {
    uint64_t sum = csum_add_replaced16(static_cast<uint16_t>(~check), old_addr, new_addr);
    sum += static_cast<uint16_t>(~old_port);
    sum += new_port;
    return static_cast<uint16_t>(~csum_fold(sum));
}

}  // namespace

uint32_t nat_rewrite_address(uint8_t* ip, Endpoint endpoint, uint32_t address) {
    uint8_t* addr_field = ip + (endpoint == Endpoint::destination ? ipv4::kDst : ipv4::kSrc);
    const uint32_t old_addr = load_u32_raw(addr_field);
    store_u32_raw(addr_field, address);
    uint8_t* ip_check = ip + ipv4::kChecksum;
    store_u16_raw(ip_check, csum_replace4(load_u16_raw(ip_check), old_addr, address));
    return old_addr;
}

void nat_rewrite(uint8_t* ip, uint8_t* l4, uint8_t protocol, Endpoint endpoint, uint32_t address,
                 uint16_t port) {
    uint8_t* port_field = l4 + (endpoint == Endpoint::destination ? l4::kDstPort : l4::kSrcPort);
    const uint16_t old_port = load_u16_raw(port_field);
    store_u16_raw(port_field, port);
    const uint32_t old_addr = nat_rewrite_address(ip, endpoint, address);

    if (protocol == ipv4::kProtoTcp) {
        uint8_t* check = l4 + l4::kTcpChecksum;
        uint16_t v = csum_replace_addr_port(load_u16_raw(check), old_addr, address, old_port, port);
        store_u16_raw(check, v == 0xffff ? 0 : v);  // what a full computation gives
    } else if (protocol == ipv4::kProtoUdp) {
        uint8_t* check = l4 + l4::kUdpChecksum;
        uint16_t old = load_u16_raw(check);
        if (old != 0) {
            uint16_t v = csum_replace_addr_port(old, old_addr, address, old_port, port);
            store_u16_raw(check, udp_checksum_fixup(v));
        }
    }
}

void nat6_rewrite(uint8_t* ip6, uint8_t* l4, uint8_t protocol, Endpoint endpoint,
                  const Ipv6& address, uint16_t port) {
    uint8_t* addr_field = ip6 + (endpoint == Endpoint::destination ? ipv6::kDst : ipv6::kSrc);
    Ipv6 old_addr;
    std::memcpy(old_addr.data(), addr_field, old_addr.size());
    std::memcpy(addr_field, address.data(), address.size());
    if (protocol == ipv6::kProtoIcmpv6) {
        uint8_t* check = l4 + l4::kIcmpChecksum;
        store_u16_raw(check, csum_replace16(load_u16_raw(check), old_addr, address));
        return;
    }
    uint8_t* port_field = l4 + (endpoint == Endpoint::destination ? l4::kDstPort : l4::kSrcPort);
    const uint16_t old_port = load_u16_raw(port_field);
    store_u16_raw(port_field, port);
    if (protocol == ipv4::kProtoTcp) {  // TCP and UDP have the same numbers in IPv6
        uint8_t* check = l4 + l4::kTcpChecksum;
        uint16_t v =
            csum_replace_addr6_port(load_u16_raw(check), old_addr, address, old_port, port);
        store_u16_raw(check, v == 0xffff ? 0 : v);  // what a full computation gives
    } else if (protocol == ipv4::kProtoUdp) {
        uint8_t* check = l4 + l4::kUdpChecksum;
        uint16_t old = load_u16_raw(check);
        if (old != 0) {
            uint16_t v = csum_replace_addr6_port(old, old_addr, address, old_port, port);
            store_u16_raw(check, udp_checksum_fixup(v));  // RFC 8200 8.1: 0 is sent as 0xFFFF
        }
    }
}

bool decrement_hop_limit(uint8_t* ip6) {
    if (ip6[ipv6::kHopLimit] <= 1) {
        return false;
    }
    --ip6[ipv6::kHopLimit];
    return true;
}

bool decrement_ttl(uint8_t* ip) {
    uint8_t ttl = ip[ipv4::kTtl];
    if (ttl <= 1) {
        return false;
    }
    // TTL is the high byte of the 16-bit word it shares with the protocol. The new word is
    // built in a register and stored whole: reading it back after a one-byte store would stall
    // on store forwarding.
    const uint16_t old_word = load_u16_raw(ip + ipv4::kTtl);
    const uint8_t new_bytes[2] = {static_cast<uint8_t>(ttl - 1), ip[ipv4::kProtocol]};
    const uint16_t new_word = load_u16_raw(new_bytes);
    store_u16_raw(ip + ipv4::kTtl, new_word);
    uint8_t* check = ip + ipv4::kChecksum;
    store_u16_raw(check, csum_replace2(load_u16_raw(check), old_word, new_word));
    return true;
}

}  // namespace vsnat::dp
