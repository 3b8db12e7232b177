// The worker lcores and everything each one owns: its connection table, FTP helper state,
// counters, handover and ARP-order rings, its connection-dump slot; and what they share: the
// persistence templates, the FTP expectations, the RCU state that tells when a replaced
// snapshot is no longer read. Made in one piece, launched, stopped, released in one piece.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cp/dpdk_handles.hpp"
#include "dp/worker.hpp"
#include "io/port.hpp"

struct rte_mempool;
struct rte_rcu_qsbr;

namespace vsnat::cp {

/// What the workers are wired to; every pointer outlives the Workers made from it.
struct WorkersSpec {
    uint32_t count = 1;
    uint32_t max_connections = 1;  // all workers together
    /// Whether IPv6 is configured (an interface has an IPv6 address): each worker gets an IPv6
    /// connection table of as many connections as its IPv4 one, and the workers an IPv6
    /// persistence table as large as IPv4's; else IPv6 is dropped.
    bool ipv6 = false;
    dp::IdleMode idle = dp::IdleMode::adaptive;
    rte_mempool* pool = nullptr;
    std::vector<io::OpenPort> ports;
    const std::atomic<const dp::Snapshot*>* snapshot = nullptr;  // set before create()
    const dp::NeighborTable* neighbors = nullptr;
    const dp::NeighborTable6* neighbors6 = nullptr;
    /// Per worker: its rings to the kernel mirrors (none without mirrors).
    std::vector<std::array<rte_ring*, dp::kPuntClasses>> punt_to;
    /// What the kernels send, for worker 0 to transmit; null without mirrors.
    rte_ring* from_kernel = nullptr;
    /// Per worker: its rings to and from the sync thread (none without `ha.sync`).
    std::vector<rte_ring*> sync_out;
    std::vector<rte_ring*> sync_in;
    const std::atomic<uint64_t>* sync_resend = nullptr;  // with them
};

class Workers {
  public:
    /// Makes every worker's resources. Main thread, after EAL init. Null, with `error` set to
    /// one line, when any DPDK call or allocation fails (nothing is left allocated then).
    static std::unique_ptr<Workers> create(const WorkersSpec& spec, std::string& error);
    /// Stops the loops if they run, then frees everything. Main thread.
    ~Workers();
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;

    /// Starts each worker's loop on its own worker lcore. Main thread, once. False, with
    /// `error` set, when EAL has too few worker lcores or refuses a launch (the ones launched
    /// are stopped again).
    bool launch(std::string& error);
    /// Tells the loops to end and waits for them. Main thread; idempotent.
    void stop();

    /// Returns once every worker has passed a quiescent point after the call began, so none
    /// still reads a snapshot replaced before it. Control thread.
    void wait_quiescent() const;

    /// Each worker's context, read-only (counters, table fill). Any thread: the counters are
    /// plain 64-bit values read without locks.
    const std::vector<const dp::WorkerContext*>& contexts() const { return contexts_; }
    uint64_t live_connections() const;
    /// One real server's counters, summed over the workers. Any thread.
    dp::DestCounters dest_totals(uint16_t dest_id) const;

    /// Up to `limit` connections of every worker, copied by the workers themselves; waits up to
    /// 2 s for each. Any thread but a worker's or the control thread's; one caller at a time is
    /// served, the others wait their turn.
    std::vector<dp::ConnDump::Row> dump_connections(uint32_t limit);

    /// Where workers report the neighbors they see (control thread: the one consumer).
    rte_ring* sightings() const { return sightings_.get(); }
    /// Where the control thread orders ARP requests, answered by worker 0: (port << 32 | ip).
    rte_ring* arp_orders() const;
    /// Worker 0's ring of neighbor solicitations to send (NeighborResolver::poll's nd_orders).
    rte_ring* nd_orders() const;

    /// Packets a handover ring holds: the packet pool must have room for all of them.
    static constexpr unsigned kHandoverRingSize = 1024;
    /// Evictable connections remembered per protocol (4 bytes each), at most: a flood's oldest
    /// beyond this are forgotten, which only narrows the choice of what to evict.
    static constexpr uint32_t kMaxUnanswered = 1u << 20;

  private:
    struct Worker;
    Workers() = default;
    bool make(const WorkersSpec& spec, std::string& error);
    bool make_worker(const WorkersSpec& spec, uint32_t id, std::string& error);

    std::vector<std::unique_ptr<Worker>> workers_;
    std::vector<const dp::WorkerContext*> contexts_;
    std::vector<dp::DestCounters*> all_dest_counters_;
    std::vector<std::vector<UniqueRing>> handover_;  // [from][to]; null where from == to
    UniqueRing sightings_;
    UniqueRte<rte_rcu_qsbr> qsbr_;
    std::unique_ptr<dp::PersistenceTable> persistence_;
    std::unique_ptr<dp::PersistenceTable6> persistence6_;  // made with the IPv6 tables
    std::unique_ptr<dp::ExpectationTable> expectations_;
    std::unique_ptr<dp::ExpectationTable6> expectations6_;  // with spec.ipv6
    std::unique_ptr<dp::FragmentTable> fragments_;
    std::unique_ptr<dp::FragmentTable6> fragments6_;  // when IPv6 is configured
    std::atomic<bool> stop_{false};
    std::vector<unsigned> launched_lcores_;
    std::mutex dump_mutex_;  // one dump at a time
};

}  // namespace vsnat::cp
