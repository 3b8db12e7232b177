#include "cp/vip_advertiser.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cp/config.hpp"

namespace vsnat::cp {

VipAdvertiser::~VipAdvertiser() {
    stop();
}

// A TAP interface of kInterface's name in vsnatd's own namespace, alive while tap_fd_ is open.
bool VipAdvertiser::make_tap(std::string& error) {
    tap_fd_ = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (tap_fd_ < 0) {
        error = std::string("cannot open /dev/net/tun: ") + std::strerror(errno);
        return false;
    }
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, kInterface, IFNAMSIZ - 1);
    if (::ioctl(tap_fd_, TUNSETIFF, &ifr) != 0) {
        error = std::string("cannot make interface ") + kInterface + ": " + std::strerror(errno);
        return false;
    }
    return true;
}

bool VipAdvertiser::start(const io::NetworkNamespace& ns, std::string& error) {
    const std::string doing = std::string("VIP advertisement: ");
    auto there = io::RtNetlink::open(ns, error);
    if (!there) {
        error = doing + error;
        return false;
    }
    std::string ignored;
    if (auto leftover = there->link_index(kInterface, ignored)) {
        spdlog::warn("VIP advertisement: replacing the {} left in {}", kInterface, ns.describe());
        there->delete_link(*leftover, ignored);
    }
    auto own = io::NetworkNamespace::current(error);
    auto here = own ? io::RtNetlink::open(*own, error) : std::nullopt;
    std::optional<int> index;
    const bool made = here && make_tap(error) && (index = here->link_index(kInterface, error)) &&
                      here->move_link(*index, ns, error) &&
                      (index = there->link_index(kInterface, error)) &&
                      there->set_up(*index, true, error);
    if (!made) {
        error = doing + error;
        stop();
        return false;
    }
    index_ = *index;
    netlink_ = std::move(there);
    spdlog::info("VIP advertisement: interface {} in {}", kInterface, ns.describe());
    return true;
}

bool VipAdvertiser::change(const IpAddress& vip, bool add, std::string& error) {
    if (vip.is_v6) {
        return add ? netlink_->add_address(index_, vip.v6, 128, error)
                   : netlink_->delete_address(index_, vip.v6, 128, error);
    }
    return add ? netlink_->add_address(index_, vip.v4, 32, error)
               : netlink_->delete_address(index_, vip.v4, 32, error);
}

void VipAdvertiser::advertise(const std::set<IpAddress>& vips) {
    if (!active()) {
        return;
    }
    std::string error;
    for (auto it = advertised_.begin(); it != advertised_.end();) {
        if (vips.count(*it) == 0) {
            if (!change(*it, false, error)) {
                spdlog::error("VIP advertisement: {}", error);
                ++it;
                continue;
            }
            spdlog::info("VIP advertisement: {} withdrawn (no real server up)",
                         format_ip_address(*it));
            it = advertised_.erase(it);
        } else {
            ++it;
        }
    }
    for (const IpAddress& vip : vips) {
        if (advertised_.count(vip) != 0) {
            continue;
        }
        if (!change(vip, true, error)) {
            spdlog::error("VIP advertisement: {}", error);
            continue;
        }
        spdlog::info("VIP advertisement: {} advertised", format_ip_address(vip));
        advertised_.insert(vip);
    }
}

void VipAdvertiser::stop() {
    if (tap_fd_ >= 0) {
        ::close(tap_fd_);  // the kernel removes the interface, its addresses and routes
    }
    tap_fd_ = -1;
    index_ = -1;
    netlink_.reset();
    advertised_.clear();
}

}  // namespace vsnat::cp
