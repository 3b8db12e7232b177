// What the FTP helper keeps per control connection, and the per-worker pool it lives in.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "dp/alg/expectation.hpp"
#include "dp/alg/seq_shift.hpp"

namespace vsnat::dp {

struct FtpControl {
    /// Data connections one control connection may have pending at once: recording another
    /// revokes the oldest still unclaimed.
    static constexpr uint32_t kMaxPending = 4;

    std::array<SeqShift, 2> shift{};  // by the sender's Direction
    std::array<ExpectationTable::Ticket, kMaxPending> pending{};
    uint8_t next_pending = 0;  // the ticket to replace next
};

/// A worker's fixed pool of FtpControl, indexed by Conn::helper (1..capacity; 0 is "none").
/// Created on the control thread, then used by its worker only.
class FtpControlPool {
  public:
    static constexpr uint16_t kNone = 0;
    static constexpr uint32_t kMaxCapacity = UINT16_MAX;

    explicit FtpControlPool(uint32_t capacity) : entries_(std::min(capacity, kMaxCapacity) + 1) {
        free_.reserve(entries_.size() - 1);
        for (auto i = static_cast<uint32_t>(entries_.size() - 1); i >= 1; --i) {
            free_.push_back(static_cast<uint16_t>(i));
        }
    }
    /// A cleared entry's index, or kNone when all are taken.
    uint16_t acquire() {
        if (free_.empty()) {
            return kNone;
        }
        const uint16_t i = free_.back();
        free_.pop_back();
        entries_[i] = FtpControl{};
        return i;
    }
    void release(uint16_t i) { free_.push_back(i); }
    FtpControl& operator[](uint16_t i) { return entries_[i]; }
    uint32_t in_use() const { return static_cast<uint32_t>(entries_.size() - 1 - free_.size()); }
    uint32_t capacity() const { return static_cast<uint32_t>(entries_.size() - 1); }

  private:
    std::vector<FtpControl> entries_;
    std::vector<uint16_t> free_;
};

}  // namespace vsnat::dp
