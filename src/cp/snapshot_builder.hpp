// Turns a validated config into the dataplane's immutable snapshot.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cp/config.hpp"
#include "dp/snapshot.hpp"

namespace vsnat::cp {

/// Where each configured interface ended up: its DPDK port and MAC (by interface order).
struct PortBinding {
    uint16_t port_id = 0;
    MacAddress mac{};
};

/// What the dataplane of this build cannot do yet that the config asks for (a scheduler,
/// helper or persistence not implemented here), one message per problem. Empty when the config
/// can run.
std::vector<std::string> unsupported_features(const Config& config);

/// Builds the snapshot. Control thread only. Real servers get dest ids in config order.
std::unique_ptr<dp::Snapshot> build_snapshot(const Config& config,
                                             const std::vector<PortBinding>& ports,
                                             uint32_t workers);

/// Network-order form of a host-order address (the dataplane keeps packet byte order).
uint32_t to_network(Ipv4 address);

}  // namespace vsnat::cp
