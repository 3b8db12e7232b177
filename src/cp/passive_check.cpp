#include "cp/passive_check.hpp"

#include <algorithm>

namespace vsnat::cp {

uint64_t PassiveWatch::connections_before(uint64_t now_ms) const {
    uint64_t old = base_.connections;
    for (const auto& [at, connections] : history_) {
        if (at + timeout_ms_ > now_ms) {
            break;
        }
        old = connections;
    }
    return std::max(old, base_.connections);
}

std::optional<std::string> PassiveWatch::sample(uint64_t now_ms, const HandshakeCounts& counts) {
    if (!started_ || counts.answered != base_.answered) {
        // An answer (or the first look): whatever was made before it is not held against it.
        started_ = true;
        base_ = counts;
        history_.clear();
    }
    history_.emplace_back(now_ms, counts.connections);
    while (history_.size() > 1 && history_[1].first + timeout_ms_ <= now_ms) {
        history_.pop_front();
    }
    const uint64_t timed_out = connections_before(now_ms) - base_.connections;
    const uint64_t refused = counts.refused - base_.refused;
    // A refused connection is counted at once, and again once it is old: the larger of the two
    // counts is the one not counted twice.
    const uint64_t unanswered = std::max(timed_out, refused);
    if (unanswered < fall_) {
        return std::nullopt;
    }
    base_ = counts;
    history_.clear();
    if (refused >= fall_) {
        return "passive: " + std::to_string(refused) + " new connections refused (RST)";
    }
    return "passive: " + std::to_string(unanswered) + " new connections without a SYN-ACK in " +
           std::to_string(timeout_ms_) + " ms";
}

}  // namespace vsnat::cp
