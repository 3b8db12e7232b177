#include "dp/sched/scheduler.hpp"

#include "dp/sched/rr.hpp"
#include "dp/sched/wrr.hpp"

namespace vsnat::dp {

std::unique_ptr<Scheduler> make_scheduler(SchedulerKind kind,
                                          std::span<const Destination> servers) {
    switch (kind) {
        case SchedulerKind::rr:
            return std::make_unique<RoundRobin>();
        case SchedulerKind::wrr:
            return std::make_unique<WeightedRoundRobin>(servers);
    }
    return nullptr;
}

}  // namespace vsnat::dp
