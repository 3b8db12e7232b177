// Packets the director answers itself, built in place in the received frame: ARP replies,
// ICMP echo replies, TCP resets and ICMP port unreachables for rejected connections, ARP
// requests for next hops, and the translation of ICMP errors about tracked connections.
// Pure: byte buffers in, byte counts out.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dp/conn.hpp"
#include "dp/parse.hpp"
#include "vsnat/types.hpp"

namespace vsnat::dp {

struct ArpInfo {
    uint16_t operation = 0;  // 1 request, 2 reply
    uint32_t sender_ip = 0;  // network order
    MacAddress sender_mac{};
    uint32_t target_ip = 0;
};

/// Reads the ARP fields of a frame the parser classified as ARP.
ArpInfo read_arp(const uint8_t* frame, const ParsedFrame& parsed);

/// Turns an ARP request into the reply "target_ip is at `our_mac`", addressed to the requester.
void make_arp_reply(uint8_t* frame, const ParsedFrame& parsed, const MacAddress& our_mac);

/// Writes a broadcast ARP request "who has `target_ip`, tell `our_ip`" into `frame` (at least
/// 60 bytes); returns its length (60, padded).
size_t build_arp_request(uint8_t* frame, const MacAddress& our_mac, uint32_t our_ip,
                         uint32_t target_ip);

/// Turns an ICMP echo request into the echo reply, sent back to the frame's sender from
/// `our_mac`. Returns false (frame untouched) if it is not an echo request.
bool make_echo_reply(uint8_t* frame, const ParsedFrame& parsed, const MacAddress& our_mac);

/// Turns a TCP segment into the RST that refuses it (RFC 793: seq = its ACK if it had one,
/// else ack = seq + length), stripped of options and payload. Returns the new frame length, or
/// 0 if the segment was itself a RST (never answered).
size_t make_tcp_reset(uint8_t* frame, const ParsedFrame& parsed, const MacAddress& our_mac);

/// The destination-unreachable codes the director sends (RFC 792, RFC 1191).
enum class UnreachableCode : uint8_t { port = 3, fragmentation_needed = 4 };

/// Rewrites the frame into an ICMP destination unreachable with `code`, quoting the datagram's
/// IP header and first 8 bytes of L4, from `from_ip`, back to the datagram's source;
/// `next_hop_mtu` goes in for fragmentation_needed (RFC 1191), 0 otherwise. `capacity` is the
/// room in the buffer; returns the new frame length, or 0 if it does not fit.
size_t make_unreachable(uint8_t* frame, size_t capacity, const ParsedFrame& parsed,
                        const MacAddress& our_mac, uint32_t from_ip, UnreachableCode code,
                        uint16_t next_hop_mtu = 0);

/// An ICMP error (destination unreachable, time exceeded, parameter problem, source quench)
/// and the datagram it quotes.
struct IcmpError {
    ParsedFrame inner;  // offsets relative to the frame
    FlowKey reply_key;  // the quoted datagram's key reversed: finds the connection
};

/// Parses an ICMP error whose quoted datagram is TCP or UDP. False for anything else.
bool parse_icmp_error(const uint8_t* frame, const ParsedFrame& outer, IcmpError& out);

/// Translates an ICMP error about `conn` (LVS ip_vs_nat_icmp). An error travelling towards the
/// client (it quotes a packet we sent to the real server) gets the VIP as outer source and the
/// quoted destination; one travelling towards the real server gets the real server as outer
/// destination and quoted source. The ICMP checksum is recomputed over the (short) message.
/// Returns the new outer destination.
uint32_t translate_icmp_error(uint8_t* frame, const ParsedFrame& outer, const IcmpError& error,
                              const Conn& conn, bool towards_client);

}  // namespace vsnat::dp
