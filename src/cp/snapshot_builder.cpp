#include "cp/snapshot_builder.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace vsnat::cp {
namespace {

static_assert(kMaxInterfaceAddresses6 == dp::kMaxAddresses6,
              "an interface's IPv6 addresses in the file are those its snapshot entry holds");

uint32_t prefix_to_netmask(uint8_t prefix_len) {
    const uint32_t host = prefix_len == 0 ? 0 : ~0u << (32 - prefix_len);
    return htonl(host);
}

dp::StateTimeouts state_timeouts(const Timeouts& t) {
    dp::StateTimeouts out{};
    auto set = [&out](dp::ConnState s, uint32_t seconds) {
        out[static_cast<size_t>(s)] = seconds * 1000;
    };
    set(dp::ConnState::none, t.tcp_none);
    set(dp::ConnState::established, t.tcp_established);
    set(dp::ConnState::syn_sent, t.tcp_syn);
    set(dp::ConnState::syn_recv, t.tcp_syn);
    set(dp::ConnState::fin_wait, t.tcp_fin);
    set(dp::ConnState::time_wait, t.tcp_time_wait);
    set(dp::ConnState::close, t.tcp_close);
    set(dp::ConnState::close_wait, t.tcp_close_wait);
    set(dp::ConnState::last_ack, t.tcp_last_ack);
    set(dp::ConnState::listen, t.tcp_listen);
    set(dp::ConnState::synack, t.tcp_synack);
    set(dp::ConnState::udp, t.udp);
    set(dp::ConnState::udp_unanswered, t.udp);
    set(dp::ConnState::udp_replied, t.udp);
    return out;
}

// Hands out 16-bit ids: the next free one from a cursor that only moves forward (wrapping),
// preferring ids the previous snapshot did not use either, so that a freed id comes back only
// after every other one has been used.
class IdAllocator {
  public:
    explicit IdAllocator(uint32_t cursor) : cursor_(cursor) {}
    void keep(uint16_t id) { use_[id] = kCurrent; }
    void was_used(uint16_t id) { use_[id] = std::max(use_[id], kPrevious); }
    uint16_t allocate() {
        for (uint8_t allowed : {kFree, kPrevious}) {
            for (uint32_t step = 0; step < kIds; ++step) {
                const uint32_t id = (cursor_ + step) % kIds;
                if (use_[id] <= allowed) {
                    use_[id] = kCurrent;
                    cursor_ = (id + 1) % kIds;
                    return static_cast<uint16_t>(id);
                }
            }
        }
        return 0;  // unreachable: the config holds at most kMaxRealServers (< kIds) of each
    }
    uint32_t cursor() const { return cursor_; }

  private:
    static constexpr uint32_t kIds = 65536;
    static constexpr uint8_t kFree = 0, kPrevious = 1, kCurrent = 2;
    std::vector<uint8_t> use_ = std::vector<uint8_t>(kIds, kFree);
    uint32_t cursor_;
};

// Gives every service and real server of `snap` its id: the one it had in `previous` (same
// protocol, VIP and port; same address and port within that service), else a new one.
void assign_ids(dp::Snapshot& snap, const dp::Snapshot* previous) {
    using ServiceKey = std::tuple<bool, uint32_t, Ipv6, uint8_t, uint16_t>;
    using DestKey = std::tuple<ServiceKey, uint32_t, Ipv6, uint16_t>;
    auto key_of = [](const dp::ServiceEntry& s) {
        return ServiceKey{s.ipv6, s.vip, s.vip6, s.protocol, s.port};
    };
    std::map<ServiceKey, uint16_t> old_services;
    std::map<DestKey, uint16_t> old_dests;
    IdAllocator service_ids(previous != nullptr ? previous->next_service_id : 0);
    IdAllocator dest_ids(previous != nullptr ? previous->next_dest_id : 0);
    if (previous != nullptr) {
        for (const dp::ServiceEntry& s : previous->services) {
            old_services.emplace(key_of(s), s.service_id);
            service_ids.was_used(s.service_id);
            for (const dp::Destination& d : s.servers) {
                old_dests.emplace(DestKey{key_of(s), d.ip, d.ip6, d.port}, d.dest_id);
                dest_ids.was_used(d.dest_id);
            }
        }
    }
    // Kept ids first, so that no new one can take them.
    std::vector<bool> service_is_new, dest_is_new;
    for (dp::ServiceEntry& s : snap.services) {
        auto old = old_services.find(key_of(s));
        service_is_new.push_back(old == old_services.end());
        if (old != old_services.end()) {
            s.service_id = old->second;
            service_ids.keep(s.service_id);
        }
        for (dp::Destination& d : s.servers) {
            auto old_dest = old_dests.find(DestKey{key_of(s), d.ip, d.ip6, d.port});
            dest_is_new.push_back(old_dest == old_dests.end());
            if (old_dest != old_dests.end()) {
                d.dest_id = old_dest->second;
                dest_ids.keep(d.dest_id);
            }
        }
    }
    size_t next_dest = 0;
    for (size_t i = 0; i < snap.services.size(); ++i) {
        dp::ServiceEntry& s = snap.services[i];
        if (service_is_new[i]) {
            s.service_id = service_ids.allocate();
        }
        for (dp::Destination& d : s.servers) {
            if (dest_is_new[next_dest++]) {
                d.dest_id = dest_ids.allocate();
            }
        }
    }
    snap.next_service_id = service_ids.cursor();
    snap.next_dest_id = dest_ids.cursor();
}

// Carries each kept server's overload flag over from `previous`, so that a reload does not let a
// server between its thresholds take connections again.
void carry_overload(dp::Snapshot& snap, const dp::Snapshot& previous) {
    for (size_t i = 0; i < snap.services.size(); ++i) {
        const dp::ServiceEntry& s = snap.services[i];
        const dp::ServiceEntry* old = previous.find_same_service(s);
        if (old == nullptr) {
            continue;
        }
        const auto old_index = static_cast<size_t>(old - previous.services.data());
        for (size_t j = 0; j < s.servers.size(); ++j) {
            const int32_t k = previous.server_index(old_index, s.servers[j].dest_id);
            if (k >= 0) {
                snap.scheduler_states[i]->overloaded[j].store(
                    previous.scheduler_states[old_index]->overloaded[static_cast<size_t>(k)].load(
                        std::memory_order_relaxed),
                    std::memory_order_relaxed);
            }
        }
    }
}

}  // namespace

namespace {

// Real servers of `previous` missing from `next` whose connections `drain: drop` ends at once
// (the service's policy if the service remains, else the global one), and those already
// dropped before, unless a real server now has the id again. `next` is built from `config`.
void mark_dropped_servers(dp::Snapshot& next, const dp::Snapshot& previous, const Config& config) {
    std::vector<bool> present(dp::kMaxDestinations);
    for (const dp::ServiceEntry& s : next.services) {
        for (const dp::Destination& d : s.servers) {
            present[d.dest_id] = true;
        }
    }
    for (size_t id = 0; id < dp::kMaxDestinations; ++id) {
        if (!present[id] && previous.dest_dropped(static_cast<uint16_t>(id))) {
            next.mark_dropped(static_cast<uint16_t>(id));
        }
    }
    for (const dp::ServiceEntry& old : previous.services) {
        const dp::ServiceEntry* kept = next.find_same_service(old);
        Drain policy = config.drain;
        if (kept != nullptr) {
            policy =
                config.services[static_cast<size_t>(kept - next.services.data())].drain.value_or(
                    config.drain);
        }
        for (const dp::Destination& d : old.servers) {
            if (!present[d.dest_id] && policy == Drain::drop) {
                next.mark_dropped(d.dest_id);
            }
        }
    }
}

}  // namespace

dp::SchedulerKind dataplane_scheduler(Scheduler s) {
    switch (s) {
        case Scheduler::rr:
            return dp::SchedulerKind::rr;
        case Scheduler::wrr:
            return dp::SchedulerKind::wrr;
        case Scheduler::lc:
            return dp::SchedulerKind::lc;
        case Scheduler::wlc:
            return dp::SchedulerKind::wlc;
        case Scheduler::sed:
            return dp::SchedulerKind::sed;
        case Scheduler::nq:
            return dp::SchedulerKind::nq;
        case Scheduler::sh:
            return dp::SchedulerKind::sh;
        case Scheduler::dh:
            return dp::SchedulerKind::dh;
        case Scheduler::mh:
            return dp::SchedulerKind::mh;
        case Scheduler::fo:
            return dp::SchedulerKind::fo;
    }
    return dp::SchedulerKind::wrr;  // unreachable: the switch names every scheduler
}

uint32_t to_network(Ipv4 address) {
    return htonl(address);
}

std::pair<IpAddress, uint16_t> server_endpoint(const Service& s, size_t j) {
    if (j < s.real_servers.size()) {
        return {s.real_servers[j].address, s.real_servers[j].port};
    }
    const uint16_t port =
        s.sorry_server && s.sorry_server->port != 0 ? s.sorry_server->port : s.port;
    return {s.sorry_server ? s.sorry_server->address : IpAddress{}, port};
}

dp::ReversePathMode dataplane_reverse_path(ReversePath r) {
    switch (r) {
        case ReversePath::strict:
            return dp::ReversePathMode::strict;
        case ReversePath::loose:
            return dp::ReversePathMode::loose;
        case ReversePath::off:
            break;
    }
    return dp::ReversePathMode::off;
}

namespace {

// A dataplane server at `address`, of either family.
dp::Destination destination_at(const IpAddress& address) {
    dp::Destination d;
    d.ip = address.is_v6 ? 0 : to_network(address.v4);
    d.ip6 = address.is_v6 ? address.v6 : Ipv6{};
    return d;
}

// The dataplane's servers of `s`: its real servers, each as its health check has it, then its
// sorry server, which takes the new connections while none of them is up.
std::vector<dp::Destination> destinations(const Service& s, const ServerHealth& health) {
    std::vector<dp::Destination> out;
    bool any_up = false;
    for (const RealServer& rs : s.real_servers) {
        dp::Destination d = destination_at(rs.address);
        d.port = htons(rs.port);
        d.down = health && !health(s, rs);
        d.weight = d.down ? 0 : rs.weight;
        d.max_connections = rs.max_connections;
        d.min_connections = rs.min_connections;
        any_up = any_up || !d.down;
        out.push_back(d);
    }
    if (s.sorry_server) {
        dp::Destination d = destination_at(s.sorry_server->address);
        d.port = htons(s.sorry_server->port != 0 ? s.sorry_server->port : s.port);
        d.down = any_up;
        d.weight = any_up ? 0 : 1;
        out.push_back(d);
    }
    return out;
}

// The VIPs and floating addresses a kernel mirror holds, each once, into `snap`: the IPv4 ones in
// `held` (network order), the IPv6 ones in `held6`.
void set_held_addresses(dp::Snapshot& snap, const Config& config,
                        const std::function<bool(const IpAddress&)>& held) {
    for (const IpAddress& a : shared_addresses(config)) {
        if (!held || !held(a)) {
            continue;
        }
        if (a.is_v6) {
            snap.held6.push_back(a.v6);
        } else {
            snap.held.push_back(to_network(a.v4));
        }
    }
}

// Servers whose health check took them down, in services that say `on_down: drop`: their
// connections end now.
void mark_dropped_by_health(dp::Snapshot& snap, const Config& config) {
    for (size_t i = 0; i < snap.services.size(); ++i) {
        const Service& s = config.services[i];
        if (s.on_down != OnDown::drop) {
            continue;
        }
        const size_t real = s.real_servers.size();
        for (size_t j = 0; j < real; ++j) {
            if (snap.services[i].servers[j].down) {
                snap.mark_dropped(snap.services[i].servers[j].dest_id);
            }
        }
    }
}

}  // namespace

std::unique_ptr<dp::Snapshot> build_snapshot(const Config& config,
                                             const std::vector<PortBinding>& ports,
                                             uint32_t workers, const dp::Snapshot* previous,
                                             const StopCheck& stop, const LiveState& live) {
    auto snap = std::make_unique<dp::Snapshot>();
    for (size_t i = 0; i < config.interfaces.size(); ++i) {
        const Interface& in = config.interfaces[i];
        dp::InterfaceEntry e;
        e.port_id = ports[i].port_id;
        e.mac = ports[i].mac;
        e.mtu = ports[i].mtu;
        e.address = to_network(in.address);
        e.netmask = prefix_to_netmask(in.prefix_len);
        e.gateway = in.gateway ? to_network(*in.gateway) : 0;
        e.kernel_mirror = !in.kernel.empty();
        for (const Prefix& f : in.floating) {
            e.floating.push_back(to_network(f.address));
        }
        for (const Prefix6& f : in.floating6) {
            e.floating6.push_back(f.address);
        }
        e.addresses6 = in.addresses6;
        e.link_local = dp::link_local_of(e.mac);
        e.has_gateway6 = in.gateway6.has_value();
        e.gateway6 = in.gateway6.value_or(Ipv6{});
        snap->interfaces.push_back(e);
    }
    for (const Service& s : config.services) {
        dp::ServiceEntry e;
        e.protocol = static_cast<uint8_t>(s.protocol);
        e.ipv6 = s.vip.is_v6;
        e.vip = e.ipv6 ? 0 : to_network(s.vip.v4);
        e.vip6 = e.ipv6 ? s.vip.v6 : Ipv6{};
        e.port = htons(s.port);
        e.scheduler = dataplane_scheduler(s.scheduler);
        e.persistence_ms = s.persistence * 1000;  // at most kMaxPersistence: fits
        if (e.ipv6) {
            e.persistence_mask6 = prefix6_netmask(s.persistence_prefix);
        } else {
            e.persistence_mask = prefix_to_netmask(s.persistence_prefix);
        }
        e.helper = s.helper == Helper::ftp ? dp::AppHelper::ftp : dp::AppHelper::none;
        e.servers = destinations(s, live.health);
        snap->services.push_back(std::move(e));
    }
    assign_ids(*snap, previous);
    snap->timeouts = state_timeouts(config.timeouts);
    snap->reverse_path = dataplane_reverse_path(config.reverse_path);
    snap->drop_fragments = config.fragments == Fragments::drop;
    snap->reject_per_second = config.reject_rate;
    snap->protocol_share_percent = config.table_shares.protocol_percent;
    snap->prefix_share_percent = config.table_shares.source_prefix_percent;
    snap->source_prefix_mask = prefix_to_netmask(config.table_shares.source_prefix_length);
    snap->follow_kernel = config.ha.addresses == AddressOwnership::follow_kernel;
    if (snap->follow_kernel) {
        set_held_addresses(*snap, config, live.held);
    }
    if (!snap->finalize(workers, stop)) {
        return nullptr;
    }
    if (previous != nullptr) {
        carry_overload(*snap, *previous);
        mark_dropped_servers(*snap, *previous, config);
    }
    mark_dropped_by_health(*snap, config);
    return snap;
}

}  // namespace vsnat::cp
