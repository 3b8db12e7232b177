#include "cp/held_addresses.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "io/netns.hpp"
#include "io/rtnetlink.hpp"

namespace vsnat::cp {

bool HeldAddresses::start(const io::NetworkNamespace& ns, const std::vector<std::string>& mirrors,
                          std::string& error) {
    auto netlink = io::RtNetlink::open(ns, error);
    if (!netlink) {
        return false;
    }
    for (const std::string& name : mirrors) {
        const auto index = netlink->link_index(name, error);
        if (!index) {
            return false;
        }
        mirror_indexes_.push_back(*index);
    }
    watch_ = io::AddressWatch::open(ns, error);
    if (!watch_) {
        error = "ha.addresses follow_kernel: " + error;
        return false;
    }
    return true;
}

bool HeldAddresses::held(const IpAddress& address) const {
    return watch_ && std::any_of(mirror_indexes_.begin(), mirror_indexes_.end(),
                                 [&](int index) { return watch_->has(index, address); });
}

std::set<IpAddress> HeldAddresses::held_of(const Config& config) const {
    std::set<IpAddress> out = shared_addresses(config);
    std::erase_if(out, [this](const IpAddress& a) { return !held(a); });
    return out;
}

bool HeldAddresses::poll(const Config& config) {
    if (!watch_) {
        return false;
    }
    bool changed = false;
    std::string error;
    if (!watch_->poll(changed, error)) {
        spdlog::error("ha.addresses follow_kernel: {}", error);
        return false;
    }
    std::set<IpAddress> now = held_of(config);
    if (now == last_) {
        return false;
    }
    for (const IpAddress& a : now) {
        if (last_.count(a) == 0) {
            spdlog::info("ha: {} is on a kernel mirror: served from now on", format_ip_address(a));
        }
    }
    for (const IpAddress& a : last_) {
        if (now.count(a) == 0) {
            spdlog::info("ha: {} left the kernel mirrors: no longer served", format_ip_address(a));
        }
    }
    last_ = std::move(now);
    return true;
}

}  // namespace vsnat::cp
