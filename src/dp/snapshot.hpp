// What the dataplane reads of the configuration: an immutable snapshot built by the control
// thread and published to workers with one pointer swap. Addresses and ports in network order.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "dp/mix.hpp"
#include "dp/sched/scheduler.hpp"
#include "dp/tcp_state.hpp"
#include "vsnat/types.hpp"

namespace vsnat::dp {

constexpr uint16_t kMaxPorts = 8;
constexpr uint32_t kMaxDestinations = 65536;  // dest_id is 16 bits

/// The application helper a service's connections run through.
enum class AppHelper : uint8_t { none, ftp };

/// Reverse-path filtering (RFC 3704): which sources an interface takes packets from.
enum class ReversePathMode : uint8_t {
    strict,  // those the director routes back out of that interface (Linux rp_filter=1)
    loose,   // those the director has any route to (rp_filter=2)
    off,
};

struct ServiceEntry {
    uint16_t service_id = 0;  // stable across reloads
    uint8_t protocol = 0;
    uint32_t vip = 0;  // IPv4
    uint16_t port = 0;
    SchedulerKind scheduler = SchedulerKind::wrr;
    std::vector<Destination> servers;
    /// Persistence (LVS's persistent service, ipvsadm -p / -M): 0 = off; else how long a
    /// client's template outlives its last connection, and the mask (network order) applied to
    /// client addresses first, so that a whole network can share one template: an IPv4
    /// service's `persistence_mask`, an IPv6 one's `persistence_mask6`.
    uint32_t persistence_ms = 0;
    uint32_t persistence_mask = UINT32_MAX;
    Ipv6 persistence_mask6 = prefix6_netmask(128);
    AppHelper helper = AppHelper::none;
    /// An IPv6 service (NAT66): its VIP is `vip6` and its servers' addresses are their `ip6`.
    bool ipv6 = false;
    Ipv6 vip6{};
};

/// IPv6 addresses an interface may have besides its link-local one.
constexpr size_t kMaxAddresses6 = 4;

/// The link-local address of an interface with MAC `mac`: fe80::/64 with the modified EUI-64
/// interface identifier (RFC 4291 2.5.1, appendix A), as Linux makes it. Any thread.
Ipv6 link_local_of(const MacAddress& mac);

/// A link of the director: its DPDK port, its own address and prefix, its optional gateway.
struct InterfaceEntry {
    uint16_t port_id = 0;
    uint32_t address = 0;
    uint32_t netmask = 0;
    uint32_t gateway = 0;  // 0: none
    MacAddress mac{};
    uint16_t mtu = 1500;  // the largest IP datagram it sends
    /// Whether the port has a kernel mirror: what the fast path does not serve of what is
    /// addressed to the director goes to the kernel (pipeline.hpp, PuntClass).
    bool kernel_mirror = false;
    /// Addresses VRRP moves between directors (the real servers' gateway): answered for like
    /// `address`, while served (Snapshot::serves).
    std::vector<uint32_t> floating{};
    /// IPv6: the director's addresses on the link, its link-local address (from its MAC, RFC
    /// 4291 modified EUI-64: what neighbor discovery and routers on the link see), its gateway;
    /// its floating addresses, as `floating`'s (Snapshot::serves6).
    std::vector<Prefix6> addresses6{};
    std::vector<Ipv6> floating6{};
    Ipv6 link_local{};
    bool has_gateway6 = false;
    Ipv6 gateway6{};
};

/// Immutable open-addressing map from keys (64-bit words, or IPv6 addresses) to 32-bit values,
/// built once.
template <class Key>
class BasicFlatIndex {
  public:
    static constexpr uint32_t kMissing = UINT32_MAX;
    void build(std::span<const std::pair<Key, uint32_t>> entries);
    /// Inline: the packet path asks on every packet (the source check, services).
    uint32_t find(const Key& key) const {
        if (slots_.empty()) {
            return kMissing;
        }
        for (uint64_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (s.value == kMissing || s.key == key) {
                return s.value;
            }
        }
    }
    /// What build() allocates for `entries` entries. Any thread.
    static size_t memory_bytes_for(size_t entries);

  private:
    struct Slot {
        Key key;
        uint32_t value;
    };
    static uint64_t hash(uint64_t key) { return mix64(key); }
    static uint64_t hash(const Ipv6& key) {
        uint64_t halves[2];
        std::memcpy(halves, key.data(), sizeof(halves));
        return mix64(halves[0] ^ mix64(halves[1]));
    }
    std::vector<Slot> slots_;
    uint64_t mask_ = 0;
};
extern template class BasicFlatIndex<uint64_t>;
extern template class BasicFlatIndex<Ipv6>;
using FlatIndex = BasicFlatIndex<uint64_t>;
using FlatIndex6 = BasicFlatIndex<Ipv6>;

/// A service as far as its snapshot's size goes.
struct ServiceShape {
    SchedulerKind scheduler = SchedulerKind::wrr;
    uint32_t servers = 0;
    bool ipv6 = false;
};

struct Snapshot {
    std::vector<ServiceEntry> services;
    std::vector<InterfaceEntry> interfaces;
    StateTimeouts timeouts = default_state_timeouts();
    ReversePathMode reverse_path = ReversePathMode::strict;
    /// `fragments: drop`: every IPv4 and IPv6 fragment is dropped (ip_fragment) instead of
    /// forwarded.
    bool drop_fragments = false;
    /// Replies per second per worker to connection attempts on VIP ports without a service:
    /// TCP resets and ICMP port unreachables, each kind its own budget.
    uint32_t reject_per_second = 1000;
    /// The most of a worker's table one protocol (TCP, UDP), and the clients of one source
    /// prefix, may hold, in percent; and that prefix's mask (network order).
    uint32_t protocol_share_percent = 90;
    uint32_t prefix_share_percent = 50;
    uint32_t source_prefix_mask = __builtin_bswap32(0xffffff00);
    /// `ha.addresses: follow_kernel`: VIPs and floating addresses are served only while a
    /// kernel mirror holds them, which `held` (IPv4, network order) and `held6` list; otherwise
    /// always.
    bool follow_kernel = false;
    std::vector<uint32_t> held;
    std::vector<Ipv6> held6;
    /// Per service: what every worker's scheduler of it shares (the sh, dh or mh table, the
    /// servers' overload flags).
    std::vector<std::unique_ptr<SharedSchedulerState>> scheduler_states;
    /// Per worker, per service: the scheduler state that worker owns.
    std::vector<std::vector<std::unique_ptr<Scheduler>>> schedulers;
    /// Where the next new service and real server ids are looked for, so that an id a reload
    /// freed is not handed out again soon (connections and persistence templates may still
    /// name it). Kept by the snapshot builder; the dataplane does not read them.
    uint32_t next_service_id = 0;
    uint32_t next_dest_id = 0;

    /// Heap bytes a snapshot of `services` takes once finalized for `workers` (what
    /// cp::build_snapshot leaves allocated, the allocator's overhead included), so that a
    /// configuration too big for the machine can be refused before it is built. Any thread.
    static size_t memory_bytes_for(std::span<const ServiceShape> services, size_t interfaces,
                                   uint32_t workers);

    /// Call once after filling services and interfaces: builds the indexes, the schedulers'
    /// shared states (overload flags clear) and every worker's schedulers. Control thread.
    /// `stop` is asked before each service's scheduler tables (an mh table takes a third of a
    /// millisecond); when it says so, finalize returns false and the snapshot must not be used.
    bool finalize(uint32_t worker_count, const std::function<bool()>& stop = {});

    /// The service for (protocol, vip, port), or null. Any thread.
    const ServiceEntry* find_service(uint8_t protocol, uint32_t vip, uint16_t port) const {
        uint32_t i = service_index_.find(service_key(protocol, vip, port));
        return i == FlatIndex::kMissing ? nullptr : &services[i];
    }
    bool is_vip(uint32_t address) const { return vip_index_.find(address) != FlatIndex::kMissing; }

    /// The IPv6 service for (protocol, vip, port), or null. Any thread.
    const ServiceEntry* find_service6(uint8_t protocol, const Ipv6& vip, uint16_t port) const {
        const uint32_t v = vip6_index_.find(vip);
        if (v == FlatIndex::kMissing) {
            return nullptr;
        }
        const uint32_t i = service_index_.find(service_key6(protocol, v, port));
        return i == FlatIndex::kMissing ? nullptr : &services[i];
    }
    /// This snapshot's service with `s`'s protocol, VIP and port (of either family), or null.
    const ServiceEntry* find_same_service(const ServiceEntry& s) const {
        return s.ipv6 ? find_service6(s.protocol, s.vip6, s.port)
                      : find_service(s.protocol, s.vip, s.port);
    }
    bool is_vip6(const Ipv6& address) const {
        return vip6_index_.find(address) != FlatIndex::kMissing;
    }
    /// Whether `address` is the director's: an IPv6 VIP, or an interface's IPv6 address
    /// (link-local included) or floating address. Any thread.
    bool is_ours6(const Ipv6& address) const {
        return ours6_index_.find(address) != FlatIndex::kMissing;
    }
    /// The interface whose own IPv6 address (link-local included), or served floating address,
    /// is `address`, or null.
    const InterfaceEntry* own_address6(const Ipv6& address) const;
    /// Whether the director answers for `address` itself (neighbor solicitations, echo
    /// requests): one of its interfaces' IPv6 addresses, or an IPv6 VIP or floating address it
    /// serves.
    bool answers_for6(const Ipv6& address) const {
        return is_ours6(address) && (serves6(address) || own_address6(address) != nullptr);
    }
    /// The interface to send to IPv6 `dst` and the next hop's address; null when no route: the
    /// first interface with a prefix that holds `dst`, else the first with an IPv6 gateway.
    const InterfaceEntry* route6(const Ipv6& dst, Ipv6& next_hop) const;
    /// Whether the director serves VIP or floating address `address` now: always, unless
    /// `follow_kernel` says only while a kernel mirror holds it. Any thread.
    bool serves(uint32_t address) const {
        return !follow_kernel || held_index_.find(address) != FlatIndex::kMissing;
    }
    /// serves() for an IPv6 VIP or floating address. Any thread.
    bool serves6(const Ipv6& address) const {
        return !follow_kernel || held6_index_.find(address) != FlatIndex::kMissing;
    }
    /// Whether `address` is the director's: a VIP or an interface's own address. For the packet
    /// path: a filter bit, and the index's probe only where the bit is set. Any thread.
    bool is_ours(uint32_t address) const {
        const uint32_t bit = ours_filter_bit(address);
        return (ours_filter_[bit / 64] >> (bit % 64) & 1) != 0 &&
               ours_index_.find(address) != FlatIndex::kMissing;
    }
    /// Index in services[service_index].servers of the real server with `dest_id`, or -1 when
    /// the service has none (a persistence template naming a server a reload removed). Any
    /// thread.
    int32_t server_index(size_t service_index, uint16_t dest_id) const {
        const uint32_t i = server_index_.find(static_cast<uint64_t>(service_index) << 16 | dest_id);
        return i == FlatIndex::kMissing ? -1 : static_cast<int32_t>(i);
    }
    /// The interface on DPDK port `port_id`, or null.
    const InterfaceEntry* interface_of_port(uint16_t port_id) const {
        return port_id < kMaxPorts && port_interface_[port_id] >= 0
                   ? &interfaces[static_cast<size_t>(port_interface_[port_id])]
                   : nullptr;
    }
    /// Whether the director answers ARP for VIP `address` on `iface`: on the links whose prefix
    /// holds it, or on every link when none does (the VIP is routed to us); only while it
    /// serves it.
    bool answers_arp_for_vip(const InterfaceEntry& iface, uint32_t address) const;
    /// The interface whose own address, or served floating address, is `address`, or null.
    const InterfaceEntry* own_address(uint32_t address) const;
    /// Whether the director answers for `address` itself (echo requests): an interface's own
    /// address, or a VIP or floating address it serves.
    bool answers_for(uint32_t address) const {
        return is_ours(address) && (serves(address) || interface_address(address));
    }
    /// The interface to send to `dst` and the next hop's address; null when no route: the
    /// first interface whose prefix holds `dst`, else the first with a gateway. Inline: every
    /// forwarded packet asks it, and the reverse-path filter once more. Every interface is
    /// looked at and the match chosen by selects, not branches: the packets of a port that
    /// carries both directions go to either side at random, and a branch on which interface
    /// matched mispredicted half of them.
    const InterfaceEntry* route(uint32_t dst, uint32_t& next_hop) const {
        const InterfaceEntry* on_link = nullptr;
        for (size_t n = interfaces.size(); n-- > 0;) {
            const InterfaceEntry& i = interfaces[n];
            on_link = ((dst ^ i.address) & i.netmask) == 0 ? &i : on_link;
        }
        const InterfaceEntry* off_link = default_interface_ >= 0
                                             ? &interfaces[static_cast<size_t>(default_interface_)]
                                             : nullptr;
        next_hop = on_link != nullptr ? dst : default_gateway_;
        return on_link != nullptr ? on_link : off_link;
    }
    /// The smallest MTU of any interface: a datagram no larger fits wherever it goes.
    uint16_t smallest_mtu() const { return smallest_mtu_; }
    /// Whether a packet from `src` may arrive on `in`, under `reverse_path`. Any thread.
    bool reverse_path_ok(const InterfaceEntry& in, uint32_t src) const {
        if (reverse_path == ReversePathMode::off) {
            return true;
        }
        uint32_t next_hop;
        const InterfaceEntry* back = route(src, next_hop);
        return reverse_path == ReversePathMode::loose ? back != nullptr : back == &in;
    }

    /// Real servers a reload removed whose connections must end now (`drain: drop`). Set by
    /// the control thread while building; read by workers.
    void mark_dropped(uint16_t dest_id) {
        dropped_dests_[dest_id / 64] |= 1ULL << (dest_id % 64);
        any_dropped_ = true;
    }
    bool dest_dropped(uint16_t dest_id) const {
        return (dropped_dests_[dest_id / 64] >> (dest_id % 64)) & 1;
    }
    bool any_dropped() const { return any_dropped_; }

    static uint64_t service_key(uint8_t protocol, uint32_t vip, uint16_t port) {
        return (static_cast<uint64_t>(protocol) << 48) | (static_cast<uint64_t>(vip) << 16) | port;
    }
    /// An IPv6 service's key in the same index: its VIP's number in vip6_index_ (not an
    /// address), marked by bit 56, which no IPv4 key has (protocols are 8 bits).
    static uint64_t service_key6(uint8_t protocol, uint32_t vip_number, uint16_t port) {
        return uint64_t{1} << 56 | service_key(protocol, vip_number, port);
    }

  private:
    bool interface_address(uint32_t address) const;
    void index_interfaces();

    std::array<uint64_t, kMaxDestinations / 64> dropped_dests_{};
    bool any_dropped_ = false;
    std::array<int16_t, kMaxPorts> port_interface_{};
    uint16_t smallest_mtu_ = UINT16_MAX;
    // The first interface with a gateway (its index; -1: none), and that gateway: route()'s
    // answer off every link. The gateway is copied out of the interface so that the next hop
    // does not wait for the index's load as well (route() runs twice a packet).
    int16_t default_interface_ = -1;
    uint32_t default_gateway_ = 0;
    // route6()'s: every interface's IPv6 prefixes in interface order, as two masked words each,
    // and the first interface with an IPv6 gateway.
    struct OnLink6 {
        std::array<uint64_t, 2> mask;
        std::array<uint64_t, 2> network;  // the prefix's address, masked
        int16_t interface;
    };
    std::vector<OnLink6> on_link6_;
    int16_t default_interface6_ = -1;
    Ipv6 default_gateway6_{};
    FlatIndex service_index_;
    FlatIndex vip_index_;
    FlatIndex ours_index_;    // VIPs, interface addresses and floating addresses
    FlatIndex held_index_;    // `held`
    FlatIndex server_index_;  // (service index << 16 | dest id) -> server index
    FlatIndex6 vip6_index_;   // IPv6 VIP -> its number (service_key6)
    FlatIndex6 ours6_index_;  // IPv6 VIPs, interface, link-local and floating addresses
    FlatIndex6 held6_index_;  // `held6`
    // is_ours()'s first look: one bit per hash of each address in ours_index_, so that nearly
    // every source (a client's, a real server's) is told apart with a multiply and a bit test
    // instead of the index's hash and probe.
    static constexpr uint32_t kOursFilterBits = 4096;
    static uint32_t ours_filter_bit(uint32_t address) {
        return (address * 0x9e3779b1u) >> (32 - std::countr_zero(kOursFilterBits));
    }
    std::array<uint64_t, kOursFilterBits / 64> ours_filter_{};
};

}  // namespace vsnat::dp
