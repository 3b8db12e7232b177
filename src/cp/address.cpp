#include "cp/address.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace vsnat::cp {
namespace {

// One decimal octet: 1 to 3 digits, no leading zero ("010" is octal to inet_aton and decimal
// to a reader: refuse rather than guess), at most 255.
std::optional<uint8_t> parse_octet(std::string_view text) {
    if (text.empty() || text.size() > 3 || (text.size() > 1 && text[0] == '0') ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    unsigned value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value <= 255 ? std::optional<uint8_t>(static_cast<uint8_t>(value)) : std::nullopt;
}

// One group: 1 to 4 hex digits, either case.
std::optional<uint16_t> parse_group(std::string_view text) {
    const auto hex = [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    };
    if (text.empty() || text.size() > 4 || !std::all_of(text.begin(), text.end(), hex)) {
        return std::nullopt;
    }
    uint16_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value, 16);
    return value;
}

}  // namespace

std::string format_ipv4(Ipv4 address) {
    return std::to_string(address >> 24) + "." + std::to_string((address >> 16) & 0xff) + "." +
           std::to_string((address >> 8) & 0xff) + "." + std::to_string(address & 0xff);
}

std::optional<Ipv4> parse_ipv4(std::string_view text) {
    Ipv4 address = 0;
    for (int octet = 0; octet < 4; ++octet) {
        const size_t dot = octet < 3 ? text.find('.') : text.size();
        if (dot == std::string_view::npos) {
            return std::nullopt;
        }
        const std::optional<uint8_t> value = parse_octet(text.substr(0, dot));
        if (!value) {
            return std::nullopt;
        }
        address = address << 8 | *value;
        text.remove_prefix(std::min(dot + 1, text.size()));
    }
    return address;
}

std::string format_ipv6(const Ipv6& address) {
    std::array<uint16_t, 8> groups{};
    for (size_t i = 0; i < groups.size(); ++i) {
        groups[i] = static_cast<uint16_t>(address[2 * i] << 8 | address[2 * i + 1]);
    }
    constexpr std::array<uint16_t, 6> kMapped{0, 0, 0, 0, 0, 0xffff};  // ::ffff:0:0/96
    if (std::equal(kMapped.begin(), kMapped.end(), groups.begin())) {
        return "::ffff:" + format_ipv4(static_cast<Ipv4>(groups[6]) << 16 | groups[7]);
    }
    // The longest run of zero groups, the first of equals; one group alone is not shortened.
    size_t best = groups.size();
    size_t best_length = 1;
    for (size_t i = 0; i < groups.size();) {
        size_t end = i;
        while (end < groups.size() && groups[end] == 0) {
            ++end;
        }
        if (end - i > best_length) {
            best = i;
            best_length = end - i;
        }
        i = std::max(end, i + 1);
    }
    std::string out;
    for (size_t i = 0; i < groups.size();) {
        if (i == best) {
            out += "::";
            i += best_length;
            continue;
        }
        if (!out.empty() && out.back() != ':') {
            out += ':';
        }
        char hex[4];
        const auto [end, ec] = std::to_chars(hex, hex + sizeof hex, groups[i], 16);
        out.append(hex, end);
        ++i;
    }
    return out;
}

std::optional<Ipv6> parse_ipv6(std::string_view text) {
    std::array<uint16_t, 8> groups{};
    size_t count = 0;
    std::optional<size_t> gap;  // where "::" stands, in groups
    if (text.starts_with("::")) {
        gap = 0;
        text.remove_prefix(2);
    }
    while (!text.empty()) {
        const size_t colon = text.find(':');
        const std::string_view part = text.substr(0, colon);
        if (part.find('.') != std::string_view::npos) {  // the last 32 bits as a dotted quad
            const std::optional<Ipv4> v4 = parse_ipv4(part);
            if (colon != std::string_view::npos || count > 6 || !v4) {
                return std::nullopt;
            }
            groups[count++] = static_cast<uint16_t>(*v4 >> 16);
            groups[count++] = static_cast<uint16_t>(*v4);
            break;
        }
        const std::optional<uint16_t> group = parse_group(part);
        if (!group || count == groups.size()) {
            return std::nullopt;
        }
        groups[count++] = *group;
        if (colon == std::string_view::npos) {
            break;
        }
        text.remove_prefix(colon + 1);
        if (text.starts_with(':')) {
            if (gap) {
                return std::nullopt;  // a second "::"
            }
            gap = count;
            text.remove_prefix(1);
        } else if (text.empty()) {
            return std::nullopt;  // a ':' at the end
        }
    }
    if (gap) {
        if (count == groups.size()) {
            return std::nullopt;  // "::" stands for at least one group
        }
        std::copy_backward(groups.begin() + static_cast<ptrdiff_t>(*gap),
                           groups.begin() + static_cast<ptrdiff_t>(count), groups.end());
        std::fill(groups.begin() + static_cast<ptrdiff_t>(*gap),
                  groups.end() - static_cast<ptrdiff_t>(count - *gap), uint16_t{0});
    } else if (count != groups.size()) {
        return std::nullopt;
    }
    Ipv6 address{};
    for (size_t i = 0; i < groups.size(); ++i) {
        address[2 * i] = static_cast<uint8_t>(groups[i] >> 8);
        address[2 * i + 1] = static_cast<uint8_t>(groups[i]);
    }
    return address;
}

std::string format_ip_address(const IpAddress& address) {
    return address.is_v6 ? format_ipv6(address.v6) : format_ipv4(address.v4);
}

std::optional<IpAddress> parse_ip_address(std::string_view text) {
    if (text.find(':') != std::string_view::npos) {
        const std::optional<Ipv6> v6 = parse_ipv6(text);
        return v6 ? std::optional(IpAddress::of(*v6)) : std::nullopt;
    }
    const std::optional<Ipv4> v4 = parse_ipv4(text);
    return v4 ? std::optional(IpAddress::of(*v4)) : std::nullopt;
}

std::string format_endpoint(const IpAddress& address, uint16_t port) {
    const std::string text = format_ip_address(address);
    return (address.is_v6 ? "[" + text + "]" : text) + ":" + std::to_string(port);
}

}  // namespace vsnat::cp
