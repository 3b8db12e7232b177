#include "io/address_watch.hpp"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/netns.hpp"

namespace vsnat::io {
namespace {

// How long a dump may take to arrive: the kernel answers at once; this bounds a broken one.
constexpr int kDumpWaitMs = 2000;

// The address of an RTM_NEWADDR / RTM_DELADDR message: IFA_LOCAL, else IFA_ADDRESS (a
// point-to-point interface has both; a broadcast one, and an IPv6 one, may have only
// IFA_ADDRESS).
std::optional<IpAddress> address_of(const nlmsghdr* h) {
    const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
    const bool v6 = ifa->ifa_family == AF_INET6;
    if (!v6 && ifa->ifa_family != AF_INET) {
        return std::nullopt;
    }
    std::optional<IpAddress> local, address;
    int left = static_cast<int>(IFA_PAYLOAD(h));
    for (const rtattr* a = IFA_RTA(ifa); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
        if (RTA_PAYLOAD(a) != (v6 ? sizeof(Ipv6) : sizeof(uint32_t))) {
            continue;
        }
        IpAddress value;
        if (v6) {
            value = IpAddress::of(Ipv6{});
            std::memcpy(value.v6.data(), RTA_DATA(a), sizeof(Ipv6));
        } else {
            uint32_t raw;
            std::memcpy(&raw, RTA_DATA(a), sizeof(raw));
            value = IpAddress::of(Ipv4{ntohl(raw)});
        }
        if (a->rta_type == IFA_LOCAL) {
            local = value;
        } else if (a->rta_type == IFA_ADDRESS) {
            address = value;
        }
    }
    return local ? local : address;
}

}  // namespace

std::optional<AddressWatch> AddressWatch::open(const NetworkNamespace& ns, std::string& error) {
    const int fd = ns.open_socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_ROUTE, error);
    if (fd < 0) {
        return std::nullopt;
    }
    AddressWatch watch(fd, ns.describe());
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    // First: nothing said during the dump is lost.
    local.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
        error = "cannot watch the addresses of " + watch.where_ + ": " + std::strerror(errno);
        return std::nullopt;
    }
    if (!watch.dump(error)) {
        return std::nullopt;
    }
    return watch;
}

// Every IPv4 and IPv6 address of the namespace (RTM_GETADDR with NLM_F_DUMP), replacing what was
// known.
bool AddressWatch::dump(std::string& error) {
    struct {
        nlmsghdr header;
        ifaddrmsg ifa;
    } request{};
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
    request.header.nlmsg_type = RTM_GETADDR;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.header.nlmsg_seq = ++seq_;
    request.ifa.ifa_family = AF_UNSPEC;
    const std::string doing = "cannot read the addresses of " + where_;
    if (::send(fd_.get(), &request, request.header.nlmsg_len, 0) < 0) {
        error = doing + ": " + std::strerror(errno);
        return false;
    }
    addresses_.clear();
    for (bool done = false; !done;) {
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, kDumpWaitMs) <= 0) {
            error = doing + ": no answer from the kernel";
            return false;
        }
        const ssize_t n = ::recv(fd_.get(), buffer_.data(), buffer_.size(), 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            error = doing + ": " + std::strerror(errno);
            return false;
        }
        if (!apply(static_cast<size_t>(n), done, error)) {
            error = doing + ": " + error;
            return false;
        }
    }
    return true;
}

bool AddressWatch::apply(size_t n, bool& done, std::string& error) {
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buffer_.data()); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_type == NLMSG_DONE) {
            done = true;
        } else if (h->nlmsg_type == NLMSG_ERROR) {
            const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
            error = std::strerror(-err->error);
            return false;
        } else if (h->nlmsg_type == RTM_NEWADDR || h->nlmsg_type == RTM_DELADDR) {
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) {
                continue;
            }
            const auto ifindex =
                static_cast<int>(static_cast<const ifaddrmsg*>(NLMSG_DATA(h))->ifa_index);
            if (const auto address = address_of(h)) {
                if (h->nlmsg_type == RTM_NEWADDR) {
                    addresses_.insert({ifindex, *address});
                } else {
                    addresses_.erase({ifindex, *address});
                }
            }
        }
    }
    return true;
}

bool AddressWatch::poll(bool& changed, std::string& error) {
    const auto before = addresses_;
    for (;;) {
        const ssize_t n = ::recv(fd_.get(), buffer_.data(), buffer_.size(), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == ENOBUFS) {  // notices were lost: read the whole state again
            if (!dump(error)) {
                return false;
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        if (n < 0) {
            error = "cannot read the address notices of " + where_ + ": " + std::strerror(errno);
            return false;
        }
        bool done = false;
        if (!apply(static_cast<size_t>(n), done, error)) {
            error = "address notice of " + where_ + ": " + error;
            return false;
        }
    }
    changed = addresses_ != before;
    return true;
}

}  // namespace vsnat::io
