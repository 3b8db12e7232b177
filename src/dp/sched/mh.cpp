#include "dp/sched/mh.hpp"
#include "dp/mix.hpp"

#include <queue>

namespace vsnat::dp {
namespace {

// Fixed seeds (hex digits of pi): the table must come out the same in every process.
constexpr uint64_t kClientSeed = 0x243f6a8885a308d3ULL;
constexpr uint64_t kOffsetSeed = 0x13198a2e03707344ULL;
constexpr uint64_t kSkipSeed = 0xa4093822299f31d0ULL;

uint16_t host_order16(uint16_t network_order) {
    return std::endian::native == std::endian::little ? __builtin_bswap16(network_order)
                                                      : network_order;
}

}  // namespace

uint32_t MaglevHash::slot_of(uint32_t client) {
    return static_cast<uint32_t>(mix64(host_order(client) ^ kClientSeed) % kTableSize);
}

std::vector<uint16_t> MaglevHash::build_table(std::span<const Destination> servers) {
    constexpr uint32_t m = kTableSize;
    std::vector<uint16_t> t(m, SharedSchedulerState::kEmpty);
    // Each server's permutation of the slots: offset, offset + skip, offset + 2 skip, ... mod m,
    // which visits every slot because m is prime and 0 < skip < m.
    std::vector<uint32_t> next(servers.size()), skip(servers.size());
    // Stride scheduling of turns: a server's next turn is due `stride` after its last, stride
    // inversely proportional to weight; the earliest due goes first, ties by config order.
    using Due = std::pair<uint64_t, uint32_t>;  // (pass, server index)
    std::priority_queue<Due, std::vector<Due>, std::greater<>> due;
    std::vector<uint64_t> stride(servers.size());
    for (uint32_t i = 0; i < servers.size(); ++i) {
        const Destination& d = servers[i];
        const uint64_t id = static_cast<uint64_t>(host_order(d.ip)) << 16 | host_order16(d.port);
        next[i] = static_cast<uint32_t>(mix64(id ^ kOffsetSeed) % m);
        skip[i] = static_cast<uint32_t>(mix64(id ^ kSkipSeed) % (m - 1) + 1);
        if (d.weight > 0) {
            stride[i] = (1ULL << 32) / d.weight;
            due.emplace(0, i);
        }
    }
    for (uint32_t filled = 0; filled < m && !due.empty(); ++filled) {
        const auto [pass, i] = due.top();
        due.pop();
        uint32_t c = next[i];
        while (t[c] != SharedSchedulerState::kEmpty) {
            c += skip[i];
            c = c >= m ? c - m : c;
        }
        t[c] = static_cast<uint16_t>(i);
        next[i] = c;
        due.emplace(pass + stride[i], i);
    }
    return t;
}

int32_t MaglevHash::pick(std::span<const Destination> servers, const FlowKey& inbound,
                         const ServerLoad& load) {
    const uint32_t slot = slot_of(inbound.src_ip);
    return pick_slot(slot, slot + 1, servers, load);
}

}  // namespace vsnat::dp
