// What the hashing schedulers (sh, dh, mh) share: a precomputed slot table read by every
// worker, and LVS's fallback when the server a flow hashes to cannot take it.
#pragma once

#include <bit>

#include "dp/sched/scheduler.hpp"

namespace vsnat::dp {

class TableScheduler : public Scheduler {
  protected:
    using Scheduler::Scheduler;

    /// The server in `slot` when it is available. Otherwise the first available one walking
    /// the table forward from `walk_from` (LVS's sh-fallback and mh-fallback behaviour, which
    /// vsnat always applies, so that a quiesced or overloaded server's clients go elsewhere
    /// rather than being refused). kNone when the table is empty or no server is available.
    /// The owning worker only.
    int32_t pick_slot(size_t slot, size_t walk_from, std::span<const Destination> servers,
                      const ServerLoad& load);
};

/// An address as a number (host byte order), the form LVS hashes: the same on every platform.
inline uint32_t host_order(uint32_t network_order) {
    return std::endian::native == std::endian::little ? __builtin_bswap32(network_order)
                                                      : network_order;
}

/// LVS's sh and dh bucket of an address (host order): Linux's hash_32(addr, 8), the top 8 bits
/// of addr * GOLDEN_RATIO_32.
inline size_t lvs_bucket_of(uint32_t address) {
    return (address * 0x61C88647u) >> 24;
}

/// LVS's 256-bucket table (ip_vs_sh_reassign, ip_vs_dh_reassign): buckets in order, each server
/// in config order taking `weight` consecutive buckets (`weighted`, sh; at least one, even at
/// weight 0) or exactly one (dh), round and round until all 256 are assigned. Control thread.
std::vector<uint16_t> lvs_bucket_table(std::span<const Destination> servers, bool weighted);

}  // namespace vsnat::dp
