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

bool HeldAddresses::held(Ipv4 address) const {
    return watch_ && std::any_of(mirror_indexes_.begin(), mirror_indexes_.end(),
                                 [&](int index) { return watch_->has(index, address); });
}

std::set<Ipv4> HeldAddresses::held_of(const Config& config) const {
    std::set<Ipv4> out;
    for (const Service& s : config.services) {
        if (!s.vip.is_v6 && held(s.vip.v4)) {  // the address watch follows IPv4 addresses
            out.insert(s.vip.v4);
        }
    }
    for (const Interface& in : config.interfaces) {
        for (const Prefix& f : in.floating) {
            if (held(f.address)) {
                out.insert(f.address);
            }
        }
    }
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
    std::set<Ipv4> now = held_of(config);
    if (now == last_) {
        return false;
    }
    for (const Ipv4 a : now) {
        if (last_.count(a) == 0) {
            spdlog::info("ha: {} is on a kernel mirror: served from now on", format_ipv4(a));
        }
    }
    for (const Ipv4 a : last_) {
        if (now.count(a) == 0) {
            spdlog::info("ha: {} left the kernel mirrors: no longer served", format_ipv4(a));
        }
    }
    last_ = std::move(now);
    return true;
}

}  // namespace vsnat::cp
