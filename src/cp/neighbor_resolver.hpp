// Next-hop resolution for the control thread: the neighbor table's one writer. It applies the
// static neighbors, learns what the workers saw in ARP, and has worker 0 ask for every next hop
// the configuration needs (real servers, gateways) until it answers, then now and again.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "cp/config.hpp"
#include "cp/snapshot_builder.hpp"
#include "dp/neighbor.hpp"
#include "dp/snapshot.hpp"

struct rte_ring;

namespace vsnat::cp {

class NeighborResolver {
  public:
    /// The table the workers read. Any thread.
    const dp::NeighborTable& table() const { return table_; }

    /// Takes a configuration in force: sets its static neighbors and lists the next hops to
    /// resolve. Control thread, at start-up and after each applied reload.
    void configure(const Config& config, const std::vector<PortBinding>& ports,
                   const dp::Snapshot& snapshot);

    /// Learns the neighbors on the `sightings` ring, then puts an ARP order on `arp_orders` for
    /// each next hop that is due: unresolved ones each second, resolved ones every 30 s (so a
    /// replaced server's new MAC is learned). Control thread, each tick.
    void poll(rte_ring* sightings, rte_ring* arp_orders, uint64_t now_ms);

  private:
    struct NextHop {
        uint16_t port_id;
        uint32_t ip;  // network order
        uint64_t last_request_ms = 0;
    };
    void learn(rte_ring* sightings);
    void order(rte_ring* arp_orders, uint64_t now_ms);

    dp::NeighborTable table_;
    std::set<uint32_t> static_ips_;  // network order: never overwritten by what ARP says
    std::vector<NextHop> next_hops_;
};

}  // namespace vsnat::cp
