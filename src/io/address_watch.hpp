// The IPv4 and IPv6 addresses of a network namespace's interfaces, as the kernel has them from
// moment to moment: a dump when opened, then the kernel's notices of each address added or
// removed (rtnetlink groups RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR). An IPv6 address counts
// from the moment the kernel lists it, tentative (duplicate address detection under way) or not:
// on the wire the dataplane, not the kernel, answers for it. What `ha.addresses: follow_kernel`
// reads: keepalived adding a VIP to a kernel mirror is what makes vsnatd serve it.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "io/unique_fd.hpp"
#include "vsnat/types.hpp"

namespace vsnat::io {

class NetworkNamespace;

/// Move-only; its socket closes with it. One thread at a time (the control thread).
class AddressWatch {
  public:
    /// Subscribes to the address notices of `ns`, then reads its addresses as they are. Returns
    /// nullopt with `error` set to one line on failure.
    static std::optional<AddressWatch> open(const NetworkNamespace& ns, std::string& error);

    /// Reads the notices that arrived since the last call, without waiting. Returns whether the
    /// addresses changed. When the kernel dropped notices (the socket's buffer overflowed), it
    /// reads every address again. False with `error` set when the kernel cannot be read.
    bool poll(bool& changed, std::string& error);

    /// Whether interface `ifindex` has `address` (an IPv4 one in host byte order).
    bool has(int ifindex, const IpAddress& address) const {
        return addresses_.count({ifindex, address}) != 0;
    }
    /// (interface index, address) of every IPv4 and IPv6 address in the namespace.
    const std::set<std::pair<int, IpAddress>>& addresses() const { return addresses_; }
    /// The socket, for a caller's poll loop: readable when notices wait.
    int fd() const { return fd_.get(); }

  private:
    AddressWatch(int fd, std::string where) : fd_(fd), where_(std::move(where)) {}
    bool dump(std::string& error);
    // Applies the messages in buffer_[0, n); sets `done` at the end of a dump.
    bool apply(size_t n, bool& done, std::string& error);

    UniqueFd fd_;
    uint32_t seq_ = 0;
    std::string where_;  // "network namespace NAME", for messages
    std::set<std::pair<int, IpAddress>> addresses_;
    std::vector<uint8_t> buffer_ = std::vector<uint8_t>(64 * 1024);
};

}  // namespace vsnat::io
