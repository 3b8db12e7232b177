#include "dp/mirror.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <cassert>

namespace vsnat::dp {
namespace {

constexpr uint16_t kBurst = 32;
// Control packets taken from each worker per round: a round's bulk is one burst per worker,
// so control waits behind at most that, however long the bulk queues are.
constexpr unsigned kControlBurstsPerRound = 4;
constexpr uint32_t kMaxNapUs = 200;

// Gives `n` packets to the mirrors of the ports they came in on; counts what a mirror refused.
void into_kernel(MirrorSetup& s, rte_mbuf** pkts, unsigned n, PuntClass cls) {
    unsigned start = 0;
    while (start < n) {
        const uint16_t port = pkts[start]->port;
        assert(port < kMaxPorts);
        unsigned end = start + 1;
        while (end < n && pkts[end]->port == port) {
            ++end;  // a run of one port's packets: one call into its mirror
        }
        const uint16_t mirror = s.mirror_of[port];
        const auto count = static_cast<uint16_t>(end - start);
        const uint16_t sent =
            mirror == MirrorSetup::kNoMirror ? 0 : rte_eth_tx_burst(mirror, 0, pkts + start, count);
        MirrorCounters& c = (*s.counters)[port];
        c.punted += sent;
        if (cls == PuntClass::control) {
            c.punted_control += sent;
        }
        for (unsigned i = start + sent; i < end; ++i) {
            ++c.refused;
            rte_pktmbuf_free(pkts[i]);
        }
        start = end;
    }
}

uint32_t drain(MirrorSetup& s, PuntClass cls, unsigned bursts) {
    rte_mbuf* pkts[kBurst];
    uint32_t moved = 0;
    for (const auto& rings : s.punted) {
        rte_ring* ring = rings[static_cast<size_t>(cls)];
        for (unsigned b = 0; ring != nullptr && b < bursts; ++b) {
            const unsigned n =
                rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(pkts), kBurst, nullptr);
            into_kernel(s, pkts, n, cls);
            moved += n;
            if (n < kBurst) {
                break;
            }
        }
    }
    return moved;
}

// What the kernels sent: to the worker that sends it out, each packet marked with its port.
uint32_t out_of_kernel(MirrorSetup& s) {
    rte_mbuf* pkts[kBurst];
    uint32_t moved = 0;
    for (uint16_t port = 0; port < kMaxPorts; ++port) {
        const uint16_t mirror = s.mirror_of[port];
        if (mirror == MirrorSetup::kNoMirror) {
            continue;
        }
        const uint16_t n = rte_eth_rx_burst(mirror, 0, pkts, kBurst);
        for (uint16_t i = 0; i < n; ++i) {
            pkts[i]->port = port;
        }
        const unsigned queued =
            n == 0
                ? 0
                : rte_ring_sp_enqueue_burst(s.to_ports, reinterpret_cast<void**>(pkts), n, nullptr);
        MirrorCounters& c = (*s.counters)[port];
        c.from_kernel += queued;
        for (unsigned i = queued; i < n; ++i) {
            ++c.from_kernel_dropped;
            rte_pktmbuf_free(pkts[i]);
        }
        moved += n;
    }
    return moved;
}

}  // namespace

uint32_t mirror_round(MirrorSetup& s) {
    uint32_t moved = drain(s, PuntClass::control, kControlBurstsPerRound);
    moved += drain(s, PuntClass::bulk, 1);
    moved += out_of_kernel(s);
    return moved;
}

void run_mirrors(MirrorSetup& s) {
    uint32_t nap_us = 1;
    while (!s.stop->load(std::memory_order_relaxed)) {
        if (mirror_round(s) > 0) {
            nap_us = 1;
            continue;
        }
        rte_delay_us_sleep(nap_us);
        nap_us = std::min(nap_us * 2, kMaxNapUs);
    }
}

}  // namespace vsnat::dp
