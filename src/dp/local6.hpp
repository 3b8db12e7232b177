// The IPv6 packets the director answers and sends itself (local.hpp's twin): neighbor discovery
// (RFC 4861) in place of ARP, ICMPv6 echo replies, TCP resets and ICMPv6 errors (RFC 4443) for
// refused packets, and the translation of ICMPv6 errors about tracked connections. Built in
// place in the received frame. Pure: byte buffers in, byte counts out; any thread, the caller
// owns the buffer before and after.
//
// A `parsed` frame is one the parser classified as IPv6; nothing is read outside what it
// describes. Replies carry no extension headers, whatever the received packet had.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dp/conn.hpp"
#include "dp/parse.hpp"
#include "vsnat/types.hpp"

namespace vsnat::dp {

/// What a valid neighbor solicitation asks.
struct NeighborSolicitation {
    Ipv6 source{};  // the unspecified address (all zero) for duplicate address detection
    Ipv6 target{};  // whose link-layer address is asked
    bool has_source_mac = false;
    MacAddress source_mac{};  // its source link-layer address option, when it has one
};

/// Reads a neighbor solicitation (ICMPv6 type 135), validated as RFC 4861 7.1.1 says: hop limit
/// 255, code 0, ICMPv6 length >= 24, checksum right, target not multicast, every option of
/// non-zero length and within the message; from the unspecified address only to a
/// solicited-node multicast address and without a source link-layer address option. Also not
/// fragmented (RFC 6980 5). Returns false for a message that fails any of these (RFC 4861 says
/// to discard it silently: count it as bad_nd), or that is not a solicitation.
bool parse_neighbor_solicitation(const uint8_t* frame, const ParsedFrame& parsed,
                                 NeighborSolicitation& out);

/// Turns a solicitation read by parse_neighbor_solicitation, for an address of ours, into the
/// solicited advertisement (RFC 4861 7.2.4): from the target address and `our_mac`, with
/// `our_mac` as target link-layer address, override flag set, router flag clear, hop limit 255.
/// It goes to the solicitor's address and MAC (the frame's Ethernet source) with the solicited
/// flag; or, answering duplicate address detection (unspecified source), to all-nodes ff02::1
/// (33:33:00:00:00:01) without it. `capacity` is the room in the buffer; returns the new frame
/// length, or 0 if it does not fit (the advertisement is 8 bytes longer than a solicitation
/// without an option).
size_t make_neighbor_advertisement(uint8_t* frame, size_t capacity, const ParsedFrame& parsed,
                                   const NeighborSolicitation& solicitation,
                                   const MacAddress& our_mac);

/// What a valid neighbor advertisement says.
struct NeighborAdvertisement {
    Ipv6 target{};
    bool router = false;
    bool solicited = false;
    bool override = false;
    bool has_target_mac = false;
    MacAddress target_mac{};  // its target link-layer address option, when it has one
};

/// Reads a neighbor advertisement (ICMPv6 type 136), validated as RFC 4861 7.1.2 says: hop limit
/// 255, code 0, ICMPv6 length >= 24, checksum right, target not multicast, the solicited flag
/// clear if sent to a multicast address, every option of non-zero length and within the
/// message; not fragmented (RFC 6980 5). Returns false for a message that fails any of these
/// (count it as bad_nd), or that is not an advertisement.
bool parse_neighbor_advertisement(const uint8_t* frame, const ParsedFrame& parsed,
                                  NeighborAdvertisement& out);

/// Length of the frame build_neighbor_solicitation writes: Ethernet, IPv6, the 24-byte
/// solicitation and its source link-layer address option.
constexpr size_t kNeighborSolicitationFrameLen = 14 + 40 + 24 + 8;

/// Writes a neighbor solicitation "who has `target`" from `our_ip` and `our_mac`, with a source
/// link-layer address option and hop limit 255, into `frame` (at least
/// kNeighborSolicitationFrameLen bytes). With `target_mac` null it goes to the target's
/// solicited-node multicast address ff02::1:ffXX:XXXX (Ethernet 33:33:ff:XX:XX:XX) to resolve
/// it; with the MAC of a known neighbor, to the target itself at that MAC, to re-probe it (RFC
/// 4861 7.3.3, PROBE). Returns the frame length.
size_t build_neighbor_solicitation(uint8_t* frame, const MacAddress& our_mac, const Ipv6& our_ip,
                                   const Ipv6& target, const MacAddress* target_mac = nullptr);

/// Turns an ICMPv6 echo request (type 128, code 0) to one of our unicast addresses into the echo
/// reply (RFC 4443 4.2), sent back to the frame's sender from `our_mac` with hop limit 64; the
/// request's extension headers are dropped, its data is returned unmodified. Returns the new
/// frame length, or 0 (frame untouched) if it is not an echo request. The caller passes no
/// fragment.
size_t make_echo6_reply(uint8_t* frame, const ParsedFrame& parsed, const MacAddress& our_mac);

/// make_tcp_reset for IPv6: turns a TCP segment into the RST that refuses it (RFC 793: seq = its
/// ACK if it had one, else ack = seq + length), stripped of options, payload and extension
/// headers. Returns the new frame length, or 0 if the segment was itself a RST (never
/// answered).
size_t make_tcp_reset6(uint8_t* frame, const ParsedFrame& parsed, const MacAddress& our_mac);

/// The ICMPv6 errors the director sends: destination unreachable, port unreachable (type 1,
/// code 4), and packet too big (type 2, code 0: routers do not fragment IPv6 packets, RFC 8200
/// 5; its sender learns the path MTU from it, RFC 8201).
enum class Unreachable6 : uint8_t { port, packet_too_big };

/// Rewrites the frame into the ICMPv6 error `kind` about the packet it holds, from `from` back to
/// the packet's source, with `mtu` in packet too big's MTU field (0 otherwise). It quotes as
/// much of the packet as fits in an IPv6 packet of the minimum MTU, 1280 bytes (RFC 4443
/// 2.4(c)), and in `capacity`, the room in the buffer. Returns the new frame length; 0 if not
/// even the packet's headers and the first 8 bytes of its upper layer fit, or when RFC 4443
/// 2.4(e) forbids the error: about an ICMPv6 error or a redirect, about a packet from the
/// unspecified or a multicast address, and (but for packet too big) about a packet sent to a
/// multicast address or a link-layer multicast or broadcast.
size_t make_unreachable6(uint8_t* frame, size_t capacity, const ParsedFrame& parsed,
                         const MacAddress& our_mac, const Ipv6& from, Unreachable6 kind,
                         uint32_t mtu = 0);

/// An ICMPv6 error (destination unreachable, packet too big, time exceeded, parameter problem)
/// and the packet it quotes.
struct Icmp6Error {
    ParsedFrame inner;   // offsets relative to the frame
    FlowKey6 reply_key;  // the quoted packet's key reversed: finds the connection
};

/// Parses an ICMPv6 error (types 1 to 4, RFC 4443 3; not itself a fragment) whose quoted packet
/// (parse_ipv6 with allow_truncated_l4) is TCP or UDP and not a fragment. False for anything
/// else.
bool parse_icmp6_error(const uint8_t* frame, const ParsedFrame& outer, Icmp6Error& out);

/// translate_icmp_error for IPv6 (LVS ip_vs_nat_icmp_v6): an error travelling towards the client
/// (it quotes a packet we sent to the real server) gets the VIP as outer source and the quoted
/// destination; one travelling towards the real server gets the real server as outer
/// destination and quoted source. The quoted TCP or UDP checksum is adjusted when the quote
/// holds it; the ICMPv6 checksum is recomputed over the whole message and the pseudo-header.
/// Packet too big goes through here, so path MTU discovery works through the VIP.
/// The caller decrements the hop limit. Returns the new outer destination.
Ipv6 translate_icmp6_error(uint8_t* frame, const ParsedFrame& outer, const Icmp6Error& error,
                           const Conn6& conn, bool towards_client);

}  // namespace vsnat::dp
