#pragma once

#include "dp/sched/table_scheduler.hpp"

namespace vsnat::dp {

/// Maglev hashing (Eisenbud et al., NSDI'16, section 3.4; LVS's ip_vs_mh): the client's address
/// picks one slot of a lookup table of prime size that the servers fill in turn, each walking
/// its own permutation of the slots (offset and skip hashed from its address and port). A
/// server keeps most of its slots when others come or go, so removing one of N servers moves
/// little more than the 1/N of clients it had. The table is built once per service by the
/// control thread, with fixed hash seeds and nothing random: every worker and every director
/// with the same config picks the same server for the same client address. Like LVS's mh
/// (without its mh-port flag) only the address is hashed, so one client sticks to one server.
///
/// Weights: LVS gives each server weight/gcd consecutive turns per round (scaled down to at
/// most 64), which skews the share of servers late in config order when the last round is cut
/// short. Here turns are interleaved by stride scheduling (each server's next turn comes
/// 1/weight after its last; ties in config order), so shares follow the weights to within a
/// slot. Weight 0 takes no slots. A client whose server is overloaded walks the table forward
/// from its slot to the next available server (LVS's mh-fallback rehashes instead).
class MaglevHash final : public TableScheduler {
  public:
    /// A prime, as the paper requires, and the paper's own size: with N servers each holds
    /// about 65537 / N slots, so shares are within a fraction of a percent of the weights even
    /// for a thousand servers. 128 KiB per mh service.
    static constexpr uint32_t kTableSize = 65537;

    explicit MaglevHash(SharedSchedulerState& shared) : TableScheduler(shared) {}
    /// The populated lookup table. Control thread.
    static std::vector<uint16_t> build_table(std::span<const Destination> servers);
    /// The slot `client` (network order) hashes to. Any thread.
    static uint32_t slot_of(uint32_t client);
    int32_t pick(std::span<const Destination> servers, const FlowKey& inbound,
                 const ServerLoad& load) override;
};

}  // namespace vsnat::dp
