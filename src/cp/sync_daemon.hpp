// The connection sync thread (README.md, "A pair of directors"): carries records between the
// workers and the other directors. What the workers queue (dp/conn_sync.hpp) it packs into
// IPVS sync messages (dp/sync_wire.hpp) and sends by UDP to the group or the peers, through
// the sync interface's kernel mirror; what arrives there it reads as a kernel backup would and
// hands each record to the worker that owns its client, which puts it in its table.
//
// Bounded everywhere: each worker's ring each way holds kRingSize records (a full one drops
// and counts), a round takes at most kDatagramsPerRound datagrams and kRecordsPerRound records
// from each worker, and a worker applies at most 256 records per loop.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cp/config.hpp"
#include "cp/dpdk_handles.hpp"
#include "dp/sync_wire.hpp"
#include "io/netns.hpp"
#include "io/unique_fd.hpp"
#include "vsnat/counters.hpp"

struct rte_ring;

namespace vsnat::cp {

using SyncTotals = std::array<uint64_t, kSyncCounterCount>;

class SyncDaemon {
  public:
    static constexpr unsigned kRingSize = 16384;
    static constexpr unsigned kDatagramsPerRound = 64;
    static constexpr unsigned kRecordsPerRound = 4096;
    /// How long a record may wait for others to share its message: the sync delay (plus up to
    /// a millisecond before the thread looks at the rings).
    static constexpr int kFlushMs = 10;
    /// With nothing to send for this long, an empty message goes: a sign of life, by which a
    /// peer that restarted is noticed and given every connection (below).
    static constexpr uint64_t kHeartbeatMs = 1000;
    /// A peer heard from first, or again after this much silence, may have lost its table (it
    /// restarted): every worker resends all of its connections.
    static constexpr uint64_t kPeerSilenceMs = 3000;
    /// Senders remembered, at most: a pair needs one; datagrams from more are still read, but
    /// the newcomers get no resend until remembered ones fall silent.
    static constexpr size_t kMaxPeers = 64;
    /// Whole-table resends start at most this often, however many peers appear: one in progress
    /// that a peer missed the start of is followed by another.
    static constexpr uint64_t kResendIntervalMs = kPeerSilenceMs;

    SyncDaemon() = default;
    ~SyncDaemon();
    SyncDaemon(const SyncDaemon&) = delete;
    SyncDaemon& operator=(const SyncDaemon&) = delete;

    /// Makes the rings for `workers` workers and the socket, in `netns` (the kernel mirrors'),
    /// bound to port `sync.port` on the kernel mirror `mirror` of interface `in`, joined to the
    /// group when there is one. Main thread, after EAL init and the mirrors. False, with `error`
    /// set to one line, on failure.
    bool create(const SyncConfig& sync, const Interface& in, const std::string& mirror,
                const io::NetworkNamespace& netns, uint32_t workers, std::string& error);
    bool active() const { return socket_.get() >= 0; }

    /// Worker `w`'s ring of records to send (it produces) and of records to apply (it consumes).
    rte_ring* from_worker(uint32_t w) const { return from_workers_[w].get(); }
    rte_ring* to_worker(uint32_t w) const { return to_workers_[w].get(); }
    /// Raised when the workers are to resend their whole tables (WorkerSetup::sync_resend).
    const std::atomic<uint64_t>* resend_request() const { return &resend_; }

    /// Starts the thread. Main thread, once the workers run.
    void start();
    /// Ends the thread and waits for it. Main thread; idempotent.
    void stop();

    /// The thread's counters, in kSyncCounters' order. Any thread, without locks.
    SyncTotals totals() const;
    const SyncConfig& config() const { return config_; }

  private:
    void run();
    uint32_t receive(uint64_t now_ms);
    void deliver(std::span<const uint8_t> datagram, uint32_t source, uint64_t now_ms);
    template <class Address>
    void queue_for_owners(const std::vector<dp::sync::BasicRecord<Address>>& records);
    void heard_from(uint32_t source, uint64_t now_ms);
    bool from_peer(uint32_t source) const;
    void request_resend(uint64_t now_ms);
    uint32_t send_queued(uint64_t now_ms);
    void send_message(uint64_t now_ms);
    void count(SyncCounter counter, uint64_t n = 1) {
        counters_[static_cast<size_t>(counter)].fetch_add(n, std::memory_order_relaxed);
    }

    SyncConfig config_;
    uint32_t own_address_ = 0;  // network order: datagrams from it are our own
    uint32_t workers_ = 1;
    dp::sync::MessageWriter writer_;
    dp::sync::Decoded decoded_;  // reused: no allocation per datagram once grown
    io::UniqueFd socket_;
    std::vector<uint32_t> destinations_;  // network order: the group, or the peers
    std::vector<UniqueRing> from_workers_;
    std::vector<UniqueRing> to_workers_;
    std::unordered_map<uint32_t, uint64_t> peers_;  // source address -> when last heard
    bool resend_due_ = false;                       // a peer appeared: resend when allowed
    uint64_t last_resend_ms_ = 0;
    uint64_t last_sent_ms_ = 0;
    uint64_t first_pending_ms_ = 0;  // when the message being filled got its first record
    std::atomic<uint64_t> resend_{0};
    std::array<std::atomic<uint64_t>, kSyncCounterCount> counters_{};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace vsnat::cp
