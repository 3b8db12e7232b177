#pragma once

#include "dp/sched/table_scheduler.hpp"

namespace vsnat::dp {

/// Source hashing, as LVS's ip_vs_sh: the client's address (not its port) picks one of 256
/// buckets, which servers fill in proportion to their weight; so one client always reaches the
/// same server, on every worker and every director with the same config. A client whose server
/// is quiesced or overloaded goes to the next available one of its fallback walk (LVS's
/// sh-fallback flag, always on here).
class SourceHash final : public TableScheduler {
  public:
    explicit SourceHash(SharedSchedulerState& shared) : TableScheduler(shared) {}
    /// The weighted bucket table. Control thread.
    static std::vector<uint16_t> build_table(std::span<const Destination> servers);
    int32_t pick(std::span<const Destination> servers, const FlowKey& inbound,
                 const ServerLoad& load) override;
};

}  // namespace vsnat::dp
