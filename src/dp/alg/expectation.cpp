#include "dp/alg/expectation.hpp"

#include "dp/mix.hpp"

namespace vsnat::dp {
namespace {

enum Status : uint32_t { kFree = 0, kWriting = 1, kReady = 2 };

constexpr uint64_t state_of(uint32_t generation, Status status) {
    return static_cast<uint64_t>(generation) << 32 | status;
}
constexpr uint32_t generation_of(uint64_t state) {
    return static_cast<uint32_t>(state >> 32);
}
constexpr Status status_of(uint64_t state) {
    return static_cast<Status>(state & 0xffffffff);
}

bool expired(uint32_t expires_ms, uint32_t now_ms) {
    return static_cast<int32_t>(expires_ms - now_ms) <= 0;
}

// The key a SYN opening `e` carries: (source, destination, destination port).
struct OpenerKey {
    uint32_t src, dst;
    uint16_t dst_port;
};
OpenerKey opener_key(const Expectation& e) {
    if (e.opener == Direction::from_client) {
        return {e.client_ip, e.vip, e.vport};
    }
    return {e.rip, e.client_ip, e.client_port};
}

constexpr std::memory_order relaxed = std::memory_order_relaxed;

}  // namespace

ExpectationTable::ExpectationTable() : slots_(new Slot[kSlots]) {}

uint32_t ExpectationTable::window_start(uint32_t src, uint32_t dst, uint16_t dst_port) {
    const uint64_t h = mix64((static_cast<uint64_t>(src) << 32 | dst) ^ dst_port);
    return static_cast<uint32_t>(h) & (kSlots - 1);
}

void ExpectationTable::pack(Slot& s, const Expectation& e) {
    s.words[0].store(static_cast<uint64_t>(e.client_ip) << 32 | e.vip, relaxed);
    s.words[1].store(static_cast<uint64_t>(e.rip) << 32 | e.expires_ms, relaxed);
    s.words[2].store(static_cast<uint64_t>(e.client_port) << 48 |
                         static_cast<uint64_t>(e.vport) << 32 |
                         static_cast<uint64_t>(e.rport) << 16 | e.dest_id,
                     relaxed);
    s.words[3].store(static_cast<uint64_t>(e.opener), relaxed);
}

Expectation ExpectationTable::unpack(const Slot& s) {
    const uint64_t w0 = s.words[0].load(relaxed), w1 = s.words[1].load(relaxed),
                   w2 = s.words[2].load(relaxed), w3 = s.words[3].load(relaxed);
    Expectation e;
    e.client_ip = static_cast<uint32_t>(w0 >> 32);
    e.vip = static_cast<uint32_t>(w0);
    e.rip = static_cast<uint32_t>(w1 >> 32);
    e.expires_ms = static_cast<uint32_t>(w1);
    e.client_port = static_cast<uint16_t>(w2 >> 48);
    e.vport = static_cast<uint16_t>(w2 >> 32);
    e.rport = static_cast<uint16_t>(w2 >> 16);
    e.dest_id = static_cast<uint16_t>(w2);
    e.opener = static_cast<Direction>(w3);
    return e;
}

ExpectationTable::Ticket ExpectationTable::add(const Expectation& e, uint32_t now_ms) {
    const OpenerKey k = opener_key(e);
    const uint32_t start = window_start(k.src, k.dst, k.dst_port);
    for (uint32_t i = 0; i < kWindow; ++i) {
        const uint32_t index = (start + i) & (kSlots - 1);
        Slot& s = slots_[index];
        uint64_t state = s.state.load(std::memory_order_acquire);
        const Status status = status_of(state);
        const bool reusable =
            status == kFree || (status == kReady && expired(unpack(s).expires_ms, now_ms));
        const uint32_t generation = generation_of(state) + 1;
        if (!reusable || !s.state.compare_exchange_strong(state, state_of(generation, kWriting),
                                                          std::memory_order_acquire)) {
            continue;
        }
        if (status == kReady) {
            pending_.fetch_sub(1, relaxed);  // an expired one, replaced
        }
        pack(s, e);
        s.state.store(state_of(generation, kReady), std::memory_order_release);
        pending_.fetch_add(1, relaxed);
        return {index, generation};
    }
    return {};
}

bool ExpectationTable::revoke(Ticket ticket) {
    if (ticket.slot == kNoSlot) {
        return false;
    }
    uint64_t state = state_of(ticket.generation, kReady);
    if (!slots_[ticket.slot].state.compare_exchange_strong(
            state, state_of(ticket.generation, kFree), std::memory_order_acq_rel)) {
        return false;
    }
    pending_.fetch_sub(1, relaxed);
    return true;
}

bool ExpectationTable::claim(Direction opener, uint32_t src, uint32_t dst, uint16_t dst_port,
                             uint32_t now_ms, Expectation& out) {
    const uint32_t start = window_start(src, dst, dst_port);
    for (uint32_t i = 0; i < kWindow; ++i) {
        Slot& s = slots_[(start + i) & (kSlots - 1)];
        uint64_t state = s.state.load(std::memory_order_acquire);
        if (status_of(state) != kReady) {
            continue;
        }
        const Expectation e = unpack(s);
        const OpenerKey k = opener_key(e);
        if (e.opener != opener || k.src != src || k.dst != dst || k.dst_port != dst_port ||
            expired(e.expires_ms, now_ms)) {
            continue;
        }
        if (s.state.compare_exchange_strong(state, state_of(generation_of(state), kFree),
                                            std::memory_order_acq_rel)) {
            pending_.fetch_sub(1, relaxed);
            out = e;
            return true;
        }
    }
    return false;
}

void ExpectationTable::sweep(uint32_t& cursor, uint32_t count, uint32_t now_ms) {
    for (uint32_t i = 0; i < count; ++i) {
        Slot& s = slots_[cursor];
        cursor = (cursor + 1) & (kSlots - 1);
        uint64_t state = s.state.load(std::memory_order_acquire);
        if (status_of(state) != kReady || !expired(unpack(s).expires_ms, now_ms)) {
            continue;
        }
        if (s.state.compare_exchange_strong(state, state_of(generation_of(state), kFree),
                                            std::memory_order_acq_rel)) {
            pending_.fetch_sub(1, relaxed);
        }
    }
}

}  // namespace vsnat::dp
