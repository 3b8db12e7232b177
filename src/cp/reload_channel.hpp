// `vsnatctl reload` across threads: a telemetry thread asks, the control thread (the one thread
// that may change the configuration) does the reload and answers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace vsnat::cp {

/// What a reload did: applied, or refused with every reason (`FILE:LINE:COL: message` lines for
/// errors in the file).
struct ReloadResult {
    bool applied = false;
    std::vector<std::string> messages;
};

class ReloadChannel {
  public:
    /// Asks for a reload and waits up to `timeout` for its result. Any thread but the control
    /// thread. Once the channel is closed (vsnatd is stopping), answers at once, refused.
    ReloadResult request(std::chrono::milliseconds timeout = std::chrono::seconds(30));

    /// When a request waits, runs `reload` and hands its result to the requester. Control
    /// thread, from its loop.
    void serve(const std::function<ReloadResult()>& reload);

    /// Refuses the waiting request and every later one. Control thread, when stopping.
    void close();

  private:
    std::mutex one_request_;  // one requester at a time
    std::mutex mutex_;        // guards what follows
    std::condition_variable answered_;
    bool wanted_ = false;
    bool closed_ = false;
    uint64_t served_ = 0;  // requests answered so far
    ReloadResult last_;
};

}  // namespace vsnat::cp
