// Plain types shared by the dataplane, the control thread and the tools.
#pragma once

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vsnat {

/// An IPv4 address in host byte order (10.0.0.1 == 0x0a000001).
using Ipv4 = uint32_t;

/// An IPv6 address: its 16 bytes in network order, as in the packet.
using Ipv6 = std::array<uint8_t, 16>;

/// An IPv6 address of the director's with its prefix length ("2001:2:0:19::1/64"): its own
/// address on a link, and the link's connected prefix.
struct Prefix6 {
    Ipv6 address{};
    uint8_t length = 64;  // 0..128

    /// Whether `a` is inside the prefix. Any thread.
    constexpr bool holds(const Ipv6& a) const {
        const size_t whole = length / 8;
        if (!std::equal(a.begin(), a.begin() + static_cast<ptrdiff_t>(whole), address.begin())) {
            return false;
        }
        const unsigned rest = length % 8;
        if (rest == 0) {
            return true;
        }
        const auto mask = static_cast<uint8_t>(0xff00 >> rest);
        return ((a[whole] ^ address[whole]) & mask) == 0;
    }
    bool operator==(const Prefix6&) const = default;
};

/// The netmask of IPv6 prefix length `length` (0..128): its first `length` bits set. Any thread.
constexpr Ipv6 prefix6_netmask(uint8_t length) {
    Ipv6 mask{};
    for (size_t i = 0; i < mask.size(); ++i) {
        const size_t bits = length > 8 * i ? std::min<size_t>(length - 8 * i, 8) : 0;
        mask[i] = static_cast<uint8_t>(0xff00u >> bits);
    }
    return mask;
}

/// `address` with the bits `mask` clears cleared. Any thread.
constexpr Ipv6 masked(const Ipv6& address, const Ipv6& mask) {
    Ipv6 out{};
    for (size_t i = 0; i < out.size(); ++i) {
        out[i] = static_cast<uint8_t>(address[i] & mask[i]);
    }
    return out;
}

/// An IPv4 or an IPv6 address, as the configuration writes them: `v4` holds an IPv4 one (and
/// `v6` is zero), `v6` an IPv6 one (and `v4` is zero). Ordered IPv4 first, then by value.
struct IpAddress {
    bool is_v6 = false;
    Ipv4 v4 = 0;  // host order
    Ipv6 v6{};    // network order

    static constexpr IpAddress of(Ipv4 address) { return IpAddress{false, address, {}}; }
    static constexpr IpAddress of(const Ipv6& address) { return IpAddress{true, 0, address}; }

    bool operator==(const IpAddress&) const = default;
    auto operator<=>(const IpAddress&) const = default;
};

enum class Protocol : uint8_t { tcp = 6, udp = 17 };

using MacAddress = std::array<uint8_t, 6>;

/// Why a packet was not forwarded. Every drop is counted under exactly one reason.
/// One list, so the names can never fall out of step with the values.
#define VSNAT_DROP_REASONS(X)                                                                      \
    /* parser */                                                                                   \
    X(frame_truncated)      /* shorter than the headers it announces */                            \
    X(unsupported_l2)       /* an ethertype we do not handle, or a second VLAN tag */              \
    X(bad_ip_version)       /* IPv4 header with version != 4, IPv6 with version != 6 */            \
    X(bad_ip_header_length) /* IHL < 5 or beyond the frame */                                      \
    X(bad_ip_total_length)  /* total (IPv6: payload) length below the header, or beyond the frame  \
                             */                                                                    \
    X(bad_extension_header) /* an IPv6 extension header cut short, misplaced or not understood */  \
    X(extension_chain_too_long) /* more IPv6 extension headers than the parser walks */            \
    X(bad_fragment)             /* an IPv6 fragment header with an impossible offset or length */  \
    X(bad_ip_checksum)          /* received IPv4 header checksum is wrong */                       \
    X(ip_fragment)    /* under `fragments: drop`; or of no TCP/UDP connection we forward */        \
    X(bad_l4_header)  /* TCP data offset < 5 or L4 header beyond the datagram */                   \
    X(unsupported_l4) /* an IP protocol we do not balance */                                       \
    X(bad_arp)        /* ARP that is not Ethernet/IPv4 */                                          \
    X(bad_nd)         /* IPv6 neighbor discovery that RFC 4861 says to ignore */                   \
    X(multi_segment)  /* a chained mbuf: headers are only read from one segment */                 \
    /* forwarding */                                                                               \
    X(ttl_expired)     /* TTL would reach zero on forwarding */                                    \
    X(no_service)      /* to a VIP port no service offers (rejected: RST / unreachable) */         \
    X(no_connection)   /* not a SYN, and no tracked connection */                                  \
    X(no_real_server)  /* no real server available (rejected: RST / unreachable) */                \
    X(table_full)      /* the connection table has no room for a new connection */                 \
    X(flow_conflict)   /* the new connection's reply key belongs to another connection */          \
    X(no_route)        /* no interface or gateway reaches the destination */                       \
    X(no_neighbor)     /* next hop's MAC address is not resolved yet (ARP sent) */                 \
    X(not_for_us)      /* neither a VIP, a tracked reply, nor our own address */                   \
    X(not_our_mac)     /* IPv4 sent to a broadcast, multicast or another host's MAC */             \
    X(bad_source)      /* a source no client has: 0/8, 127/8, class D/E, or ours */                \
    X(arp_claims_ours) /* ARP whose sender claims a VIP or the director's address */               \
    X(reverse_path)    /* its source is not routed back out of the interface it came in on */      \
    X(protocol_share)  /* a new connection of a protocol that holds its table share */             \
    X(prefix_share)    /* a new connection from a source prefix that holds its table share */      \
    X(over_mtu)        /* larger than the link it would leave by (DF: fragmentation needed) */     \
    X(to_director)    /* TCP/UDP to the director's own address, on a port without kernel mirror */ \
    X(icmp_untracked) /* an ICMP error about no tracked connection, or ICMP not answered */        \
    X(rate_limited)   /* a reply the director would build (RST, unreachable), over reject_rate */  \
    X(no_mbuf)        /* no buffer for a packet the director had to build */                       \
    X(tx_full)        /* the port refused the packet */                                            \
    X(handover_full)  /* the owning worker's handover ring was full */                             \
    X(drained)        /* its real server was removed, under `drain: drop` */                       \
    X(helper_full)    /* no FTP helper state left for a new control connection */                  \
    X(bad_l4_checksum)    /* a segment the FTP helper must rewrite has a wrong checksum */         \
    X(kernel_full)        /* for the kernel mirror, whose queue from this worker was full */       \
    X(fragment_timeout)   /* a later fragment whose first did not come within 1 s */               \
    X(fragment_hold_full) /* a later fragment before its first, with no room to hold it */

enum class DropReason : uint8_t {
#define VSNAT_ENUM_VALUE(name) name,
    VSNAT_DROP_REASONS(VSNAT_ENUM_VALUE)
#undef VSNAT_ENUM_VALUE
        count_  // number of reasons, not a reason
};

constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::count_);

constexpr std::string_view drop_reason_name(DropReason r) {
    constexpr std::array<std::string_view, kDropReasonCount> names = {
#define VSNAT_NAME(name) #name,
        VSNAT_DROP_REASONS(VSNAT_NAME)
#undef VSNAT_NAME
    };
    return names[static_cast<size_t>(r)];
}

}  // namespace vsnat
