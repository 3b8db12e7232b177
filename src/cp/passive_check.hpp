// The passive health check (README.md, "Health checks"): a real server is down as soon as its
// last `fall` new connections all went unanswered, read from the counts the workers keep of
// connections made to it and of its SYN-ACKs and resets to them.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>

namespace vsnat::cp {

/// A server's counts summed over the workers, at one moment.
struct HandshakeCounts {
    uint64_t connections = 0;  // new connections sent to it
    uint64_t answered = 0;     // SYN-ACKs to them
    uint64_t refused = 0;      // resets to them
};

/// Watches one real server of one service. A connection counts as unanswered once `timeout_ms`
/// has passed since it was made with no answer from the server since; a reset counts at once.
/// Any SYN-ACK shows the server alive and starts the count again. Control thread only.
class PassiveWatch {
  public:
    PassiveWatch(uint32_t fall, uint32_t timeout_ms) : fall_(fall), timeout_ms_(timeout_ms) {}

    /// Takes the counts at `now_ms` (a sample at least every 100 ms keeps the detection within
    /// that of `timeout`). Returns why the server is down when its last `fall` new connections
    /// went unanswered; then counts afresh, so one failure is reported once.
    std::optional<std::string> sample(uint64_t now_ms, const HandshakeCounts& counts);

  private:
    // Connections made by `now_ms` that are old enough to have been answered.
    uint64_t connections_before(uint64_t now_ms) const;

    uint32_t fall_;
    uint32_t timeout_ms_;
    bool started_ = false;
    HandshakeCounts base_{};  // at the start of the count
    // (time, connections) of recent samples: the newest one at least timeout_ms old and those
    // after it.
    std::deque<std::pair<uint64_t, uint64_t>> history_;
};

}  // namespace vsnat::cp
