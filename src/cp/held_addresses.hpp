// `ha.addresses: follow_kernel` (README.md, "A pair of directors"): the VIPs and floating
// addresses vsnatd serves are those its kernel mirrors hold, which keepalived adds on the
// master and removes on the backup; read from the kernel as it changes (io::AddressWatch).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cp/config.hpp"
#include "io/address_watch.hpp"

namespace vsnat::io {
class NetworkNamespace;
}

namespace vsnat::cp {

/// Control thread only.
class HeldAddresses {
  public:
    /// Watches the addresses of the interfaces named `mirrors` in `ns`. False with `error` set
    /// to one line on failure.
    bool start(const io::NetworkNamespace& ns, const std::vector<std::string>& mirrors,
               std::string& error);
    bool active() const { return watch_.has_value(); }

    /// Whether a mirror holds `address` (an IPv4 one in host byte order).
    bool held(const IpAddress& address) const;

    /// Reads the kernel's notices. True when a VIP or floating address of `config` was taken
    /// or released (each logged once), so that what is served must change.
    bool poll(const Config& config);

  private:
    std::set<IpAddress> held_of(const Config& config) const;

    std::optional<io::AddressWatch> watch_;
    std::vector<int> mirror_indexes_;
    std::set<IpAddress> last_;  // held_of at the last poll
};

}  // namespace vsnat::cp
