#include "cp/health_monitor.hpp"

#include <spdlog/spdlog.h>

#include "cp/snapshot_builder.hpp"
#include "cp/workers.hpp"

namespace vsnat::cp {
namespace {

// The passive check reads the counts this often: its detection is within this of `timeout`.
constexpr uint64_t kPassiveSampleMs = 100;

}  // namespace

CheckTarget HealthMonitor::target_of(const RealServer& rs) {
    const HealthCheck& check = *rs.health_check;
    return CheckTarget{rs.address, check.port != 0 ? check.port : rs.port, check};
}

void HealthMonitor::configure(const Config& config) {
    std::vector<CheckTarget> targets;
    std::map<ServerKey, Passive> passive;
    for (const Service& s : config.services) {
        for (const RealServer& rs : s.real_servers) {
            if (!rs.health_check) {
                continue;
            }
            const CheckTarget target = target_of(rs);
            targets.push_back(target);
            if (!rs.health_check->passive || s.protocol != Protocol::tcp) {
                continue;
            }
            const ServerKey key{s.protocol, s.vip, s.port, rs.address, rs.port};
            auto kept = passive_.find(key);
            if (kept != passive_.end() && kept->second.target == target) {
                passive.emplace(key, std::move(kept->second));
            } else {
                passive.emplace(key, Passive{target, PassiveWatch(rs.health_check->fall,
                                                                  rs.health_check->timeout_ms)});
            }
        }
    }
    checker_.set_targets(targets);
    passive_ = std::move(passive);
}

bool HealthMonitor::poll(uint64_t now_ms, const Config& config, const dp::Snapshot& snapshot,
                         const Workers& workers) {
    if (!passive_.empty() && now_ms >= next_passive_ms_) {
        next_passive_ms_ = now_ms + kPassiveSampleMs;
        sample_passive(now_ms, config, snapshot, workers);
    }
    const std::vector<HealthTransition> transitions = checker_.take_transitions();
    for (const HealthTransition& t : transitions) {
        const std::string how =
            t.in_row == 0 ? "" : " after " + std::to_string(t.in_row) + " in a row";
        spdlog::log(t.up ? spdlog::level::info : spdlog::level::warn,
                    "real server {} is {} ({} check: {}{})",
                    format_endpoint(t.target.address, t.target.port), t.up ? "up" : "down",
                    check_type_name(t.target.check.type), t.reason, how);
    }
    return !transitions.empty();
}

// The servers of `snapshot` are those of `config`'s services, in their order (real servers first,
// then a sorry server): a server's counts are found by its dest id there.
void HealthMonitor::sample_passive(uint64_t now_ms, const Config& config,
                                   const dp::Snapshot& snapshot, const Workers& workers) {
    for (size_t i = 0; i < snapshot.services.size(); ++i) {
        const Service& s = config.services[i];
        for (size_t j = 0; j < s.real_servers.size(); ++j) {
            const RealServer& rs = s.real_servers[j];
            auto it = passive_.find(ServerKey{s.protocol, s.vip, s.port, rs.address, rs.port});
            if (it == passive_.end()) {
                continue;
            }
            const dp::DestCounters c = workers.dest_totals(snapshot.services[i].servers[j].dest_id);
            const auto reason =
                it->second.watch.sample(now_ms, {c.connections, c.syn_answered, c.syn_refused});
            if (reason && up(s, rs)) {
                checker_.mark_down(it->second.target, *reason + " (service " + s.name + ")");
            }
        }
    }
}

bool HealthMonitor::up(const Service&, const RealServer& rs) const {
    if (!rs.health_check) {
        return true;
    }
    const auto status = checker_.status(target_of(rs));
    return !status || status->up;
}

std::optional<ServerHealthView> HealthMonitor::view(const RealServer& rs) const {
    if (!rs.health_check) {
        return std::nullopt;
    }
    const auto status = checker_.status(target_of(rs));
    if (!status) {
        return std::nullopt;
    }
    return ServerHealthView{status->up, status->reason, status->probes, status->failures};
}

std::set<IpAddress> HealthMonitor::served_vips(const Config& config) const {
    std::set<IpAddress> vips;
    for (const Service& s : config.services) {
        for (const RealServer& rs : s.real_servers) {
            if (up(s, rs)) {
                vips.insert(s.vip);
                break;
            }
        }
    }
    return vips;
}

}  // namespace vsnat::cp
