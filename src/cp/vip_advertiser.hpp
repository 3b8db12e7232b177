// VIP advertisement (README.md, "Health checks"): the VIPs being served, those with at least one
// real server up, as host addresses (IPv4 /32, IPv6 /128) of interface `vsnat-vips` in
// kernel_netns, so that a routing daemon there announces exactly them (BIRD's `protocol direct`)
// and withdraws a VIP whose servers are all down.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "io/netns.hpp"
#include "io/rtnetlink.hpp"
#include "vsnat/types.hpp"

namespace vsnat::cp {

/// The interface is a TAP device vsnatd holds open, not a dummy: the kernel removes it, and
/// with it every route it carries, when vsnatd ends however it ends, so that a routing daemon
/// never goes on announcing VIPs for a dead director. Control thread only.
class VipAdvertiser {
  public:
    static constexpr const char* kInterface = "vsnat-vips";

    VipAdvertiser() = default;
    ~VipAdvertiser();
    VipAdvertiser(const VipAdvertiser&) = delete;
    VipAdvertiser& operator=(const VipAdvertiser&) = delete;

    /// Makes the interface in `ns`, up and without addresses. A leftover of that name there is
    /// replaced. False, with `error` set to one line, on failure.
    bool start(const io::NetworkNamespace& ns, std::string& error);
    bool active() const { return tap_fd_ >= 0; }

    /// Makes the advertised VIPs exactly `vips` (IPv4 ones in host order): adds the new ones,
    /// withdraws the others, each logged once. A refused change is logged and tried again at the
    /// next call.
    void advertise(const std::set<IpAddress>& vips);
    const std::set<IpAddress>& advertised() const { return advertised_; }

    /// Removes the interface (its addresses go with it).
    void stop();

  private:
    bool make_tap(std::string& error);
    // Adds (or removes) `vip` as a host address of the interface.
    bool change(const IpAddress& vip, bool add, std::string& error);

    int tap_fd_ = -1;
    int index_ = -1;  // in the namespace
    std::optional<io::RtNetlink> netlink_;
    std::set<IpAddress> advertised_;
};

}  // namespace vsnat::cp
