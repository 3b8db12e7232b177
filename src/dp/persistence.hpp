// Persistence templates: which real server a client (address, masked) of a persistent service
// goes to, shared by every worker. LVS keeps them as template connections
// (IP_VS_CONN_F_TEMPLATE, ip_vs_sched_persist): a template lives while connections it
// controls live (n_control), and the service's persistence timeout after the last one ends.
// vsnat does the same, with a reference count instead of the controlled-connection count: each
// connection scheduled through a template holds a reference from its creation until its entry
// leaves the connection table (its last state's timeout, as LVS counts a connection's end);
// every release restarts the timeout, so it runs from the end of the last connection.
//
// Why not rte_hash: workers own connections by client (address, port), so one client's
// connections open and close on every worker, and each of them reads and updates the template.
// rte_hash's multi-writer mode takes one table-wide lock on every add, and its lock-free
// readers need an RCU grace period before a deleted key's slot can be reused. This table needs
// neither:
// - Fixed buckets of 8 slots (two cache lines), 16 bytes a slot: an identity word (service id,
//   masked client address, dest id) and a state word (expiry, reference count). Slots are
//   never freed, only reused, so a reader can never touch freed memory.
// - Finding a template and taking a reference on it is lock-free: a compare-and-swap on the
//   state word, which succeeds only on a live template, then a re-read of the identity in case
//   the slot was reused for another client in between.
// - Dropping a reference is one compare-and-swap; the last one starts the persistence timeout.
// - Only recording a new template takes a per-bucket try-lock, so that two workers scheduling
//   the same new client at once cannot record two templates: the second finds the first's and
//   follows it. The lock is held for a scan of 8 slots; a worker that cannot get it within a
//   few thousand spins gives up and schedules the connection without a template (counted).
// - Every worker sweeps a bucket per loop (expire_connections), marking expired templates
//   dead, so that no expiry is compared after the 32-bit millisecond clock wraps (24.8 days).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace vsnat::dp {

namespace persistence_state {
// A slot's state word: expiry_ms << 32 | references, or one of two markers in the references.
constexpr uint32_t kDead = 0xfffffffe;     // expired and swept, or never used: free for reuse
constexpr uint32_t kClaimed = 0xffffffff;  // being written by bind(), under the bucket lock
constexpr uint32_t kMaxRefs = kDead - 1;
constexpr uint64_t state_of(uint32_t expiry_ms, uint32_t refs) {
    return static_cast<uint64_t>(expiry_ms) << 32 | refs;
}
}  // namespace persistence_state

class PersistenceTable {
  public:
    static constexpr uint32_t kNoSlot = UINT32_MAX;
    /// Templates a table can be sized for (2^28: 8 GiB of slots).
    static constexpr uint32_t kMaxCapacity = 1u << 28;
    static constexpr uint32_t kSlotsPerBucket = 8;

    /// A reference a connection holds on a template: its slot, and the real server it names.
    struct Ref {
        uint32_t slot = kNoSlot;
        uint16_t dest_id = 0;
    };

    /// A table for `capacity` templates (1..kMaxCapacity; twice as many slots, so that a full
    /// bucket stays rare), about 32 bytes each. Control thread, once at start-up, before the
    /// workers run. Null with `error` set when the capacity is out of range or memory is short.
    static std::unique_ptr<PersistenceTable> create(uint32_t capacity,
                                                    std::string* error = nullptr);
    ~PersistenceTable();
    PersistenceTable(const PersistenceTable&) = delete;
    PersistenceTable& operator=(const PersistenceTable&) = delete;

    /// The live template of (`service_id`, `client`), with a reference taken for the caller's
    /// new connection; slot kNoSlot when there is none. `client` is the masked address, in
    /// network order. Any worker, lock-free.
    Ref acquire(uint16_t service_id, uint32_t client, uint32_t now_ms);

    /// Records a template sending (`service_id`, `client`) to `dest_id`, with a reference taken
    /// for the caller's new connection. When another worker recorded one since the caller's
    /// acquire() missed, that one is returned (referenced) instead, with its dest id: the caller
    /// follows it, so both connections reach one server. kNoSlot when the bucket is full or
    /// stays locked: the caller's connection then goes unpinned. Any worker.
    Ref bind(uint16_t service_id, uint32_t client, uint16_t dest_id, uint32_t now_ms,
             uint32_t timeout_ms);

    /// Points the template at `slot`, on which the caller holds a reference, to `to_dest` if it
    /// still names `from_dest` (a real server a reload removed). Returns the dest id it names
    /// now: `to_dest`, or whatever another worker redirected it to first. Any worker, lock-free.
    uint16_t redirect(uint32_t slot, uint16_t from_dest, uint16_t to_dest);

    /// Drops a connection's reference (when the connection ends); the template then lives at
    /// least `timeout_ms` more, and after that only while some connection holds it. Any
    /// worker, lock-free.
    void release(uint32_t slot, uint32_t now_ms, uint32_t timeout_ms);

    /// Marks the expired templates of `buckets` buckets dead, starting at `cursor` and moving it
    /// on (wrapping). Each worker calls it with its own cursor, a bucket per loop. Any
    /// worker, lock-free.
    void sweep(uint32_t& cursor, uint32_t buckets, uint32_t now_ms);

    /// Templates alive at `now_ms` (referenced, or within their timeout). Scans every slot: for
    /// tests and telemetry, not the packet path. Any thread.
    uint32_t live(uint32_t now_ms) const;
    uint32_t slot_count() const { return bucket_count_ * kSlotsPerBucket; }
    size_t memory_bytes() const;
    /// What create(capacity) allocates: memory_bytes() of the table it makes. Any thread.
    static size_t memory_bytes_for(uint32_t capacity);

  private:
    struct Slot {
        std::atomic<uint64_t> identity{0};  // dest id << 48 | service id << 32 | client
        std::atomic<uint64_t> state{persistence_state::state_of(0, persistence_state::kDead)};
    };
    struct alignas(64) Bucket {
        Slot slots[kSlotsPerBucket];
    };

    explicit PersistenceTable(uint32_t bucket_count);
    // Twice as many slots as templates: with 4 per 8-slot bucket on average, a full bucket
    // (a template that cannot be recorded) is about a 2% event even when the table is full.
    static uint32_t bucket_count_for(uint32_t capacity) { return (capacity + 3) / 4; }
    uint32_t bucket_of(uint16_t service_id, uint32_t client) const;
    Slot& slot(uint32_t index) {
        return buckets_[index / kSlotsPerBucket].slots[index % kSlotsPerBucket];
    }
    bool try_lock(uint32_t bucket);
    void unlock(uint32_t bucket);

    uint32_t bucket_count_;
    std::unique_ptr<Bucket[]> buckets_;
    std::unique_ptr<std::atomic<uint8_t>[]> locks_;  // per bucket: held while recording
};

}  // namespace vsnat::dp
