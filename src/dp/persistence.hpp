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
// - Fixed buckets of 8 slots, each an identity (service id, masked client address, dest id)
//   and a state word (expiry, reference count). IPv4's identity is one word (16-byte slots,
//   buckets of two cache lines); IPv6's three, so that it holds the whole masked 128-bit
//   address (32-byte slots, four cache lines): a hash in its place would let two clients that
//   collide share a template, one of them pinned to the other's server. Slots are never freed,
//   only reused, so a reader can never touch freed memory.
// - Finding a template and taking a reference on it is lock-free: a compare-and-swap on the
//   state word, which succeeds only on a live template, then a re-read of every identity word
//   in case the slot was reused for another client in between. The re-read is exact, however
//   many words: bind() writes an identity only while the slot is claimed, a slot is claimed
//   only while no reference is held on it, and the reference was taken on a state published
//   (release) after the identity was written. The identity read before the reference is taken
//   may mix two clients' words; it only filters.
// - Dropping a reference is one compare-and-swap; the last one starts the persistence timeout.
// - Only recording a new template takes a per-bucket try-lock, so that two workers scheduling
//   the same new client at once cannot record two templates: the second finds the first's and
//   follows it. The lock is held for a scan of 8 slots; a worker that cannot get it within a
//   few thousand spins gives up and schedules the connection without a template (counted).
// - Every worker sweeps a bucket per loop (expire_connections), marking expired templates
//   dead, so that no expiry is compared after the 32-bit millisecond clock wraps (24.8 days).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "vsnat/types.hpp"

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

/// A template's identity words without its dest id (what a lookup matches), by the family of
/// its client address. The first word is service id << 32, with an IPv4 client in its low 32
/// bits; the table keeps the dest id in its top 16 bits.
template <class Client>
struct PersistenceIdentity;

template <>
struct PersistenceIdentity<uint32_t> {
    static constexpr size_t kWords = 1;
    static constexpr const char* kTableName = "persistence table";
    static std::array<uint64_t, kWords> of(uint16_t service_id, uint32_t client) {
        return {static_cast<uint64_t>(service_id) << 32 | client};
    }
};

template <>
struct PersistenceIdentity<Ipv6> {
    static constexpr size_t kWords = 3;
    static constexpr const char* kTableName = "IPv6 persistence table";
    static std::array<uint64_t, kWords> of(uint16_t service_id, const Ipv6& client) {
        std::array<uint64_t, kWords> words{static_cast<uint64_t>(service_id) << 32};
        std::memcpy(&words[1], client.data(), client.size());
        return words;
    }
};

/// A reference a connection holds on a template: its slot, and the real server it names.
struct PersistenceRef {
    uint32_t slot = UINT32_MAX;
    uint16_t dest_id = 0;
};

/// The templates of one address family's clients: `Client` is an IPv4 address (uint32_t,
/// network order) or an IPv6 one (Ipv6).
template <class Client>
class BasicPersistenceTable {
  public:
    using Ref = PersistenceRef;
    static constexpr uint32_t kNoSlot = UINT32_MAX;
    /// Templates a table can be sized for (2^28: 8 GiB of slots for IPv4, 16 GiB for IPv6).
    static constexpr uint32_t kMaxCapacity = 1u << 28;
    static constexpr uint32_t kSlotsPerBucket = 8;

    /// A table for `capacity` templates (1..kMaxCapacity; twice as many slots, so that a full
    /// bucket stays rare), about 32 bytes each for IPv4, 64 for IPv6. Control thread, once at
    /// start-up, before the workers run. Null with `error` set when the capacity is out of range
    /// or memory is short.
    static std::unique_ptr<BasicPersistenceTable> create(uint32_t capacity,
                                                         std::string* error = nullptr);
    ~BasicPersistenceTable();
    BasicPersistenceTable(const BasicPersistenceTable&) = delete;
    BasicPersistenceTable& operator=(const BasicPersistenceTable&) = delete;

    /// The live template of (`service_id`, `client`), with a reference taken for the caller's
    /// new connection; slot kNoSlot when there is none. `client` is the masked address, in
    /// network order. Any worker, lock-free.
    Ref acquire(uint16_t service_id, Client client, uint32_t now_ms);

    /// Records a template sending (`service_id`, `client`) to `dest_id`, with a reference taken
    /// for the caller's new connection. When another worker recorded one since the caller's
    /// acquire() missed, that one is returned (referenced) instead, with its dest id: the caller
    /// follows it, so both connections reach one server. kNoSlot when the bucket is full or
    /// stays locked: the caller's connection then goes unpinned. Any worker.
    Ref bind(uint16_t service_id, Client client, uint16_t dest_id, uint32_t now_ms,
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
    using Identity = PersistenceIdentity<Client>;
    using Words = std::array<uint64_t, Identity::kWords>;

    struct Slot {
        // [0]: dest id << 48 | service id << 32 | IPv4 client; [1], [2]: an IPv6 client.
        std::atomic<uint64_t> identity[Identity::kWords]{};
        std::atomic<uint64_t> state{persistence_state::state_of(0, persistence_state::kDead)};
    };
    static_assert(sizeof(Slot) == 8 * (Identity::kWords + 1));
    struct alignas(64) Bucket {
        Slot slots[kSlotsPerBucket];
    };

    explicit BasicPersistenceTable(uint32_t bucket_count);
    // Twice as many slots as templates: with 4 per 8-slot bucket on average, a full bucket
    // (a template that cannot be recorded) is about a 2% event even when the table is full.
    static uint32_t bucket_count_for(uint32_t capacity) { return (capacity + 3) / 4; }
    uint32_t bucket_of(const Words& who) const;
    Slot& slot(uint32_t index) {
        return buckets_[index / kSlotsPerBucket].slots[index % kSlotsPerBucket];
    }
    bool try_lock(uint32_t bucket);
    void unlock(uint32_t bucket);

    uint32_t bucket_count_;
    std::unique_ptr<Bucket[]> buckets_;
    std::unique_ptr<std::atomic<uint8_t>[]> locks_;  // per bucket: held while recording
};

using PersistenceTable = BasicPersistenceTable<uint32_t>;
using PersistenceTable6 = BasicPersistenceTable<Ipv6>;

extern template class BasicPersistenceTable<uint32_t>;
extern template class BasicPersistenceTable<Ipv6>;

}  // namespace vsnat::dp
