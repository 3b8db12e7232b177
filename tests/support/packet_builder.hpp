// Builds Ethernet/IPv4/TCP|UDP|ICMP frames as bytes, with correct checksums, for fixtures
// (after Katran's PacketBuilder). Addresses are dotted strings; everything else host order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vsnat/types.hpp"

namespace vsnat::test {

uint32_t ip_raw(const std::string& dotted);  // network order, as in the packet
uint16_t port_raw(uint16_t port);            // network order, as in the packet
MacAddress mac(const std::string& text);

struct PacketSpec {
    std::string src_ip = "198.18.0.1";
    std::string dst_ip = "198.18.0.100";
    uint16_t src_port = 3456;
    uint16_t dst_port = 80;
    uint8_t protocol = 6;  // 6 tcp, 17 udp, 1 icmp
    uint8_t tcp_flags = 0x02;
    uint32_t seq = 1000;
    uint32_t ack = 0;
    uint8_t ttl = 64;
    uint16_t ip_id = 1;
    std::vector<uint8_t> payload;
    std::vector<uint8_t> ip_options;  // multiple of 4 bytes
    bool udp_checksum = true;         // false: send UDP checksum 0
    int vlan = -1;                    // >= 0: one 802.1Q tag with this VLAN id
    MacAddress src_mac = {0x02, 0, 0, 0, 0, 0x01};
    MacAddress dst_mac = {0x02, 0, 0, 0, 0, 0xfe};
};

std::vector<uint8_t> build_packet(const PacketSpec& spec);

/// Recomputes and checks every checksum of an Ethernet/IPv4 frame (IPv4 header, TCP/UDP over
/// the pseudo-header; a UDP checksum of 0 passes).
bool checksums_valid(const std::vector<uint8_t>& frame);

/// Recomputes the IPv4 header checksum and the L4 checksum in place, from scratch.
void recompute_checksums(std::vector<uint8_t>& frame);

/// Reads fields back out of a frame.
struct PacketFields {
    uint32_t src_ip, dst_ip;
    uint16_t src_port, dst_port;
    uint8_t ttl, protocol;
    MacAddress src_mac, dst_mac;
};
PacketFields read_fields(const std::vector<uint8_t>& frame);
std::string format_ip(uint32_t raw);

}  // namespace vsnat::test
