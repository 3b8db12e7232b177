// The passive health check (README.md, "Health checks"): a real server is down as soon as its
// last `fall` new connections all went unanswered, read from the counts the workers keep of
// connections made to it and of its SYN-ACKs and resets to them.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace vsnat::cp {

/// A server's counts summed over the workers, at one moment.
struct HandshakeCounts {
    uint64_t connections = 0;  // new connections sent to it
    uint64_t answered = 0;     // SYN-ACKs to them
    uint64_t refused = 0;      // resets to them
};

/// Watches one real server of one service. The server is judged down when it has sent no
/// SYN-ACK for `timeout_ms` and the connections made to it between 2 x timeout and timeout ago
/// (old enough to have been answered) outnumber its SYN-ACKs of the last 2 x timeout by `fall`;
/// or when it reset `fall` new connections since its last SYN-ACK. A server that answers, if
/// late, or that answers newer connections, is not judged; a client that gave up before the
/// answer weighs only within that window. Control thread only.
class PassiveWatch {
  public:
    PassiveWatch(uint32_t fall, uint32_t timeout_ms) : fall_(fall), timeout_ms_(timeout_ms) {}

    /// Takes the counts at `now_ms` (a sample at least every 100 ms keeps the detection within
    /// that of `timeout`). Returns why the server is down when its last `fall` new connections
    /// went unanswered; then counts afresh, so one failure is reported once.
    std::optional<std::string> sample(uint64_t now_ms, const HandshakeCounts& counts);

  private:
    struct Sample {
        uint64_t at_ms;
        HandshakeCounts counts;
    };
    // The counts of the newest sample taken by `at_ms` (the oldest kept, if none was).
    const HandshakeCounts& counts_at(uint64_t at_ms) const;

    uint32_t fall_;
    uint32_t timeout_ms_;
    uint64_t refused_base_ = 0;  // resets before the last SYN-ACK do not count
    uint64_t last_answer_ms_ = 0;
    // The samples of the last 2 x timeout, and the newest one before.
    std::deque<Sample> history_;
};

}  // namespace vsnat::cp
