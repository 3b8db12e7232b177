// The per-worker connection table: a fixed pool of 32-byte connection records, a hash index that
// finds a record by either of its two keys, and the timer wheel that expires them.
//
// The index stores no keys: a record holds everything both of its keys are made of, so an index
// entry is a 16-bit signature and the record's id with one bit for the direction. Eight entries
// share one 64-byte bucket; each key has two candidate buckets (cuckoo hashing), its primary and
// an alternate computed from the bucket and the signature, so entries can be moved without
// reading their records. A lookup reads one bucket and the one record whose signature matches,
// which the packet needs next anyway; a key that is absent costs one bucket, unless keys of that
// bucket overflowed into their alternates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dp/conn.hpp"
#include "dp/timer_wheel.hpp"

namespace vsnat::dp {

/// Why an insert failed (BasicConnTable::insert).
enum class ConnInsertError : uint8_t { none, full, conflict };

/// Owned and used by one worker only (no locks): create on any thread after EAL init, then hand
/// it to its worker. Capacity is fixed at creation. `Record` is Conn (IPv4) or Conn6 (IPv6):
/// each family has a table of its own (ConnTable, ConnTable6).
template <class Record>
class BasicConnTable {
  public:
    using Key = decltype(Record{}.inbound_key());
    using InsertError = ConnInsertError;
    static constexpr uint32_t kNoConn = UINT32_MAX;
    static constexpr uint32_t kMaxBurst = 64;  // the bulk lookup's per-key state is on the stack

    /// Returns null (and fills `error`) when the memory cannot be allocated or `capacity` is
    /// beyond 2^31 connections.
    static std::unique_ptr<BasicConnTable> create(const std::string& name, uint32_t capacity,
                                                  int socket_id, uint32_t now_ms,
                                                  std::string* error = nullptr);
    /// What a table of `capacity` connections holds (memory_bytes() once created). Any thread;
    /// needs no EAL.
    static size_t memory_bytes_for(uint32_t capacity);
    ~BasicConnTable();
    BasicConnTable(const BasicConnTable&) = delete;
    BasicConnTable& operator=(const BasicConnTable&) = delete;

    /// A lookup in three steps, so that its two memory reads (bucket, record) overlap other
    /// work instead of waiting: start_lookup() hashes the key and fetches its bucket (the packet
    /// path calls it as each packet of a burst is parsed, so the fetches overlap the parsing of
    /// the rest); fetch_candidate() reads the bucket and fetches the record its signature names
    /// (for every key of the burst, once all are started) and returns that connection, kNoConn
    /// if none (the caller may fetch what it keeps beside the record); finish_lookup() gives the
    /// connection
    /// or kNoConn (as each packet is forwarded, so the records arrive during the forwarding of
    /// the packets before). The table may change between the steps (an earlier packet opens or
    /// ends a connection): finish_lookup() reads the buckets afresh.
    struct PendingLookup {
        uint32_t bucket;  // the primary
        uint16_t sig;
    };
    PendingLookup start_lookup(const Key& key) const;
    uint32_t fetch_candidate(const PendingLookup& p) const;
    uint32_t finish_lookup(const Key& key, const PendingLookup& p) const;

    /// Looks up `n` (<= kMaxBurst) keys at once, the three steps for all keys in turn; ids[i] is
    /// the connection or kNoConn. The hits' records are in cache afterwards.
    void lookup_bulk(const Key* const* keys, uint32_t n, uint32_t* ids) const;
    uint32_t lookup(const Key& key) const;

    /// Adds a connection under both its keys, expiring at `expires_ms` (conn.expires_ms is
    /// ignored). `full`: no free record, or no room for a key in its two buckets after a bounded
    /// search for entries to move; `conflict`: a key already present (either direction's). On
    /// either nothing changes and kNoConn is returned.
    uint32_t insert(const Record& conn, uint32_t expires_ms, InsertError& error);

    /// Removes a connection and both its keys.
    void erase(uint32_t id);

    /// Starts loading a connection's record (all a packet of it touches in the table), so that
    /// a burst's hits are fetched from memory in parallel rather than one miss at a time.
    void prefetch(uint32_t id) const {
        __builtin_prefetch(&conns_[id]);
        if constexpr (sizeof(Record) > 64 || alignof(Record) < sizeof(Record)) {
            // A record that may cross a cache line (Conn6): its last byte's line too.
            __builtin_prefetch(reinterpret_cast<const char*>(&conns_[id] + 1) - 1);
        }
    }
    /// Whether `id` is a connection now (not a free record).
    bool live(uint32_t id) const { return id < capacity_ && wheel_.scheduled(id); }
    /// The record; its `expires_ms` is changed only through set_expiry(), and the fields its
    /// keys are made of (addresses, ports, protocol) must not change while it is live.
    Record& conn(uint32_t id) { return conns_[id]; }
    const Record& conn(uint32_t id) const { return conns_[id]; }
    void set_expiry(uint32_t id, uint32_t expires_ms) {
        Record& c = conns_[id];
        const uint32_t old_ms = c.expires_ms;
        c.expires_ms = expires_ms;
        wheel_.update(id, old_ms, expires_ms);
    }
    /// set_expiry(), unless it pushes the expiry later by less than `slack_ms`: then the record
    /// is not written at all.
    void refresh_expiry(uint32_t id, uint32_t expires_ms, uint32_t slack_ms) {
        if (expires_ms - conns_[id].expires_ms >= slack_ms) {  // earlier: wraps, written
            set_expiry(id, expires_ms);
        }
    }
    uint32_t expiry(uint32_t id) const { return conns_[id].expires_ms; }

    /// Expires due connections with at most `budget` units of work; `on_expire(const Conn&)` is
    /// called before each record is freed, `on_rearm(id)` for each connection found live at a
    /// deadline it has passed (TimerWheel::advance). Returns how many expired.
    ///
    /// The expired are freed in batches: the wheel hands them over one by one, each record just
    /// read (its expiry), and their keys' buckets are fetched together before any is removed,
    /// so that in a large table the misses overlap instead of following one another.
    template <class OnExpire, class OnRearm = TimerWheel::NoRearm>
    uint32_t expire(uint32_t now_ms, uint32_t budget, OnExpire&& on_expire,
                    OnRearm&& on_rearm = {}) {
        Expired batch[kExpireBatch];
        uint32_t n = 0;
        const auto free_batch = [&] {
            for (uint32_t i = 0; i < n; ++i) {
                on_expire(conns_[batch[i].id]);
                remove_keys_and_free(batch[i]);
            }
            n = 0;
        };
        const uint32_t expired = wheel_.advance(
            now_ms, budget, [this](uint32_t id) { return conns_[id].expires_ms; },
            [&](uint32_t id) {
                if (n == kExpireBatch) {
                    free_batch();
                }
                batch[n++] = start_expiry(id);
            },
            on_rearm);
        free_batch();
        return expired;
    }

    /// Calls `visit(id, const Conn&)` for every live connection. Not for the packet path.
    template <class Visit>
    void for_each(Visit&& visit) const {
        for (uint32_t id = 0; id < capacity_; ++id) {
            if (wheel_.scheduled(id)) {
                visit(id, conns_[id]);
            }
        }
    }

    uint32_t size() const { return size_; }
    uint32_t capacity() const { return capacity_; }
    /// Memory held: the index, the records and the wheel.
    size_t memory_bytes() const { return memory_bytes_for(capacity_); }

  private:
    static constexpr uint32_t kSlots = 8;

    // One cache line. An entry is a signature (0: the slot is empty) and a reference: the
    // record's id << 1 | 1 for its reply key, 0 for its inbound key.
    struct alignas(64) Bucket {
        uint16_t sig[kSlots];
        uint32_t ref[kSlots];
        // How many keys whose primary bucket this is sit in their alternate: while none, a key
        // not found here is absent, and a miss reads no second bucket.
        uint32_t displaced;
        // Bit s: slot s holds a key whose primary is the other bucket.
        uint8_t in_alternate;
    };
    static_assert(sizeof(Bucket) == 64);

    using Hashed = PendingLookup;  // a key's primary bucket and signature
    // An expired connection about to be freed, its keys hashed and their buckets on their way.
    struct Expired {
        uint32_t id;
        Hashed inbound;
        Hashed reply;
    };
    static constexpr uint32_t kExpireBatch = 16;

    BasicConnTable(Bucket* buckets, uint32_t bucket_mask, Record* conns, TimerWheel::Node* nodes,
                   uint32_t capacity, uint32_t now_ms);
    static uint32_t bucket_count(uint32_t capacity);
    Hashed hash(const Key& key) const;
    uint32_t alternate(uint32_t bucket, uint16_t sig) const {
        // Odd, so never the bucket itself: every key has two places to go. Its own inverse.
        return (bucket ^ ((sig * 0x9e3779b1u) | 1)) & bucket_mask_;
    }
    // Slots of `b` whose signature is `sig`, one bit each (sig 0: the empty slots).
    static uint32_t matches(const Bucket& b, uint16_t sig);
    bool holds(uint32_t ref, const Key& key) const;
    uint32_t match_in(const Bucket& b, uint32_t candidates, const Key& key) const;
    uint32_t find(const Key& key, Hashed h) const;
    bool place(Hashed h, uint32_t ref);
    void move(uint32_t from, uint32_t slot, uint32_t to, uint32_t to_slot);
    // The slot of `b` holding the entry (sig, ref), or kSlots.
    static uint32_t slot_of(const Bucket& b, uint16_t sig, uint32_t ref);
    void remove(Hashed h, uint32_t ref);
    void remove_keys_and_free(uint32_t id);
    Expired start_expiry(uint32_t id) const;  // hashes its keys, fetches their buckets
    void remove_keys_and_free(const Expired& e);
    void push_free(uint32_t id);

    // Buckets, records and wheel nodes come from rte_malloc: hugepage memory, so that reaching
    // a random connection of a large table costs no page walk.
    Bucket* buckets_;
    uint32_t bucket_mask_;
    uint32_t capacity_;
    uint32_t size_ = 0;
    // Free records form a stack linked through their `persistence_slot` field (unused while
    // free), so the free list costs no memory of its own.
    uint32_t free_head_;
    Record* conns_;
    TimerWheel::Node* nodes_;
    TimerWheel wheel_;
};

extern template class BasicConnTable<Conn>;
extern template class BasicConnTable<Conn6>;
using ConnTable = BasicConnTable<Conn>;
using ConnTable6 = BasicConnTable<Conn6>;

}  // namespace vsnat::dp
