// Plain types shared by the dataplane, the control thread and the tools.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace vsnat {

/// An IPv4 address in host byte order (10.0.0.1 == 0x0a000001).
using Ipv4 = uint32_t;

enum class Protocol : uint8_t { tcp = 6, udp = 17 };

using MacAddress = std::array<uint8_t, 6>;

/// Why a packet was not forwarded. Every drop is counted under exactly one reason.
enum class DropReason : uint8_t {
    // parser
    frame_truncated,      // shorter than the headers it announces
    unsupported_l2,       // an ethertype we do not handle, or a second VLAN tag
    bad_ip_version,       // IPv4 header with version != 4
    bad_ip_header_length, // IHL < 5 or beyond the frame
    bad_ip_total_length,  // total length below the header, or beyond the frame
    bad_ip_checksum,      // received IPv4 header checksum is wrong
    ip_fragment,          // fragments are not reassembled
    bad_l4_header,        // TCP data offset < 5 or L4 header beyond the datagram
    unsupported_l4,       // an IP protocol we do not balance
    bad_arp,              // ARP that is not Ethernet/IPv4
    multi_segment,        // a chained mbuf: headers are only read from one segment
    // forwarding
    ttl_expired,          // TTL would reach zero on forwarding
    no_service,           // to a VIP port no service offers (rejected)
    no_connection,        // not a SYN, and no tracked connection
    no_real_server,       // the scheduler found no available real server
    table_full,           // the connection table has no room for a new connection
    flow_conflict,        // the new connection's reply key belongs to another connection
    no_route,             // no interface or gateway reaches the destination
    no_neighbor,          // next hop's MAC address is not resolved yet
    not_for_us,           // neither a VIP, a tracked reply, nor our own address
    tx_full,              // the port refused the packet
    count_                // number of reasons, not a reason
};

constexpr std::string_view drop_reason_name(DropReason r) {
    constexpr std::array<std::string_view, static_cast<size_t>(DropReason::count_)> names = {
        "frame_truncated", "unsupported_l2", "bad_ip_version",   "bad_ip_header_length",
        "bad_ip_total_length", "bad_ip_checksum", "ip_fragment", "bad_l4_header",
        "unsupported_l4", "bad_arp", "multi_segment", "ttl_expired", "no_service", "no_connection",
        "no_real_server", "table_full", "flow_conflict", "no_route", "no_neighbor", "not_for_us", "tx_full"};
    return names[static_cast<size_t>(r)];
}

constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::count_);

}  // namespace vsnat
