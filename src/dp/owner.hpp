// Which worker owns a connection: a pure function of the client's (IP, port), which packets of
// both directions carry (docs/ARCHITECTURE.md, "Both directions on one worker").
#pragma once

#include <cstdint>

#include "dp/parse.hpp"
#include "dp/snapshot.hpp"

namespace vsnat::dp {

/// The RSS key ports are programmed with, and the table size whose entries map hashes to
/// workers (entry i -> i % workers): a NIC hashing only the client's fields then delivers
/// exactly where owner_of_client() says.
extern const uint8_t kRssKey[40];
constexpr uint32_t kRssTableSpan = 128;

/// Toeplitz hash of (client IP, client port) with kRssKey, reduced to a worker. Both in network
/// order, as in the packet.
uint32_t owner_of_client(uint32_t client_ip, uint16_t client_port, uint32_t workers);
/// The same for an IPv6 client.
uint32_t owner_of_client(const Ipv6& client_ip, uint16_t client_port, uint32_t workers);

/// The owner of a parsed IPv4 or IPv6 frame, or `self` when any worker may handle it (ARP, ICMP
/// that is not an error about TCP/UDP, anything that does not parse).
uint32_t owner_of_frame(const uint8_t* frame, const ParsedFrame& parsed, const Snapshot& snap,
                        uint32_t workers, uint32_t self);

}  // namespace vsnat::dp
