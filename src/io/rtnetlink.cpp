#include "io/rtnetlink.hpp"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "io/netns.hpp"

namespace vsnat::io {
namespace {

// Large enough for any answer these requests get (one link's attributes with its statistics).
constexpr size_t kReceiveBuffer = 32 * 1024;

std::string ipv4_text(Ipv4 a) {
    char s[INET_ADDRSTRLEN];
    std::snprintf(s, sizeof(s), "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff,
                  a & 0xff);
    return s;
}

std::string ipv6_text(const Ipv6& a) {
    char s[INET6_ADDRSTRLEN];
    return inet_ntop(AF_INET6, a.data(), s, sizeof(s));
}

std::string mac_text(const MacAddress& m) {
    char s[18];
    std::snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                  m[5]);
    return s;
}

// The kernel's own words in an extended acknowledgement (NETLINK_EXT_ACK, Linux 4.12), or "".
std::string kernel_message(const nlmsghdr* h) {
    if ((h->nlmsg_flags & NLM_F_ACK_TLVS) == 0) {
        return "";
    }
    const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
    // After the error: the request's header (NLM_F_CAPPED, asked for with NETLINK_CAP_ACK) or
    // the whole request, then the attributes.
    size_t at = sizeof(nlmsgerr);
    if ((h->nlmsg_flags & NLM_F_CAPPED) == 0) {
        at += err->msg.nlmsg_len - sizeof(nlmsghdr);
    }
    const auto* data = static_cast<const uint8_t*>(NLMSG_DATA(h));
    const size_t end = h->nlmsg_len - NLMSG_HDRLEN;
    while (at + sizeof(nlattr) <= end) {
        const auto* a = reinterpret_cast<const nlattr*>(data + at);
        if (a->nla_len < sizeof(nlattr) || at + a->nla_len > end) {
            break;
        }
        if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
            const char* text = reinterpret_cast<const char*>(a) + NLA_HDRLEN;
            return std::string(text, strnlen(text, a->nla_len - NLA_HDRLEN));
        }
        at += NLA_ALIGN(a->nla_len);
    }
    return "";
}

}  // namespace

// One request: a netlink header, the request's fixed header (ifinfomsg, ifaddrmsg, rtmsg), its
// attributes. Always NLM_F_REQUEST | NLM_F_ACK.
class RtNetlink::Request {
  public:
    template <typename Header>
    Request(uint16_t type, uint16_t flags, const Header& header) {
        nlmsghdr* h = this->header();
        h->nlmsg_len = NLMSG_LENGTH(sizeof(Header));
        h->nlmsg_type = type;
        h->nlmsg_flags = static_cast<uint16_t>(flags | NLM_F_REQUEST | NLM_F_ACK);
        std::memcpy(NLMSG_DATA(h), &header, sizeof(Header));
    }

    void add(uint16_t type, const void* data, size_t size) {
        nlmsghdr* h = header();
        const size_t at = NLMSG_ALIGN(h->nlmsg_len);
        assert(at + RTA_SPACE(size) <= bytes_.size());
        auto* a = reinterpret_cast<rtattr*>(bytes_.data() + at);
        a->rta_type = type;
        a->rta_len = static_cast<uint16_t>(RTA_LENGTH(size));
        if (size > 0) {
            std::memcpy(RTA_DATA(a), data, size);
        }
        h->nlmsg_len = static_cast<uint32_t>(at + RTA_SPACE(size));
    }
    template <typename T>
    void add(uint16_t type, const T& value) {
        add(type, &value, sizeof(T));
    }
    void add(uint16_t type, const std::string& text) { add(type, text.c_str(), text.size() + 1); }

    /// Opens an attribute that holds attributes (IFLA_LINKINFO); the ones added until
    /// end_nested(what this returns) go inside it.
    size_t begin_nested(uint16_t type) {
        const size_t at = NLMSG_ALIGN(header()->nlmsg_len);
        add(type, nullptr, 0);
        return at;
    }
    void end_nested(size_t at) {
        auto* a = reinterpret_cast<rtattr*>(bytes_.data() + at);
        a->rta_len = static_cast<uint16_t>(header()->nlmsg_len - at);
    }

    nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(bytes_.data()); }

  private:
    alignas(nlmsghdr) std::array<uint8_t, 256> bytes_{};
};

std::optional<RtNetlink> RtNetlink::open(const NetworkNamespace& ns, std::string& error) {
    const int fd = ns.open_socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, error);
    if (fd < 0) {
        return std::nullopt;
    }
    // The kernel's reason in words, and acknowledgements that do not echo the request. Both
    // are optional: without them errors have only errno.
    const int one = 1;
    ::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    ::setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    RtNetlink nl(fd, ns.describe());
    nl.buffer_.resize(kReceiveBuffer);
    return nl;
}

bool RtNetlink::transact(Request& request, const std::string& doing, std::string& error,
                         std::vector<uint8_t>* reply) {
    nlmsghdr* req = request.header();
    req->nlmsg_seq = ++seq_;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd_.get(), req, req->nlmsg_len, 0, reinterpret_cast<const sockaddr*>(&kernel),
                 sizeof(kernel)) < 0) {
        error = doing + ": cannot send to the kernel: " + std::strerror(errno);
        return false;
    }
    for (;;) {
        const ssize_t n = ::recv(fd_.get(), buffer_.data(), buffer_.size(), MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error = doing + ": no answer from the kernel: " + std::strerror(errno);
            return false;
        }
        if (static_cast<size_t>(n) > buffer_.size()) {
            error = doing + ": the kernel's answer (" + std::to_string(n) +
                    " bytes) did not fit the buffer";
            return false;
        }
        int left = static_cast<int>(n);
        for (auto* h = reinterpret_cast<const nlmsghdr*>(buffer_.data()); NLMSG_OK(h, left);
             h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_seq != seq_) {
                continue;  // an answer to an earlier request that gave up
            }
            if (h->nlmsg_type != NLMSG_ERROR) {
                if (reply != nullptr && reply->empty()) {
                    const auto* bytes = reinterpret_cast<const uint8_t*>(h);
                    reply->assign(bytes, bytes + h->nlmsg_len);
                }
                continue;
            }
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
                error = doing + ": a truncated answer from the kernel";
                return false;
            }
            const int code = static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
            if (code == 0) {
                return true;
            }
            error = doing + ": " + std::strerror(-code);
            if (const std::string said = kernel_message(h); !said.empty()) {
                error += " (" + said + ")";
            }
            return false;
        }
    }
}

std::optional<int> RtNetlink::link_index(const std::string& ifname, std::string& error) {
    const std::string doing = "cannot find interface " + ifname + " in " + where_;
    if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
        error =
            doing + ": an interface name has 1 to " + std::to_string(IFNAMSIZ - 1) + " characters";
        return std::nullopt;
    }
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    Request request(RTM_GETLINK, 0, ifi);
    request.add(IFLA_IFNAME, ifname.c_str(), ifname.size() + 1);
    const uint32_t skip_stats = RTEXT_FILTER_SKIP_STATS;
    request.add(IFLA_EXT_MASK, skip_stats);
    std::vector<uint8_t> reply;
    if (!transact(request, doing, error, &reply)) {
        return std::nullopt;
    }
    if (reply.size() < NLMSG_LENGTH(sizeof(ifinfomsg))) {
        error = doing + ": the kernel acknowledged without an answer";
        return std::nullopt;
    }
    ifinfomsg found{};
    std::memcpy(&found, reply.data() + NLMSG_HDRLEN, sizeof(found));
    return found.ifi_index;
}

bool RtNetlink::move_link(int ifindex, const NetworkNamespace& to, std::string& error) {
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = ifindex;
    Request request(RTM_SETLINK, 0, ifi);
    request.add(IFLA_NET_NS_FD, static_cast<uint32_t>(to.fd()));
    return transact(request,
                    "cannot move interface " + std::to_string(ifindex) + " from " + where_ +
                        " into " + to.describe(),
                    error);
}

bool RtNetlink::set_link(int ifindex, const MacAddress& mac, uint16_t mtu, std::string& error) {
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = ifindex;
    Request request(RTM_SETLINK, 0, ifi);
    request.add(IFLA_ADDRESS, mac.data(), mac.size());
    request.add(IFLA_MTU, static_cast<uint32_t>(mtu));
    return transact(request,
                    "cannot set MAC address " + mac_text(mac) + " and MTU " + std::to_string(mtu) +
                        " on interface " + std::to_string(ifindex) + " in " + where_,
                    error);
}

bool RtNetlink::set_up(int ifindex, bool up, std::string& error) {
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = ifindex;
    ifi.ifi_change = IFF_UP;
    ifi.ifi_flags = up ? IFF_UP : 0;
    Request request(RTM_SETLINK, 0, ifi);
    return transact(request,
                    std::string("cannot bring interface ") + std::to_string(ifindex) +
                        (up ? " up" : " down") + " in " + where_,
                    error);
}

bool RtNetlink::add_address(int ifindex, Ipv4 address, uint8_t prefix_len, std::string& error) {
    const std::string doing = "cannot add " + ipv4_text(address) + "/" +
                              std::to_string(prefix_len) + " to interface " +
                              std::to_string(ifindex) + " in " + where_;
    if (prefix_len > 32) {
        error = doing + ": a prefix length is at most 32";
        return false;
    }
    ifaddrmsg ifa{};
    ifa.ifa_family = AF_INET;
    ifa.ifa_prefixlen = prefix_len;
    ifa.ifa_scope = RT_SCOPE_UNIVERSE;
    ifa.ifa_index = static_cast<uint32_t>(ifindex);
    Request request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifa);
    const uint32_t local = htonl(address);
    request.add(IFA_LOCAL, local);
    request.add(IFA_ADDRESS, local);
    // `brd +`: iproute2 (ip/ipaddress.c) sets the host bits, and only for prefixes up to /30.
    if (prefix_len <= 30) {
        const Ipv4 host_bits = prefix_len == 0 ? ~Ipv4{0} : (Ipv4{1} << (32 - prefix_len)) - 1;
        request.add(IFA_BROADCAST, htonl(address | host_bits));
    }
    return transact(request, doing, error);
}

bool RtNetlink::add_address(int ifindex, const Ipv6& address, uint8_t prefix_len,
                            std::string& error) {
    const std::string doing = "cannot add " + ipv6_text(address) + "/" +
                              std::to_string(prefix_len) + " to interface " +
                              std::to_string(ifindex) + " in " + where_;
    if (prefix_len > 128) {
        error = doing + ": a prefix length is at most 128";
        return false;
    }
    ifaddrmsg ifa{};
    ifa.ifa_family = AF_INET6;
    ifa.ifa_prefixlen = prefix_len;
    ifa.ifa_flags = IFA_F_NODAD;
    ifa.ifa_scope = RT_SCOPE_UNIVERSE;
    ifa.ifa_index = static_cast<uint32_t>(ifindex);
    Request request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifa);
    request.add(IFA_LOCAL, address);
    request.add(IFA_ADDRESS, address);
    return transact(request, doing, error);
}

bool RtNetlink::add_default_route(int ifindex, Ipv4 gateway, uint32_t metric, std::string& error) {
    const uint32_t raw = htonl(gateway);
    return add_default(AF_INET, ifindex, &raw, sizeof(raw), ipv4_text(gateway), metric, error);
}

bool RtNetlink::add_default_route(int ifindex, const Ipv6& gateway, uint32_t metric,
                                  std::string& error) {
    return add_default(AF_INET6, ifindex, gateway.data(), gateway.size(), ipv6_text(gateway),
                       metric, error);
}

bool RtNetlink::add_default(uint8_t family, int ifindex, const void* gateway, size_t gateway_size,
                            const std::string& gateway_text, uint32_t metric, std::string& error) {
    rtmsg rtm{};
    rtm.rtm_family = family;
    rtm.rtm_dst_len = 0;
    rtm.rtm_table = RT_TABLE_MAIN;
    rtm.rtm_protocol = RTPROT_STATIC;
    rtm.rtm_scope = RT_SCOPE_UNIVERSE;
    rtm.rtm_type = RTN_UNICAST;
    Request request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, rtm);
    request.add(RTA_GATEWAY, gateway, gateway_size);
    request.add(RTA_OIF, static_cast<uint32_t>(ifindex));
    request.add(RTA_PRIORITY, metric);
    return transact(request,
                    "cannot add a default route via " + gateway_text + " metric " +
                        std::to_string(metric) + " out of interface " + std::to_string(ifindex) +
                        " in " + where_,
                    error);
}

bool RtNetlink::add_link(const std::string& ifname, const std::string& kind, std::string& error) {
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    Request request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifi);
    request.add(IFLA_IFNAME, ifname);
    const size_t info = request.begin_nested(IFLA_LINKINFO);
    request.add(IFLA_INFO_KIND, kind);
    request.end_nested(info);
    return transact(request,
                    "cannot add interface " + ifname + " of type " + kind + " in " + where_, error);
}

bool RtNetlink::delete_address(int ifindex, Ipv4 address, uint8_t prefix_len, std::string& error) {
    const uint32_t local = htonl(address);
    return delete_addr(AF_INET, ifindex, &local, sizeof(local), ipv4_text(address), prefix_len,
                       error);
}

bool RtNetlink::delete_address(int ifindex, const Ipv6& address, uint8_t prefix_len,
                               std::string& error) {
    return delete_addr(AF_INET6, ifindex, address.data(), address.size(), ipv6_text(address),
                       prefix_len, error);
}

bool RtNetlink::delete_addr(uint8_t family, int ifindex, const void* address, size_t address_size,
                            const std::string& address_text, uint8_t prefix_len,
                            std::string& error) {
    ifaddrmsg ifa{};
    ifa.ifa_family = family;
    ifa.ifa_prefixlen = prefix_len;
    ifa.ifa_index = static_cast<uint32_t>(ifindex);
    Request request(RTM_DELADDR, 0, ifa);
    request.add(IFA_LOCAL, address, address_size);
    request.add(IFA_ADDRESS, address, address_size);
    return transact(request,
                    "cannot remove " + address_text + "/" + std::to_string(prefix_len) +
                        " from interface " + std::to_string(ifindex) + " in " + where_,
                    error);
}

bool RtNetlink::delete_link(int ifindex, std::string& error) {
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = ifindex;
    Request request(RTM_DELLINK, 0, ifi);
    return transact(request, "cannot delete interface " + std::to_string(ifindex) + " in " + where_,
                    error);
}

}  // namespace vsnat::io
