// Expiry of connections: a hashed timing wheel with O(1) schedule/update/cancel and bounded work
// per advance. Time is a parameter (milliseconds, wrapping uint32), so tests need no clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace vsnat::dp {

/// One wheel per worker; not thread-safe. Entries are ids 0..capacity-1 (connection slots).
///
/// The wheel links entries; their expiry times are kept by the caller (in the connection
/// record, which the packet path touches anyway) and read back through `expires_of` when a slot
/// comes round. An entry sits in the slot of a tick no later than its expiry. Pushing an expiry
/// later (every packet of a connection does) costs nothing and leaves the wheel's memory alone:
/// the entry is looked at again when its old slot comes round and moved on. Pulling it earlier
/// (a FIN, a RST) into another tick relinks it at once.
class TimerWheel {
  public:
    static constexpr uint32_t kNone = UINT32_MAX;
    static constexpr uint32_t kDefaultTickMs = 64;
    static constexpr uint32_t kDefaultSlots = 4096;

    struct Node {
        uint32_t prev = kNone;
        uint32_t next = kNone;
    };
    /// How many nodes a wheel of `capacity` entries and `slots` slots links.
    static size_t node_count(uint32_t capacity, uint32_t slots = kDefaultSlots) {
        return static_cast<size_t>(capacity) + slots + 1;
    }

    /// Links its entries in `nodes` (node_count() of them, owned by the caller: the connection
    /// table puts them in hugepage memory). `tick_ms` and `slots` must be powers of two.
    TimerWheel(std::span<Node> nodes, uint32_t capacity, uint32_t now_ms,
               uint32_t tick_ms = kDefaultTickMs, uint32_t slots = kDefaultSlots);

    void schedule(uint32_t id, uint32_t expires_ms);
    /// The caller changed the entry's expiry from `old_ms` to `new_ms`.
    void update(uint32_t id, uint32_t old_ms, uint32_t new_ms) {
        if (before(new_ms, old_ms) && tick_start(new_ms) != tick_start(old_ms)) {
            relink(id, new_ms);
        }
    }
    void cancel(uint32_t id);
    bool scheduled(uint32_t id) const { return nodes_[id].next != kNone; }

    /// What advance() calls for an entry it moves on, by default: nothing.
    struct NoRearm {
        void operator()(uint32_t) const {}
    };

    /// Visits due entries up to `now_ms`, doing at most `budget` units of work (one per entry or
    /// slot looked at); `expires_of(id)` gives an entry's expiry as the caller keeps it. Each
    /// expired entry is unlinked, then `on_expire(id)` is called; each one visited that is not
    /// due yet (its expiry was pushed later, or lies more than a turn of the wheel ahead) is
    /// moved on, then `on_rearm(id)` is called. Returns the number expired. Work left over is
    /// resumed by the next call.
    template <class ExpiresOf, class OnExpire, class OnRearm = NoRearm>
    uint32_t advance(uint32_t now_ms, uint32_t budget, ExpiresOf&& expires_of, OnExpire&& on_expire,
                     OnRearm&& on_rearm = {});

  private:
    // Ticks are kept as the millisecond they start at, so they wrap with the clock.
    uint32_t slot_node(uint32_t tick_start) const {
        return capacity_ + ((tick_start >> tick_shift_) & slot_mask_);
    }
    uint32_t tick_start(uint32_t ms) const { return ms & ~tick_mask_; }
    static bool before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
    void link_after(uint32_t head, uint32_t id);
    void unlink(uint32_t id);
    bool list_empty(uint32_t head) const { return nodes_[head].next == head; }
    void move_list(uint32_t from_head, uint32_t to_head);
    // Into the slot of its expiry, or the next slot to be visited.
    void link_due(uint32_t id, uint32_t expires_ms);
    void relink(uint32_t id, uint32_t expires_ms);

    uint32_t capacity_;
    uint32_t tick_shift_;
    uint32_t tick_mask_;
    uint32_t slot_mask_;
    uint32_t pending_;    // sentinel of the list being worked through
    uint32_t cursor_ms_;  // start of the next tick whose slot is visited
    // Entry nodes first, then one sentinel per slot, then the pending sentinel.
    std::span<Node> nodes_;
};

template <class ExpiresOf, class OnExpire, class OnRearm>
uint32_t TimerWheel::advance(uint32_t now_ms, uint32_t budget, ExpiresOf&& expires_of,
                             OnExpire&& on_expire, OnRearm&& on_rearm) {
    const uint32_t now_tick = tick_start(now_ms);
    const uint32_t span_ms = (slot_mask_ + 1) << tick_shift_;
    // After a long pause, one rotation visits every slot: skip the rest.
    if (before(cursor_ms_ + span_ms, now_tick)) {
        cursor_ms_ = now_tick - span_ms;
    }
    uint32_t expired = 0;
    while (budget > 0) {
        if (list_empty(pending_)) {
            // Only ticks wholly in the past are visited, so nothing relinks into them.
            if (!before(cursor_ms_, now_tick)) {
                break;
            }
            move_list(slot_node(cursor_ms_), pending_);
            cursor_ms_ += tick_mask_ + 1;
            --budget;
            continue;
        }
        uint32_t id = nodes_[pending_].next;
        unlink(id);
        --budget;
        const uint32_t expires_ms = expires_of(id);
        if (before(now_ms, expires_ms)) {
            link_due(id, expires_ms);
            on_rearm(id);
        } else {
            ++expired;
            on_expire(id);
        }
    }
    return expired;
}

}  // namespace vsnat::dp
