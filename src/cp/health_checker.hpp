// Health checks of real servers, as keepalived's TCP_CHECK, HTTP_GET, UDP_CHECK and MISC_CHECK do
// them: one thread, "vsnat-health", probes every target from one network namespace with
// non-blocking sockets and exec children watched through epoll, and keeps each target's state,
// up or down, from `rise` and `fall` consecutive results. Plain Linux, no DPDK.
//
// The thread never waits on I/O: connects, sends and reads are non-blocking, each probe is
// bounded by its timeout, and an exec child is started with clone(CLONE_VM | CLONE_VFORK), so
// that a daemon holding gigabytes of hugepages is never copied, and watched through its pidfd.
// The thread enters the namespace once (setns) when it starts: its sockets are made there, and
// its children, cloned from it, are born there.
#pragma once

#include <atomic>
#include <chrono>
#include <compare>
#include <cstdint>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cp/config.hpp"

namespace vsnat::cp {

/// What is probed. Two targets with the same address and port but different checks are two
/// targets (a changed check starts afresh).
struct CheckTarget {
    IpAddress address;  // IPv4 or IPv6: probed with a socket of its family
    uint16_t port = 0;  // resolved: check.port, or the real server's port
    HealthCheck check;

    bool operator==(const CheckTarget&) const = default;
    auto operator<=>(const CheckTarget&) const = default;
};

/// "198.18.0.1:80 tcp", "[2001:2:0:19::2]:80 tcp": for messages.
std::string describe(const CheckTarget& target);

struct HealthStatus {
    bool up = true;
    /// The last result: "ok", "refused", "timeout", "http 503", "http: bad response",
    /// "exit 1", "signal 9", "connect: <strerror>", "exec: CMD: not found", ..., or
    /// mark_down()'s reason. Empty until the first probe ends.
    std::string reason;
    uint32_t successes_in_row = 0;  // one of the two is 0
    uint32_t failures_in_row = 0;
    uint64_t probes = 0;  // probes ended (including timed out)
    uint64_t failures = 0;
    /// When `up` last changed; when the target was added, before its first change.
    std::chrono::steady_clock::time_point since{};
    /// When the last probe ended; the epoch before the first.
    std::chrono::steady_clock::time_point last_probe{};
};

struct HealthTransition {
    CheckTarget target;
    bool up = true;
    std::string reason;   // the result that made the change, or mark_down()'s reason
    uint64_t probes = 0;  // the target's probes ended by then: the probe that made the change
    uint32_t in_row = 0;  // the consecutive results that made it (rise or fall); 0: mark_down()
    std::chrono::steady_clock::time_point at{};
};

/// Counts one probe's result into `status` (keepalived's rise/fall): a failure on an up target
/// with `fall` failures in a row takes it down, a success on a down target with `rise` successes
/// in a row brings it up (a rise or fall of 0 counts as 1). Returns whether `up` changed. Pure;
/// the checker's thread calls it, tests call it directly.
bool count_result(HealthStatus& status, const HealthCheck& check, bool ok, std::string reason,
                  std::chrono::steady_clock::time_point now);

class HealthChecker {
  public:
    /// `netns_fd`: the network namespace every probe runs in, sockets and exec children alike
    /// (-1: the caller's own). Borrowed: it must stay open while the checker runs.
    explicit HealthChecker(int netns_fd = -1);
    /// stop(), then closes its descriptors.
    ~HealthChecker();
    HealthChecker(const HealthChecker&) = delete;
    HealthChecker& operator=(const HealthChecker&) = delete;

    /// Starts the thread, which enters the namespace first. Control thread, once. False with
    /// `error` set to one line when it cannot (no descriptors, no thread, setns refused: it
    /// needs CAP_SYS_ADMIN); then nothing runs.
    bool start(std::string& error);

    /// Abandons every probe in flight (sockets closed, exec children's process groups killed
    /// with SIGKILL and reaped), and joins the thread. Control thread; a no-op when not running.
    /// Statuses and transitions not taken stay readable.
    void stop();

    /// The targets to check from now on (duplicates count once). Targets already checked keep
    /// their status, counts and schedule; new ones start up, or down with check.start_down,
    /// and produce no transition; the first probes of the new ones are spread over one interval.
    /// Targets not in `targets` are forgotten: a probe in flight is abandoned (its child killed
    /// and reaped), their transitions not yet taken stay. Control thread; before or after
    /// start().
    void set_targets(const std::vector<CheckTarget>& targets);

    /// The transitions since the last call, oldest first; every change of every target, none
    /// merged. They are kept until taken, without a bound: the caller takes them each tick (a
    /// target changes at most once per probe). Any thread; the control thread in practice.
    std::vector<HealthTransition> take_transitions();

    /// A descriptor (eventfd) that is readable while transitions wait to be taken: for the
    /// caller's poll loop. Reading it is take_transitions()'s job. Valid after start() until
    /// the checker is destroyed; -1 before.
    int transitions_fd() const { return notify_fd_; }

    /// The status of one target; nullopt when it is not a target. Any thread.
    std::optional<HealthStatus> status(const CheckTarget& target) const;
    /// Every target's status, in CheckTarget order. Any thread.
    std::vector<std::pair<CheckTarget, HealthStatus>> statuses() const;

    /// Passive input (no answer to SYNs seen by the dataplane): sets `target` down at once with
    /// `reason` and clears its successes in row, so that its probes need `rise` successes to
    /// bring it up. A transition if it was up. Returns false when it is not a target. Any
    /// thread.
    bool mark_down(const CheckTarget& target, const std::string& reason);

    /// CPU time the checker's thread has used; zero when it is not running. Any thread (the
    /// benchmark reads it).
    std::chrono::nanoseconds cpu_time() const;

  private:
    struct Slot {
        HealthStatus status;
        uint64_t id = 0;  // unique per target added: tells a probe of a target removed and
                          // added again from one of the new target
    };

    class Loop;  // the thread's own state: probes, schedule, children (health_checker.cpp)

    // The checker's thread: counts one probe's result of the target added as `id`.
    void record(const CheckTarget& target, uint64_t id, bool ok, std::string reason);
    // Under mutex_: queues a transition and makes notify_fd_ readable.
    void push_transition(const CheckTarget& target, const HealthStatus& status, uint32_t in_row);

    const int netns_fd_;
    int notify_fd_ = -1;  // eventfd: transitions waiting
    int wake_fd_ = -1;    // eventfd: targets changed, or stop
    std::thread thread_;
    std::atomic<bool> running_{false};
    clockid_t cpu_clock_{};  // the thread's CPU-time clock, while running_

    // Shared between the caller's threads and the checker's thread.
    mutable std::mutex mutex_;
    std::map<CheckTarget, Slot> targets_;
    uint64_t next_id_ = 1;
    std::deque<HealthTransition> transitions_;
    bool targets_changed_ = false;
    bool stop_requested_ = false;
};

}  // namespace vsnat::cp
