#include "dp/sched/scheduler.hpp"

#include "dp/heap.hpp"
#include "dp/sched/dh.hpp"
#include "dp/sched/fo.hpp"
#include "dp/sched/lc.hpp"
#include "dp/sched/mh.hpp"
#include "dp/sched/nq.hpp"
#include "dp/sched/rr.hpp"
#include "dp/sched/sed.hpp"
#include "dp/sched/sh.hpp"
#include "dp/sched/wlc.hpp"
#include "dp/sched/wrr.hpp"

namespace vsnat::dp {

bool Scheduler::available(std::span<const Destination> servers, size_t i, const ServerLoad& load) {
    const Destination& d = servers[i];
    if (d.weight == 0) {
        return false;
    }
    if (d.max_connections == 0) {
        return true;
    }
    const uint64_t total = load.active(d.dest_id) + load.inactive(d.dest_id);
    std::atomic<uint8_t>& flag = shared_.overloaded[i];
    const uint8_t was = flag.load(std::memory_order_relaxed);
    uint8_t overloaded = was;
    if (total >= d.max_connections) {
        overloaded = 1;
    } else if (was != 0) {
        // LVS ip_vs_unbind_dest: below the lower threshold, or below 3/4 of the upper one.
        const bool below = d.min_connections != 0
                               ? total < d.min_connections
                               : total * 4 < static_cast<uint64_t>(d.max_connections) * 3;
        overloaded = below ? 0 : 1;
    }
    if (overloaded != was) {
        flag.store(overloaded, std::memory_order_relaxed);
    }
    return overloaded == 0;
}

bool Scheduler::any_available(std::span<const Destination> servers, const ServerLoad& load) {
    for (size_t i = 0; i < servers.size(); ++i) {
        if (available(servers, i, load)) {
            return true;
        }
    }
    return false;
}

std::unique_ptr<SharedSchedulerState> make_shared_state(SchedulerKind kind,
                                                        std::span<const Destination> servers) {
    auto shared = std::make_unique<SharedSchedulerState>(servers.size());
    switch (kind) {
        case SchedulerKind::sh:
            shared->slots = SourceHash::build_table(servers);
            break;
        case SchedulerKind::dh:
            shared->slots = DestinationHash::build_table(servers);
            break;
        case SchedulerKind::mh:
            shared->slots = MaglevHash::build_table(servers);
            break;
        default:
            break;
    }
    return shared;
}

std::unique_ptr<Scheduler> make_scheduler(SchedulerKind kind, std::span<const Destination> servers,
                                          SharedSchedulerState& shared) {
    switch (kind) {
        case SchedulerKind::rr:
            return std::make_unique<RoundRobin>(shared);
        case SchedulerKind::wrr:
            return std::make_unique<WeightedRoundRobin>(servers, shared);
        case SchedulerKind::lc:
            return std::make_unique<LeastConnection>(shared);
        case SchedulerKind::wlc:
            return std::make_unique<WeightedLeastConnection>(shared);
        case SchedulerKind::sed:
            return std::make_unique<ShortestExpectedDelay>(shared);
        case SchedulerKind::nq:
            return std::make_unique<NeverQueue>(shared);
        case SchedulerKind::sh:
            return std::make_unique<SourceHash>(shared);
        case SchedulerKind::dh:
            return std::make_unique<DestinationHash>(shared);
        case SchedulerKind::mh:
            return std::make_unique<MaglevHash>(shared);
        case SchedulerKind::fo:
            return std::make_unique<WeightedFailover>(shared);
    }
    return nullptr;
}

SchedulerFootprint scheduler_footprint(SchedulerKind kind, size_t servers) {
    // The shared state: itself, its overload flags, and for the hashing ones its slot table.
    size_t slots = 0;
    size_t instance = 0;
    switch (kind) {
        case SchedulerKind::rr:
            instance = sizeof(RoundRobin);
            break;
        case SchedulerKind::wrr:
            instance = sizeof(WeightedRoundRobin);
            break;
        case SchedulerKind::lc:
            instance = sizeof(LeastConnection);
            break;
        case SchedulerKind::wlc:
            instance = sizeof(WeightedLeastConnection);
            break;
        case SchedulerKind::sed:
            instance = sizeof(ShortestExpectedDelay);
            break;
        case SchedulerKind::nq:
            instance = sizeof(NeverQueue);
            break;
        case SchedulerKind::sh:
            instance = sizeof(SourceHash);
            slots = 256;
            break;
        case SchedulerKind::dh:
            instance = sizeof(DestinationHash);
            slots = 256;
            break;
        case SchedulerKind::mh:
            instance = sizeof(MaglevHash);
            slots = MaglevHash::kTableSize;
            break;
        case SchedulerKind::fo:
            instance = sizeof(WeightedFailover);
            break;
    }
    return SchedulerFootprint{malloc_bytes(sizeof(SharedSchedulerState)) +
                                  malloc_bytes(servers * sizeof(std::atomic<uint8_t>)) +
                                  malloc_bytes(slots * sizeof(uint16_t)),
                              malloc_bytes(instance)};
}

}  // namespace vsnat::dp
