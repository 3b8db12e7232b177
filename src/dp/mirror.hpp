// The kernel mirrors' loop: what the workers punt goes into the kernel by each port's mirror
// (control traffic first), and what the kernel sends on a mirror goes out by its port.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "dp/pipeline.hpp"

struct rte_ring;

namespace vsnat::dp {

/// Per port with a mirror, counted by the mirrors' thread alone (plain; other threads read them
/// without locks).
struct MirrorCounters {
    uint64_t punted = 0;               // packets given to the kernel
    uint64_t punted_control = 0;       // of which control
    uint64_t refused = 0;              // the mirror did not take them
    uint64_t from_kernel = 0;          // packets the kernel sent, queued to leave by the port
    uint64_t from_kernel_dropped = 0;  // the queue to the port was full
};

/// What the mirrors' loop is wired to. Built by the control thread before the loop starts;
/// read-only to the loop afterwards, except `counters`.
struct MirrorSetup {
    static constexpr uint16_t kNoMirror = UINT16_MAX;
    /// [port]: the DPDK port of that port's mirror (its one RX and TX queue), or kNoMirror.
    std::array<uint16_t, kMaxPorts> mirror_of{};
    /// From each worker, by PuntClass.
    std::vector<std::array<rte_ring*, kPuntClasses>> punted;
    rte_ring* to_ports = nullptr;  // to the worker that sends the kernel's packets
    std::array<MirrorCounters, kMaxPorts>* counters = nullptr;
    const std::atomic<bool>* stop = nullptr;
};

/// One round: all waiting control packets (up to a bound), then up to a burst of bulk from each
/// worker, into the mirrors; then up to a burst from each mirror, to the ports. Returns the
/// packets moved. The mirrors' thread only (it owns the mirrors' queues).
uint32_t mirror_round(MirrorSetup& setup);

/// mirror_round until `*setup.stop`, napping (up to 200 us) while there is nothing to move.
void run_mirrors(MirrorSetup& setup);

}  // namespace vsnat::dp
