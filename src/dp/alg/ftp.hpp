// The FTP helper's view of a control-connection segment (RFC 959 PORT and 227, RFC 2428 EPRT
// and 229): which line asks for a data connection, the address and port in it, and where the
// text to rewrite sits. Pure: works on a byte span, never reads outside it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dp/tcp_state.hpp"
#include "vsnat/types.hpp"

namespace vsnat::dp::ftp {

enum class Event : uint8_t {
    none,              // nothing the helper acts on
    passive,           // server: "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)"
    extended_passive,  // server: "229 Entering Extended Passive Mode (|||port|)"
    active,            // client: "PORT h1,h2,h3,h4,p1,p2"
    extended_active,   // client: "EPRT |1|a.b.c.d|port|" or "EPRT |2|x:x::x|port|"
    split,             // a line the helper watches does not end in this segment
    malformed,         // a watched line whose address or port does not parse
};

/// What scan() found. Address and port in network order, as in packets; the text span is the
/// "h1,h2,h3,h4,p1,p2" of a 227 reply or a PORT command, as offsets into the payload. None is
/// set for extended_passive (the client reuses the control connection's address).
struct Scan {
    Event event = Event::none;
    bool ipv6 = false;     // the address is an IPv6 one (EPRT family 2): in address6
    uint32_t address = 0;  // IPv4's
    Ipv6 address6{};
    uint16_t port = 0;
    uint16_t text_offset = 0;
    uint16_t text_length = 0;
};

/// Looks through the complete lines of one segment's payload sent in `direction` (commands from
/// the client, replies from the server) and returns the first that asks for a data connection.
/// Commands are matched without regard to case (RFC 959 5.3). Any thread.
Scan scan(const uint8_t* payload, size_t length, Direction direction);

/// The longest "h1,h2,h3,h4,p1,p2" text: 4 x 3 + 2 x 3 digits and 5 commas.
constexpr size_t kMaxHostPortText = 23;

/// Writes "h1,h2,h3,h4,p1,p2" for `address` and `port` (network order) into `out`, which has
/// room for kMaxHostPortText bytes; returns the length written. Any thread.
size_t format_host_port(uint32_t address, uint16_t port, char* out);

}  // namespace vsnat::dp::ftp
