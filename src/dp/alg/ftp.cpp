#include "dp/alg/ftp.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <string_view>

namespace vsnat::dp::ftp {
namespace {

// The lines the helper watches, by who sends them.
constexpr std::string_view kPort = "PORT ", kEprt = "EPRT ";
constexpr std::string_view kPassive = "227 ", kExtendedPassive = "229 ";

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

bool starts_with(std::string_view line, std::string_view keyword) {
    return line.size() >= keyword.size() &&
           equal_ignoring_case(line.substr(0, keyword.size()), keyword);
}

// Whether an unfinished line may be, or may become, one the helper watches.
bool may_be_watched(std::string_view tail, Direction direction) {
    auto may_be = [tail](std::string_view keyword) {
        const size_t n = std::min(tail.size(), keyword.size());
        return equal_ignoring_case(tail.substr(0, n), keyword.substr(0, n));
    };
    return direction == Direction::from_client ? may_be(kPort) || may_be(kEprt)
                                               : may_be(kPassive) || may_be(kExtendedPassive);
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Reads a decimal number of at most `max_digits` digits and at most `max` at `pos`.
bool read_number(std::string_view s, size_t& pos, uint32_t max, size_t max_digits, uint32_t& out) {
    size_t digits = 0;
    uint32_t value = 0;
    while (pos < s.size() && is_digit(s[pos])) {
        if (++digits > max_digits) {
            return false;
        }
        value = value * 10 + static_cast<uint32_t>(s[pos++] - '0');
    }
    if (digits == 0 || value > max) {
        return false;
    }
    out = value;
    return true;
}

bool expect(std::string_view s, size_t& pos, char c) {
    if (pos < s.size() && s[pos] == c) {
        ++pos;
        return true;
    }
    return false;
}

uint32_t address_from_bytes(const uint32_t (&b)[4]) {
    const uint8_t bytes[4] = {static_cast<uint8_t>(b[0]), static_cast<uint8_t>(b[1]),
                              static_cast<uint8_t>(b[2]), static_cast<uint8_t>(b[3])};
    uint32_t raw;
    std::memcpy(&raw, bytes, sizeof raw);
    return raw;
}

uint16_t port_raw(uint32_t port) {
    return __builtin_bswap16(static_cast<uint16_t>(port));
}

// "h1,h2,h3,h4,p1,p2" at `pos` (RFC 959 4.1.2), each number 0..255, the port not 0.
bool read_host_port(std::string_view s, size_t pos, Scan& out) {
    const size_t start = pos;
    uint32_t n[6];
    for (size_t i = 0; i < 6; ++i) {
        if ((i > 0 && !expect(s, pos, ',')) || !read_number(s, pos, 255, 3, n[i])) {
            return false;
        }
    }
    const uint32_t port = n[4] << 8 | n[5];
    if (port == 0) {
        return false;
    }
    out.address = address_from_bytes({n[0], n[1], n[2], n[3]});
    out.port = port_raw(port);
    out.text_offset = static_cast<uint16_t>(start);
    out.text_length = static_cast<uint16_t>(pos - start);
    return true;
}

// A port between delimiters: "<port><d>", 1..65535.
bool read_delimited_port(std::string_view s, size_t& pos, char delimiter, uint16_t& port) {
    uint32_t value;
    if (!read_number(s, pos, 65535, 5, value) || value == 0 || !expect(s, pos, delimiter)) {
        return false;
    }
    port = port_raw(value);
    return true;
}

// RFC 1123 4.1.2.6: the numbers of a 227 reply start at its first digit after the code.
Event parse_passive(std::string_view line, Scan& out) {
    size_t pos = kPassive.size();
    while (pos < line.size() && !is_digit(line[pos])) {
        ++pos;
    }
    return read_host_port(line, pos, out) ? Event::passive : Event::malformed;
}

// RFC 2428 3: "229 text (<d><d><d><port><d>)".
Event parse_extended_passive(std::string_view line, Scan& out) {
    size_t pos = line.find('(', kExtendedPassive.size());
    if (pos == std::string_view::npos || pos + 4 > line.size()) {
        return Event::malformed;
    }
    const char d = line[++pos];
    if (!expect(line, pos, d) || !expect(line, pos, d) || !expect(line, pos, d) ||
        !read_delimited_port(line, pos, d, out.port) || !expect(line, pos, ')')) {
        return Event::malformed;
    }
    return Event::extended_passive;
}

Event parse_port(std::string_view line, Scan& out) {
    size_t pos = kPort.size();
    while (pos < line.size() && line[pos] == ' ') {
        ++pos;
    }
    return read_host_port(line, pos, out) ? Event::active : Event::malformed;
}

// EPRT's family 1 address, "a.b.c.d" (RFC 2428 2), followed by the delimiter `d`.
bool read_dotted_address(std::string_view s, size_t& pos, char d, uint32_t& address) {
    uint32_t b[4];
    for (size_t i = 0; i < 4; ++i) {
        if ((i > 0 && !expect(s, pos, '.')) || !read_number(s, pos, 255, 3, b[i])) {
            return false;
        }
    }
    if (!expect(s, pos, d)) {
        return false;
    }
    address = address_from_bytes(b);
    return true;
}

// EPRT's family 2 address, in any of IPv6's text forms (RFC 4291 2.2), up to the delimiter `d`.
bool read_ipv6_address(std::string_view s, size_t& pos, char d, Ipv6& address) {
    const size_t end = s.find(d, pos);
    char text[INET6_ADDRSTRLEN];
    if (end == std::string_view::npos || end - pos >= sizeof(text)) {
        return false;
    }
    s.copy(text, end - pos, pos);
    text[end - pos] = '\0';  // inet_pton reads a C string
    if (inet_pton(AF_INET6, text, address.data()) != 1) {
        return false;
    }
    pos = end + 1;
    return true;
}

// RFC 2428 2: "EPRT <d><family><d><address><d><port><d>", family 1 (IPv4) or 2 (IPv6).
Event parse_extended_port(std::string_view line, Scan& out) {
    size_t pos = kEprt.size();
    while (pos < line.size() && line[pos] == ' ') {
        ++pos;
    }
    if (pos >= line.size() || line[pos] < 33 || line[pos] > 126) {
        return Event::malformed;
    }
    const char d = line[pos++];
    out.ipv6 = expect(line, pos, '2');
    if (!out.ipv6 && !expect(line, pos, '1')) {
        return Event::malformed;
    }
    const bool address_read =
        expect(line, pos, d) && (out.ipv6 ? read_ipv6_address(line, pos, d, out.address6)
                                          : read_dotted_address(line, pos, d, out.address));
    if (!address_read || !read_delimited_port(line, pos, d, out.port)) {
        return Event::malformed;
    }
    return Event::extended_active;
}

Event parse_line(std::string_view line, Direction direction, Scan& out) {
    if (direction == Direction::from_client) {
        if (starts_with(line, kPort)) {
            return parse_port(line, out);
        }
        if (starts_with(line, kEprt)) {
            return parse_extended_port(line, out);
        }
        return Event::none;
    }
    if (starts_with(line, kPassive)) {
        return parse_passive(line, out);
    }
    if (starts_with(line, kExtendedPassive)) {
        return parse_extended_passive(line, out);
    }
    return Event::none;
}

}  // namespace

Scan scan(const uint8_t* payload, size_t length, Direction direction) {
    const std::string_view text(reinterpret_cast<const char*>(payload), length);
    size_t start = 0;
    while (start < text.size()) {
        const size_t newline = text.find('\n', start);
        if (newline == std::string_view::npos) {
            Scan split;
            if (may_be_watched(text.substr(start), direction)) {
                split.event = Event::split;
            }
            return split;
        }
        Scan found;
        found.event = parse_line(text.substr(start, newline - start), direction, found);
        if (found.event != Event::none) {
            found.text_offset = static_cast<uint16_t>(found.text_offset + start);
            return found;
        }
        start = newline + 1;
    }
    return {};
}

size_t format_host_port(uint32_t address, uint16_t port, char* out) {
    uint8_t b[4];
    std::memcpy(b, &address, sizeof b);
    const uint16_t host_port = __builtin_bswap16(port);
    const uint32_t numbers[6] = {
        b[0], b[1], b[2], b[3], uint32_t{host_port} >> 8, uint32_t{host_port} & 0xffu};
    size_t n = 0;
    for (size_t i = 0; i < 6; ++i) {
        if (i > 0) {
            out[n++] = ',';
        }
        const uint32_t v = numbers[i];
        if (v >= 100) {
            out[n++] = static_cast<char>('0' + v / 100);
        }
        if (v >= 10) {
            out[n++] = static_cast<char>('0' + v / 10 % 10);
        }
        out[n++] = static_cast<char>('0' + v % 10);
    }
    return n;
}

}  // namespace vsnat::dp::ftp
