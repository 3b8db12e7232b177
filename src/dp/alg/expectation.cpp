#include "dp/alg/expectation.hpp"

#include <cstring>
#include <type_traits>

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
template <class Address>
struct OpenerKey {
    Address src, dst;
    uint16_t dst_port;
};
template <class Address>
OpenerKey<Address> opener_key(const BasicExpectation<Address>& e) {
    if (e.opener == Direction::from_client) {
        return {e.client_ip, e.vip, e.vport};
    }
    return {e.rip, e.client_ip, e.client_port};
}

uint64_t key_hash(uint32_t src, uint32_t dst, uint16_t dst_port) {
    return mix64((static_cast<uint64_t>(src) << 32 | dst) ^ dst_port);
}

uint64_t key_hash(const Ipv6& src, const Ipv6& dst, uint16_t dst_port) {
    uint64_t words[4];
    std::memcpy(words, src.data(), 16);
    std::memcpy(words + 2, dst.data(), 16);
    uint64_t h = dst_port;
    for (const uint64_t w : words) {
        h = mix64(h ^ w);
    }
    return h;
}

constexpr std::memory_order relaxed = std::memory_order_relaxed;

}  // namespace

template <class Address>
BasicExpectationTable<Address>::BasicExpectationTable() : slots_(new Slot[kSlots]) {}

template <class Address>
uint32_t BasicExpectationTable<Address>::window_start(const Address& src, const Address& dst,
                                                      uint16_t dst_port) {
    return static_cast<uint32_t>(key_hash(src, dst, dst_port)) & (kSlots - 1);
}

template <class Address>
void BasicExpectationTable<Address>::pack(Slot& s, const Entry& e) {
    static_assert(std::is_trivially_copyable_v<Entry>);
    uint64_t words[kWords] = {};
    std::memcpy(words, &e, sizeof(e));
    for (size_t i = 0; i < kWords; ++i) {
        s.words[i].store(words[i], relaxed);
    }
}

template <class Address>
typename BasicExpectationTable<Address>::Entry BasicExpectationTable<Address>::unpack(
    const Slot& s) {
    uint64_t words[kWords];
    for (size_t i = 0; i < kWords; ++i) {
        words[i] = s.words[i].load(relaxed);
    }
    Entry e;
    std::memcpy(&e, words, sizeof(e));
    return e;
}

template <class Address>
ExpectationTicket BasicExpectationTable<Address>::add(const Entry& e, uint32_t now_ms) {
    const OpenerKey<Address> k = opener_key(e);
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

template <class Address>
bool BasicExpectationTable<Address>::revoke(Ticket ticket) {
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

template <class Address>
bool BasicExpectationTable<Address>::claim(Direction opener, const Address& src, const Address& dst,
                                           uint16_t dst_port, uint32_t now_ms, Entry& out) {
    const uint32_t start = window_start(src, dst, dst_port);
    for (uint32_t i = 0; i < kWindow; ++i) {
        Slot& s = slots_[(start + i) & (kSlots - 1)];
        uint64_t state = s.state.load(std::memory_order_acquire);
        if (status_of(state) != kReady) {
            continue;
        }
        const Entry e = unpack(s);
        const OpenerKey<Address> k = opener_key(e);
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

template <class Address>
void BasicExpectationTable<Address>::sweep(uint32_t& cursor, uint32_t count, uint32_t now_ms) {
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
    __builtin_prefetch(&slots_[cursor]);  // the next sweep's, as BasicPersistenceTable::sweep
}

template class BasicExpectationTable<uint32_t>;
template class BasicExpectationTable<Ipv6>;

}  // namespace vsnat::dp
