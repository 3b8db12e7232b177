// The per-worker connection table: an rte_hash holding two keys per connection, a fixed pool of
// connection records, and the timer wheel that expires them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dp/conn.hpp"
#include "dp/timer_wheel.hpp"

struct rte_hash;

namespace vsnat::dp {

/// Owned and used by one worker only (no locks): create on any thread after EAL init, then hand
/// it to its worker. Capacity is fixed at creation.
class ConnTable {
  public:
    static constexpr uint32_t kNoConn = UINT32_MAX;
    static constexpr uint32_t kMaxBurst = 64;  // rte_hash bulk lookups take at most 64 keys

    enum class InsertError : uint8_t { none, full, conflict };

    /// Returns null (and fills `error`) when the hash cannot be created.
    static std::unique_ptr<ConnTable> create(const std::string& name, uint32_t capacity,
                                             int socket_id, uint32_t now_ms,
                                             std::string* error = nullptr);
    ~ConnTable();
    ConnTable(const ConnTable&) = delete;
    ConnTable& operator=(const ConnTable&) = delete;

    /// Looks up `n` (<= kMaxBurst) keys at once; ids[i] is the connection or kNoConn.
    void lookup_bulk(const FlowKey* const* keys, uint32_t n, uint32_t* ids) const;
    uint32_t lookup(const FlowKey& key) const;

    /// Adds a connection under both its keys, expiring at `expires_ms` (conn.expires_ms is
    /// ignored). On `full` or `conflict`
    /// (a key already present) nothing changes and kNoConn is returned.
    uint32_t insert(const Conn& conn, uint32_t expires_ms, InsertError& error);

    /// Removes a connection and both its keys.
    void erase(uint32_t id);

    /// Starts loading a connection's record (all a packet of it touches in the table), so that
    /// a burst's hits are fetched from memory in parallel rather than one miss at a time.
    void prefetch(uint32_t id) const { __builtin_prefetch(&conns_[id]); }
    /// Whether `id` is a connection now (not a free record).
    bool live(uint32_t id) const { return id < capacity_ && wheel_.scheduled(id); }
    /// The record; its `expires_ms` is changed only through set_expiry().
    Conn& conn(uint32_t id) { return conns_[id]; }
    const Conn& conn(uint32_t id) const { return conns_[id]; }
    void set_expiry(uint32_t id, uint32_t expires_ms) {
        Conn& c = conns_[id];
        const uint32_t old_ms = c.expires_ms;
        c.expires_ms = expires_ms;
        wheel_.update(id, old_ms, expires_ms);
    }
    uint32_t expiry(uint32_t id) const { return conns_[id].expires_ms; }

    /// Expires due connections with at most `budget` units of work; `on_expire(const Conn&)` is
    /// called before each record is freed. Returns how many expired.
    template <class OnExpire>
    uint32_t expire(uint32_t now_ms, uint32_t budget, OnExpire&& on_expire) {
        return wheel_.advance(
            now_ms, budget, [this](uint32_t id) { return conns_[id].expires_ms; },
            [&](uint32_t id) {
                on_expire(conns_[id]);
                remove_keys_and_free(id);
            });
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
    /// Memory held: the hash (as rte_malloc reports it), the records and the wheel.
    size_t memory_bytes() const { return memory_bytes_; }

  private:
    ConnTable(rte_hash* hash, Conn* conns, TimerWheel::Node* nodes, uint32_t capacity,
              uint32_t now_ms, size_t hash_bytes);
    void remove_keys_and_free(uint32_t id);
    void push_free(uint32_t id);

    rte_hash* hash_;
    uint32_t capacity_;
    uint32_t size_ = 0;
    size_t memory_bytes_;
    // Free records form a stack linked through their `rip` field (unused while free), so the
    // free list costs no memory of its own.
    uint32_t free_head_;
    // Records and wheel nodes come from rte_malloc: hugepage memory, so that reaching a random
    // connection of a large table costs no page walk.
    Conn* conns_;
    TimerWheel::Node* nodes_;
    TimerWheel wheel_;
};

}  // namespace vsnat::dp
