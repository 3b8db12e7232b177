#include "cp/snapshot_builder.hpp"

#include <arpa/inet.h>

namespace vsnat::cp {
namespace {

std::optional<dp::SchedulerKind> dataplane_scheduler(Scheduler s) {
    switch (s) {
        case Scheduler::rr:
            return dp::SchedulerKind::rr;
        case Scheduler::wrr:
            return dp::SchedulerKind::wrr;
        default:
            return std::nullopt;
    }
}

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
    return out;
}

}  // namespace

uint32_t to_network(Ipv4 address) {
    return htonl(address);
}

std::vector<std::string> unsupported_features(const Config& config) {
    std::vector<std::string> out;
    for (const Service& s : config.services) {
        if (!dataplane_scheduler(s.scheduler)) {
            out.push_back("service '" + s.name + "': scheduler '" +
                          std::string(scheduler_name(s.scheduler)) +
                          "' is not available in this build (available: rr, wrr)");
        }
        if (s.helper != Helper::none) {
            out.push_back("service '" + s.name + "': helper '" +
                          std::string(helper_name(s.helper)) + "' is not available in this build");
        }
        if (s.persistence != 0) {
            out.push_back("service '" + s.name + "': persistence is not available in this build");
        }
    }
    return out;
}

std::unique_ptr<dp::Snapshot> build_snapshot(const Config& config,
                                             const std::vector<PortBinding>& ports,
                                             uint32_t workers) {
    auto snap = std::make_unique<dp::Snapshot>();
    for (size_t i = 0; i < config.interfaces.size(); ++i) {
        const Interface& in = config.interfaces[i];
        dp::InterfaceEntry e;
        e.port_id = ports[i].port_id;
        e.mac = ports[i].mac;
        e.address = to_network(in.address);
        e.netmask = prefix_to_netmask(in.prefix_len);
        e.gateway = in.gateway ? to_network(*in.gateway) : 0;
        snap->interfaces.push_back(e);
    }
    uint16_t next_dest_id = 0;
    for (size_t i = 0; i < config.services.size(); ++i) {
        const Service& s = config.services[i];
        dp::ServiceEntry e;
        e.service_id = static_cast<uint16_t>(i);
        e.protocol = static_cast<uint8_t>(s.protocol);
        e.vip = to_network(s.vip);
        e.port = htons(s.port);
        e.scheduler = dataplane_scheduler(s.scheduler).value_or(dp::SchedulerKind::wrr);
        for (const RealServer& rs : s.real_servers) {
            e.servers.push_back(
                dp::Destination{to_network(rs.address), htons(rs.port), next_dest_id++, rs.weight});
        }
        snap->services.push_back(std::move(e));
    }
    snap->timeouts = state_timeouts(config.timeouts);
    snap->finalize(workers);
    return snap;
}

}  // namespace vsnat::cp
