// Next-hop resolution for the control thread: the neighbor table's one writer. It applies the
// static neighbors, has worker 0 ask for every next hop the configuration needs (real servers,
// gateways) until it answers, then now and again, learns from ARP only what the director needs,
// and ages the rest out (docs/ARCHITECTURE.md, "The neighbor table").
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <span>
#include <vector>

#include "cp/config.hpp"
#include "cp/snapshot_builder.hpp"
#include "dp/neighbor.hpp"
#include "dp/pipeline.hpp"
#include "dp/snapshot.hpp"

struct rte_ring;

namespace vsnat::cp {

class NeighborResolver {
  public:
    /// How long an address a worker or the resolver asked for is awaited: an answer after that
    /// is unsolicited (a held packet waits 1 s).
    static constexpr uint64_t kAwaitMs = 3000;
    /// The table is aged this often.
    static constexpr uint64_t kAgingIntervalMs = 1000;
    /// Neighbor changes are logged one by one up to kLogLines per kLogWindowMs; past that they
    /// are counted, and one summary line with the counts ends the window.
    static constexpr uint64_t kLogWindowMs = 5000;
    static constexpr uint32_t kLogLines = 4;

    NeighborResolver();

    /// The table the workers read. Any thread.
    const dp::NeighborTable& table() const { return table_; }

    /// Takes a configuration in force: sets its static neighbors and lists the next hops to
    /// resolve; entries that were static or next hops and are no more start aging at `now_ms`.
    /// Control thread, at start-up and after each applied reload.
    void configure(const Config& config, const std::vector<PortBinding>& ports,
                   const dp::Snapshot& snapshot, uint64_t now_ms);

    /// take() what the workers put on `sightings`, then request() with orders for worker 0 on
    /// `arp_orders`, then the log summary if one is due. Control thread, each tick.
    void poll(rte_ring* sightings, rte_ring* arp_orders, uint64_t now_ms);

    /// Takes the workers' reports, in order. An address a worker asked for is awaited for
    /// kAwaitMs. An ARP sighting is written to the table if its sender is a next hop, already in
    /// the table, or awaited; any other is ignored (counted in the log summary). Static
    /// neighbors are never changed. Control thread.
    void take(std::span<const dp::NeighborSighting> reports, uint64_t now_ms);

    /// ARP requests due at `now_ms`: unresolved next hops each second, resolved ones every 30 s
    /// (so a replaced server's new MAC is learned), and the aging pass's probes of learned
    /// neighbors in use (each kAgingIntervalMs). `send(port_id, ip)` queues one request and
    /// returns false when it cannot (it is asked again later); each one sent is awaited.
    /// Control thread.
    void request(uint64_t now_ms, const std::function<bool(uint16_t, uint32_t)>& send);

    /// Writes the summary of what was not logged one by one, once its window is over. Control
    /// thread; poll() calls it.
    void flush_log(uint64_t now_ms);

  private:
    struct NextHop {
        uint16_t port_id;
        uint32_t ip;  // network order
        uint64_t last_request_ms = 0;
    };
    // One line per event while the window has lines left; then counts for the summary.
    enum class Event : uint8_t { learned, changed, expired, full, ignored, count_ };
    struct Awaited {
        uint64_t key = 0;  // 0: none
        uint64_t since_ms = 0;
    };

    static uint64_t key_of(uint16_t port_id, uint32_t ip) {
        return (1ULL << 63) | (static_cast<uint64_t>(port_id) << 32) | ip;
    }
    void await(uint16_t port_id, uint32_t ip, uint64_t now_ms);
    bool awaited(uint16_t port_id, uint32_t ip, uint64_t now_ms) const;
    // Whether the event may have its own line now; counts it for the summary otherwise.
    bool may_log(Event event, uint64_t now_ms);

    dp::NeighborTable table_;
    std::set<uint32_t> static_ips_;  // network order: never overwritten by what ARP says
    std::vector<NextHop> next_hops_;
    std::set<uint64_t> next_hop_keys_;  // key_of(port, ip) of each next hop
    // Addresses asked for lately, one direct-mapped slot each: a newer request takes a
    // colliding slot, whose answer then goes unlearned (and is asked for again).
    std::vector<Awaited> awaited_;
    uint64_t last_aging_ms_ = 0;
    uint64_t log_window_ms_ = 0;
    uint32_t log_lines_ = 0;
    uint64_t unlogged_[static_cast<size_t>(Event::count_)] = {};
};

}  // namespace vsnat::cp
