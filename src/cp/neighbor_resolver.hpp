// Next-hop resolution for the control thread: the neighbor tables' one writer, for IPv4 (ARP)
// and IPv6 (neighbor discovery) alike. It applies the static neighbors, has worker 0 ask for
// every next hop the configuration needs (real servers, gateways) until it answers, then now and
// again, learns from ARP and neighbor discovery only what the director needs, and ages the rest
// out (docs/ARCHITECTURE.md, "The neighbor table").
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <span>
#include <utility>
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
    /// The tables are aged this often.
    static constexpr uint64_t kAgingIntervalMs = 1000;
    /// Neighbor changes are logged one by one up to kLogLines per kLogWindowMs; past that they
    /// are counted, and one summary line with the counts ends the window.
    static constexpr uint64_t kLogWindowMs = 5000;
    static constexpr uint32_t kLogLines = 4;

    /// An IPv6 static neighbor, for configure6(): never changed by neighbor discovery.
    struct StaticNeighbor6 {
        uint16_t port_id;
        Ipv6 ip;  // network order
        MacAddress mac;
    };
    /// An IPv6 next hop the configuration needs (a real server on a port's link, a gateway6),
    /// for configure6(): solicited until it answers, then now and again; never ages.
    struct NextHop6 {
        uint16_t port_id;
        Ipv6 ip;  // network order
    };

    NeighborResolver();

    /// The tables the workers read. Any thread.
    const dp::NeighborTable& table() const { return v4_.table; }
    const dp::NeighborTable6& table6() const { return v6_.table; }

    /// Takes a configuration in force: sets its static neighbors (both families' from `config`,
    /// and IPv6 ones given as `statics6`) and lists the next hops to resolve (both families', from
    /// `snapshot`); entries that were static or next hops and are no more start aging at
    /// `now_ms`. Control thread, at start-up and after each applied reload.
    void configure(const Config& config, const std::vector<PortBinding>& ports,
                   const dp::Snapshot& snapshot, uint64_t now_ms,
                   std::span<const StaticNeighbor6> statics6 = {});

    /// configure()'s IPv6 half, from plain inputs: `statics` are set (a full table refuses one
    /// with a warning), `next_hops` resolved; IPv6 entries that were static or next hops and are
    /// no more start aging at `now_ms`. Either may be empty. Control thread.
    void configure6(std::span<const StaticNeighbor6> statics, std::span<const NextHop6> next_hops,
                    uint64_t now_ms);

    /// The IPv6 next hops `snapshot` needs: where route6 sends each IPv6 service's real servers,
    /// and every interface's gateway6. Any thread.
    static std::vector<NextHop6> next_hops6(const dp::Snapshot& snapshot);

    /// take() what the workers put on `sightings`, then request() with orders for worker 0 on
    /// `arp_orders` (words port << 32 | ip) and request6() with orders on `nd_orders`
    /// (dp::NeighborSolicitOrder; null: no IPv6 neighbor is solicited, but the IPv6 table still
    /// ages), then the log summary if one is due. Control thread, each tick.
    void poll(rte_ring* sightings, rte_ring* arp_orders, uint64_t now_ms,
              rte_ring* nd_orders = nullptr);

    /// Takes the workers' reports, IPv4's and IPv6's, in order. An address a worker asked for is
    /// awaited for kAwaitMs. A sighting is written to its family's table if its sender is a next
    /// hop, already in the table, or awaited; any other is ignored (counted in the log summary).
    /// Static neighbors are never changed. Control thread.
    void take(std::span<const dp::NeighborSighting> reports, uint64_t now_ms);

    /// ARP requests due at `now_ms`: unresolved next hops each second, resolved ones every 30 s
    /// (so a replaced server's new MAC is learned), and the aging pass's probes of learned
    /// neighbors in use (each kAgingIntervalMs). `send(port_id, ip)` queues one request and
    /// returns false when it cannot (it is asked again later); each one sent is awaited.
    /// Control thread.
    void request(uint64_t now_ms, const std::function<bool(uint16_t, uint32_t)>& send);

    /// request() for IPv6: the neighbor solicitations due at `now_ms`, by the same rules, each
    /// queued with `send(port_id, target)`. Control thread.
    void request6(uint64_t now_ms, const std::function<bool(uint16_t, const Ipv6&)>& send);

    /// Writes the summary of what was not logged one by one, once its window is over. Control
    /// thread; poll() calls it.
    void flush_log(uint64_t now_ms);

  private:
    // One line per event while the window has lines left; then counts for the summary.
    enum class Event : uint8_t { learned, changed, expired, full, ignored, ignored6, count_ };

    // What the resolver keeps of one address family; uint32_t (network order) or Ipv6.
    template <class Address>
    struct Family {
        struct NextHop {
            uint16_t port_id;
            Address ip;
            uint64_t last_request_ms = 0;
        };
        struct Awaited {
            bool any = false;  // false: an empty slot
            uint16_t port_id = 0;
            Address ip{};
            uint64_t since_ms = 0;
        };
        Family();

        dp::BasicNeighborTable<Address> table;
        std::set<Address> static_ips;  // never overwritten by what ARP or ND says
        std::vector<NextHop> next_hops;
        std::set<std::pair<uint16_t, Address>> next_hop_keys;  // (port, ip) of each next hop
        // Addresses asked for lately, one direct-mapped slot each: a newer request takes a
        // colliding slot, whose answer then goes unlearned (and is asked for again).
        std::vector<Awaited> awaited;
        uint64_t last_aging_ms = 0;
    };

    template <class Address>
    void set_static(Family<Address>& f, uint16_t port_id, const Address& ip, const MacAddress& mac,
                    uint64_t now_ms);
    template <class Address>
    void set_next_hops(Family<Address>& f, const std::set<std::pair<uint16_t, Address>>& hops,
                       uint64_t now_ms);
    template <class Address>
    void take_one(Family<Address>& f, const dp::NeighborSighting& s, const Address& ip,
                  uint64_t now_ms);
    template <class Address, class Send>
    void request_in(Family<Address>& f, uint64_t now_ms, const Send& send);
    template <class Address>
    static void await(Family<Address>& f, uint16_t port_id, const Address& ip, uint64_t now_ms);
    template <class Address>
    static bool awaited(const Family<Address>& f, uint16_t port_id, const Address& ip,
                        uint64_t now_ms);
    // Whether the event may have its own line now; counts it for the summary otherwise.
    bool may_log(Event event, uint64_t now_ms);

    Family<uint32_t> v4_;
    Family<Ipv6> v6_;
    uint64_t log_window_ms_ = 0;
    uint32_t log_lines_ = 0;
    uint64_t unlogged_[static_cast<size_t>(Event::count_)] = {};
};

}  // namespace vsnat::cp
