#include "cp/passive_check.hpp"

#include <algorithm>

namespace vsnat::cp {

const HandshakeCounts& PassiveWatch::counts_at(uint64_t at_ms) const {
    const HandshakeCounts* found = &history_.front().counts;
    for (const Sample& s : history_) {
        if (s.at_ms > at_ms) {
            break;
        }
        found = &s.counts;
    }
    return *found;
}

std::optional<std::string> PassiveWatch::sample(uint64_t now_ms, const HandshakeCounts& counts) {
    if (history_.empty() || counts.answered != history_.back().counts.answered) {
        // The first look (what came before is not held against the server), or an answer.
        last_answer_ms_ = now_ms;
        refused_base_ = counts.refused;
    }
    history_.push_back({now_ms, counts});
    const uint64_t window_ms = 2 * uint64_t{timeout_ms_};
    while (history_.size() > 1 && history_[1].at_ms + window_ms <= now_ms) {
        history_.pop_front();
    }
    const HandshakeCounts& window_start = counts_at(now_ms - std::min(now_ms, window_ms));
    const HandshakeCounts& old = counts_at(now_ms - std::min<uint64_t>(now_ms, timeout_ms_));
    const auto unanswered = static_cast<int64_t>(old.connections - window_start.connections) -
                            static_cast<int64_t>(counts.answered - window_start.answered);
    const uint64_t refused = counts.refused - refused_base_;
    const bool silent = now_ms - last_answer_ms_ >= timeout_ms_;
    std::optional<std::string> down;
    if (refused >= fall_) {
        down = "passive: " + std::to_string(refused) + " new connections refused (RST)";
    } else if (silent && unanswered >= static_cast<int64_t>(fall_)) {
        down = "passive: " + std::to_string(unanswered) + " new connections without a SYN-ACK in " +
               std::to_string(timeout_ms_) + " ms";
    }
    if (down) {  // counted afresh: one failure is reported once
        history_.assign(1, Sample{now_ms, counts});
        refused_base_ = counts.refused;
    }
    return down;
}

}  // namespace vsnat::cp
