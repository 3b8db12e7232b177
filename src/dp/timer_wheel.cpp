#include "dp/timer_wheel.hpp"

#include <bit>
#include <cassert>

namespace vsnat::dp {

TimerWheel::TimerWheel(std::span<Node> nodes, uint32_t capacity, uint32_t now_ms, uint32_t tick_ms,
                       uint32_t slots)
    : capacity_(capacity),
      tick_shift_(static_cast<uint32_t>(std::countr_zero(tick_ms))),
      tick_mask_(tick_ms - 1),
      slot_mask_(slots - 1),
      pending_(capacity + slots),
      cursor_ms_(now_ms & ~tick_mask_),
      nodes_(nodes) {
    assert(std::has_single_bit(tick_ms) && std::has_single_bit(slots));
    assert(nodes.size() == node_count(capacity, slots));
    for (uint32_t id = 0; id < capacity_; ++id) {
        nodes_[id] = Node{};
    }
    for (uint32_t head = capacity_; head <= pending_; ++head) {
        nodes_[head].prev = nodes_[head].next = head;
    }
}

void TimerWheel::link_after(uint32_t head, uint32_t id) {
    Node& node = nodes_[id];
    node.prev = head;
    node.next = nodes_[head].next;
    nodes_[node.next].prev = id;
    nodes_[head].next = id;
}

void TimerWheel::unlink(uint32_t id) {
    Node& node = nodes_[id];
    nodes_[node.prev].next = node.next;
    nodes_[node.next].prev = node.prev;
    node.prev = node.next = kNone;
}

void TimerWheel::move_list(uint32_t from_head, uint32_t to_head) {
    if (list_empty(from_head)) {
        return;
    }
    // Splice the whole list in front of the (possibly non-empty) target list.
    Node& from = nodes_[from_head];
    uint32_t first = from.next, last = from.prev;
    uint32_t old_first = nodes_[to_head].next;
    nodes_[to_head].next = first;
    nodes_[first].prev = to_head;
    nodes_[last].next = old_first;
    nodes_[old_first].prev = last;
    from.next = from.prev = from_head;
}

void TimerWheel::link_due(uint32_t id, uint32_t expires_ms) {
    uint32_t tick = tick_start(expires_ms);
    if (before(tick, cursor_ms_)) {
        tick = cursor_ms_;  // already due: the next visit finds it
    }
    link_after(slot_node(tick), id);
}

void TimerWheel::schedule(uint32_t id, uint32_t expires_ms) {
    link_due(id, expires_ms);
}

void TimerWheel::relink(uint32_t id, uint32_t expires_ms) {
    unlink(id);
    link_due(id, expires_ms);
}

void TimerWheel::cancel(uint32_t id) {
    if (scheduled(id)) {
        unlink(id);
    }
}

}  // namespace vsnat::dp
