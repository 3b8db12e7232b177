#include "cp/health_checker.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <future>
#include <set>
#include <string_view>
#include <system_error>
#include <unordered_map>

namespace vsnat::cp {
namespace {

using Clock = std::chrono::steady_clock;

/// The most of an HTTP response read: its status line must be in it.
constexpr size_t kMaxHttpResponse = 4096;
/// How late the thread may wake for what is due: everything due within it is done in one
/// wake-up (1,000 targets spread over a second would otherwise wake it 1,000 times a second to
/// start one probe each). Starts and timeouts are that much late at most.
constexpr std::chrono::milliseconds kTimerSlack{5};
/// The stack an exec child runs on until execve: a few system calls deep.
constexpr size_t kChildStackBytes = 64 * 1024;
/// epoll data: the wake eventfd is 0, a probe is its target's id (from 1), and an abandoned
/// child's pidfd, waited for only to be reaped, is kReapTag | pidfd.
constexpr uint64_t kWakeData = 0;
constexpr uint64_t kReapTag = uint64_t{1} << 63;
/// Where an exec command is looked for when PATH is not set (glibc's default for execvp, with
/// the sbin directories a daemon running as root has).
constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const char* type_name(CheckType type) {
    switch (type) {
        case CheckType::tcp:
            return "tcp";
        case CheckType::http:
            return "http";
        case CheckType::udp:
            return "udp";
        case CheckType::exec:
            return "exec";
    }
    return "?";
}

std::string errno_text(int err) {
    return std::strerror(err);
}

void replace_all(std::string& text, std::string_view from, const std::string& to) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
        text.replace(at, from.size(), to);
        at += to.size();
    }
}

// The status code of an HTTP/1.x status line ("HTTP/1.1 200 OK"), up to its end of line or the
// end of `response`; nullopt when it is not one.
std::optional<int> http_status(std::string_view response) {
    std::string_view line = response.substr(0, response.find('\n'));
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    const size_t space = line.find(' ');
    if (!line.starts_with("HTTP/") || space == std::string_view::npos || space == 5) {
        return std::nullopt;
    }
    const std::string_view code = line.substr(space + 1, 3);
    if (code.size() != 3 ||
        !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    if (line.size() > space + 4 && line[space + 4] != ' ') {
        return std::nullopt;
    }
    return (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
}

// `name` if it has a slash; else the first executable file of that name in PATH's directories
// (execvp's search, done before the child is started so that the child only calls execve).
// Empty when there is none.
std::string find_command(const std::string& name) {
    if (name.find('/') != std::string::npos) {
        return name;
    }
    const char* path = std::getenv("PATH");
    std::string_view dirs = path != nullptr ? path : kDefaultPath;
    while (true) {
        const size_t colon = dirs.find(':');
        std::string dir(dirs.substr(0, colon));
        const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
        if (colon == std::string_view::npos) {
            return "";
        }
        dirs.remove_prefix(colon + 1);
    }
}

// What the exec child needs, prepared by the parent: the child shares the parent's memory
// (CLONE_VM) and allocates nothing.
struct ChildArgs {
    const char* path = nullptr;
    char* const* argv = nullptr;
    char* const* envp = nullptr;
    int error = 0;  // set by the child when it cannot exec; read by the parent after clone()
};

// The exec child, from clone() to execve(): async-signal-safe calls only, nothing of the
// parent's memory written but `error`. All signals are blocked on entry (the checker's thread
// blocks them): handlers go back to their defaults before they are unblocked, so that none of
// the daemon's handlers runs in the child.
int child_main(void* p) {
    auto* args = static_cast<ChildArgs*>(p);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
        ::sigaction(sig, &dfl, nullptr);  // fails, harmlessly, for SIGKILL, SIGSTOP, glibc's own
    }
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::setpgid(0, 0);  // its own process group: a timeout kills the command and what it started
    // Killed if the checker's thread, its parent, goes without reaping it (a crashed daemon).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int null = ::open("/dev/null", O_RDWR);
    if (null < 0) {
        args->error = errno;
        ::_exit(127);
    }
    for (int fd = 0; fd <= 2; ++fd) {
        if (null != fd) {
            ::dup2(null, fd);
        }
    }
    ::close_range(3, ~0U, 0);  // nothing of the daemon's: every descriptor above stderr goes
    ::execve(args->path, args->argv, args->envp);
    args->error = errno;
    ::_exit(127);
}

}  // namespace

std::string describe(const CheckTarget& target) {
    return format_endpoint(target.address, target.port) + " " + type_name(target.check.type);
}

bool count_result(HealthStatus& status, const HealthCheck& check, bool ok, std::string reason,
                  std::chrono::steady_clock::time_point now) {
    ++status.probes;
    status.last_probe = now;
    status.reason = std::move(reason);
    if (ok) {
        ++status.successes_in_row;
        status.failures_in_row = 0;
    } else {
        ++status.failures;
        ++status.failures_in_row;
        status.successes_in_row = 0;
    }
    const uint32_t rise = std::max<uint32_t>(check.rise, 1);
    const uint32_t fall = std::max<uint32_t>(check.fall, 1);
    if (status.up ? !ok && status.failures_in_row >= fall : ok && status.successes_in_row >= rise) {
        status.up = !status.up;
        status.since = now;
        return true;
    }
    return false;
}

// The checker's thread: its probes, their schedule, and the children it must still reap. Lives
// on the thread's stack from start to stop; only the thread touches it.
class HealthChecker::Loop {
  public:
    explicit Loop(HealthChecker& owner) : owner_(owner) {}
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    // Descriptors and the child's stack; "" or why not.
    std::string open();
    // Until stop(); then every probe is abandoned and every child reaped.
    void run();

  private:
    enum class Phase : uint8_t { idle, connecting, sending, reading, child };
    struct Probe {
        CheckTarget target;
        uint64_t id = 0;
        Phase phase = Phase::idle;
        Clock::time_point due;  // the next start when idle, else the deadline: its schedule_ key
        Clock::time_point planned;  // when the probe in flight was due to start
        Clock::time_point started;
        int fd = -1;     // the socket, or the child's pidfd
        pid_t pid = -1;  // the child (exec)
        std::string io;  // http: the request still to send, then the response so far
    };

    void reconcile(Clock::time_point now);
    void run_due(Clock::time_point now);
    void start_probe(Probe& probe, Clock::time_point now);
    void start_socket(Probe& probe);
    void start_child(Probe& probe);
    void on_event(uint64_t data, uint32_t events, Clock::time_point now);
    void on_socket(Probe& probe, Clock::time_point now);
    void on_child(Probe& probe, Clock::time_point now);
    void send_request(Probe& probe, Clock::time_point now);
    void read_response(Probe& probe, Clock::time_point now);
    void finish(Probe& probe, bool ok, std::string reason, Clock::time_point now);
    void abandon(Probe& probe);
    void reap(int pidfd, bool block);
    void schedule(Probe& probe, Clock::time_point due);
    bool watch(int fd, uint32_t events, uint64_t data, int op = EPOLL_CTL_ADD);
    void close_fd(int& fd);

    HealthChecker& owner_;
    int epoll_fd_ = -1;
    char* stack_ = nullptr;  // mmap()ed, a guard page below kChildStackBytes
    size_t stack_map_bytes_ = 0;
    std::unordered_map<uint64_t, Probe> probes_;  // by target id
    std::set<std::pair<Clock::time_point, uint64_t>> schedule_;
    std::set<int> reaping_;  // pidfds of killed or failed children not yet reaped
};

HealthChecker::Loop::~Loop() {
    for (auto& [id, probe] : probes_) {
        abandon(probe);
    }
    while (!reaping_.empty()) {
        reap(*reaping_.begin(), true);  // erases it
    }
    if (epoll_fd_ >= 0) {
        ::close(epoll_fd_);
    }
    if (stack_ != nullptr) {
        ::munmap(stack_, stack_map_bytes_);
    }
}

std::string HealthChecker::Loop::open() {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
        return "cannot create an epoll instance: " + errno_text(errno);
    }
    if (!watch(owner_.wake_fd_, EPOLLIN, kWakeData)) {
        return "cannot watch the checker's eventfd: " + errno_text(errno);
    }
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    stack_map_bytes_ = kChildStackBytes + page;
    void* map = ::mmap(nullptr, stack_map_bytes_, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) {
        return "cannot map a stack for exec children: " + errno_text(errno);
    }
    stack_ = static_cast<char*>(map);
    ::mprotect(stack_, page, PROT_NONE);  // a guard page: an overflow faults, writes nothing
    return "";
}

void HealthChecker::Loop::run() {
    epoll_event events[64];
    while (true) {
        Clock::time_point now = Clock::now();
        {
            std::lock_guard lock(owner_.mutex_);
            if (owner_.stop_requested_) {
                return;
            }
        }
        reconcile(now);
        run_due(now);
        int timeout_ms = -1;
        if (!schedule_.empty()) {
            const auto until = schedule_.begin()->first - Clock::now();
            // Rounded up (waking before the due time would only wait again), plus the slack.
            const auto ms =
                until <= Clock::duration::zero()
                    ? 0
                    : (std::chrono::ceil<std::chrono::milliseconds>(until) + kTimerSlack).count();
            timeout_ms = static_cast<int>(std::clamp<int64_t>(ms, 0, INT_MAX));
        }
        const int n =
            ::epoll_wait(epoll_fd_, events, static_cast<int>(std::size(events)), timeout_ms);
        now = Clock::now();
        for (int i = 0; i < n; ++i) {
            on_event(events[i].data.u64, events[i].events, now);
        }
    }
}

void HealthChecker::Loop::reconcile(Clock::time_point now) {
    std::vector<std::pair<CheckTarget, uint64_t>> wanted;
    {
        std::lock_guard lock(owner_.mutex_);
        if (!owner_.targets_changed_) {
            return;
        }
        owner_.targets_changed_ = false;
        wanted.reserve(owner_.targets_.size());
        for (const auto& [target, slot] : owner_.targets_) {
            wanted.emplace_back(target, slot.id);
        }
    }
    std::set<uint64_t> kept;
    std::vector<const CheckTarget*> added;
    std::vector<uint64_t> added_ids;
    for (const auto& [target, id] : wanted) {
        kept.insert(id);
        if (!probes_.contains(id)) {
            added.push_back(&target);
            added_ids.push_back(id);
        }
    }
    for (auto it = probes_.begin(); it != probes_.end();) {
        if (kept.contains(it->first)) {
            ++it;
            continue;
        }
        abandon(it->second);
        schedule_.erase({it->second.due, it->first});
        it = probes_.erase(it);
    }
    // The first probes of what was added are spread over one interval: the k-th of n at k/n of
    // its interval, so that a thousand targets added at once do not all connect at once.
    const size_t n = added.size();
    for (size_t k = 0; k < n; ++k) {
        Probe& probe = probes_[added_ids[k]];
        probe.target = *added[k];
        probe.id = added_ids[k];
        const std::chrono::milliseconds interval(
            std::max<uint32_t>(probe.target.check.interval_ms, 1));
        schedule(probe, now + interval * static_cast<int64_t>(k) / static_cast<int64_t>(n));
    }
}

void HealthChecker::Loop::run_due(Clock::time_point now) {
    while (!schedule_.empty() && schedule_.begin()->first <= now) {
        Probe& probe = probes_.at(schedule_.begin()->second);
        schedule_.erase(schedule_.begin());
        if (probe.phase == Phase::idle) {
            start_probe(probe, now);
        } else {
            abandon(probe);
            finish(probe, false, "timeout", now);
        }
    }
}

void HealthChecker::Loop::schedule(Probe& probe, Clock::time_point due) {
    probe.due = due;
    schedule_.emplace(due, probe.id);
}

bool HealthChecker::Loop::watch(int fd, uint32_t events, uint64_t data, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    return ::epoll_ctl(epoll_fd_, op, fd, &ev) == 0;
}

// Out of epoll first: a copy of the descriptor that a fork() elsewhere in the daemon holds would
// keep it registered, and reporting, after close().
void HealthChecker::Loop::close_fd(int& fd) {
    if (fd >= 0) {
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
        fd = -1;
    }
}

void HealthChecker::Loop::start_probe(Probe& probe, Clock::time_point now) {
    probe.planned = probe.due;
    probe.started = now;
    const std::chrono::milliseconds timeout(std::max<uint32_t>(probe.target.check.timeout_ms, 1));
    schedule(probe, now + timeout);
    if (probe.target.check.type == CheckType::exec) {
        start_child(probe);
    } else {
        start_socket(probe);
    }
}

void HealthChecker::Loop::start_socket(Probe& probe) {
    const CheckType type = probe.target.check.type;
    const Clock::time_point now = probe.started;
    const IpAddress& address = probe.target.address;
    probe.fd = ::socket(
        address.is_v6 ? AF_INET6 : AF_INET,
        (type == CheckType::udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe.fd < 0) {
        finish(probe, false, "socket: " + errno_text(errno), now);
        return;
    }
    sockaddr_storage to{};
    socklen_t to_length = 0;
    if (address.is_v6) {
        auto* to6 = reinterpret_cast<sockaddr_in6*>(&to);
        to6->sin6_family = AF_INET6;
        std::memcpy(to6->sin6_addr.s6_addr, address.v6.data(), address.v6.size());
        to6->sin6_port = htons(probe.target.port);
        to_length = sizeof(sockaddr_in6);
    } else {
        auto* to4 = reinterpret_cast<sockaddr_in*>(&to);
        to4->sin_family = AF_INET;
        to4->sin_addr.s_addr = htonl(address.v4);
        to4->sin_port = htons(probe.target.port);
        to_length = sizeof(sockaddr_in);
    }
    const bool connected =
        ::connect(probe.fd, reinterpret_cast<const sockaddr*>(&to), to_length) == 0;
    const int err = errno;
    if (!connected && !(err == EINPROGRESS && type != CheckType::udp)) {
        finish(probe, false, err == ECONNREFUSED ? "refused" : "connect: " + errno_text(err), now);
        return;
    }
    if (type == CheckType::udp) {
        const std::string& payload = probe.target.check.payload;
        if (::send(probe.fd, payload.data(), payload.size(), MSG_NOSIGNAL) < 0) {
            finish(probe, false, errno == ECONNREFUSED ? "refused" : "send: " + errno_text(errno),
                   now);
            return;
        }
        probe.phase = Phase::reading;
        watch(probe.fd, EPOLLIN, probe.id);
        return;
    }
    if (!connected) {
        probe.phase = Phase::connecting;
        watch(probe.fd, EPOLLOUT, probe.id);
        return;
    }
    if (type == CheckType::tcp) {
        finish(probe, true, "ok", now);
        return;
    }
    watch(probe.fd, EPOLLOUT, probe.id);
    send_request(probe, now);
}

void HealthChecker::Loop::start_child(Probe& probe) {
    const Clock::time_point now = probe.started;
    const std::vector<std::string>& command = probe.target.check.command;
    if (command.empty()) {
        finish(probe, false, "exec: no command", now);
        return;
    }
    const std::string path = find_command(command[0]);
    if (path.empty()) {
        finish(probe, false, "exec: " + command[0] + ": not found", now);
        return;
    }
    const std::string address = format_ip_address(probe.target.address);
    const std::string port = std::to_string(probe.target.port);
    std::vector<std::string> argv_text = command;
    for (std::string& arg : argv_text) {
        replace_all(arg, "%address", address);
        replace_all(arg, "%port", port);
    }
    std::vector<char*> argv;
    for (std::string& arg : argv_text) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    ChildArgs args{path.c_str(), argv.data(), environ, 0};

    // CLONE_VFORK: this thread waits until the child has exec'd or exited, so the child can use
    // the memory it shares (CLONE_VM) and `args` stays valid. Exit signal 0: no SIGCHLD for
    // the daemon, and no waitpid(-1) without __WALL takes our children.
    int pidfd = -1;
    const pid_t pid =
        ::clone(child_main, stack_ + stack_map_bytes_, CLONE_VM | CLONE_VFORK | CLONE_PIDFD, &args,
                reinterpret_cast<pid_t*>(&pidfd), nullptr, nullptr);
    if (pid < 0) {
        finish(probe, false, "exec: clone: " + errno_text(errno), now);
        return;
    }
    if (args.error != 0) {
        reaping_.insert(pidfd);  // exiting with 127
        watch(pidfd, EPOLLIN, kReapTag | static_cast<uint64_t>(pidfd));
        finish(probe, false, "exec: " + command[0] + ": " + errno_text(args.error), now);
        return;
    }
    probe.phase = Phase::child;
    probe.fd = pidfd;
    probe.pid = pid;
    watch(pidfd, EPOLLIN, probe.id);
}

void HealthChecker::Loop::on_event(uint64_t data, uint32_t /*events*/, Clock::time_point now) {
    if (data == kWakeData) {
        uint64_t count = 0;
        [[maybe_unused]] const ssize_t n = ::read(owner_.wake_fd_, &count, sizeof count);
        return;  // run() looks at what changed
    }
    if ((data & kReapTag) != 0) {
        reap(static_cast<int>(data & ~kReapTag), false);
        return;
    }
    const auto it = probes_.find(data);
    if (it == probes_.end()) {
        return;
    }
    Probe& probe = it->second;
    if (probe.phase == Phase::child) {
        on_child(probe, now);
    } else if (probe.phase != Phase::idle) {
        on_socket(probe, now);
    }
}

void HealthChecker::Loop::on_socket(Probe& probe, Clock::time_point now) {
    const CheckType type = probe.target.check.type;
    switch (probe.phase) {
        case Phase::connecting: {
            int err = 0;
            socklen_t len = sizeof err;
            if (::getsockopt(probe.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
                err = errno;
            }
            if (err == EINPROGRESS || err == EALREADY) {
                return;
            }
            if (err != 0) {
                finish(probe, false,
                       err == ECONNREFUSED ? "refused" : "connect: " + errno_text(err), now);
            } else if (type == CheckType::tcp) {
                finish(probe, true, "ok", now);
            } else {
                send_request(probe, now);
            }
            return;
        }
        case Phase::sending:
            send_request(probe, now);
            return;
        case Phase::reading:
            if (type == CheckType::udp) {
                char byte = 0;
                if (::recv(probe.fd, &byte, 1, MSG_TRUNC) >= 0) {
                    finish(probe, true, "ok", now);
                } else if (errno != EAGAIN && errno != EINTR) {
                    finish(probe, false,
                           errno == ECONNREFUSED ? "refused" : "udp: " + errno_text(errno), now);
                }
            } else {
                read_response(probe, now);
            }
            return;
        case Phase::idle:
        case Phase::child:
            return;
    }
}

// keepalived's HTTP_GET asks HTTP/1.0 and reads the whole answer; here only the status line is
// read, from at most kMaxHttpResponse bytes.
void HealthChecker::Loop::send_request(Probe& probe, Clock::time_point now) {
    if (probe.phase != Phase::sending) {
        const HealthCheck& check = probe.target.check;
        probe.io =
            "GET " + (check.path.empty() ? std::string("/") : check.path) +
            " HTTP/1.0\r\nHost: " + format_endpoint(probe.target.address, probe.target.port) +
            "\r\nUser-Agent: vsnat-health\r\nConnection: close\r\n\r\n";
        probe.phase = Phase::sending;
    }
    const ssize_t n = ::send(probe.fd, probe.io.data(), probe.io.size(), MSG_NOSIGNAL);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            finish(probe, false, "http: " + errno_text(errno), now);
        }
        return;  // EPOLLOUT is still watched
    }
    probe.io.erase(0, static_cast<size_t>(n));
    if (probe.io.empty()) {
        probe.phase = Phase::reading;
        watch(probe.fd, EPOLLIN, probe.id, EPOLL_CTL_MOD);
    }
}

void HealthChecker::Loop::read_response(Probe& probe, Clock::time_point now) {
    const size_t had = probe.io.size();
    probe.io.resize(kMaxHttpResponse);
    const ssize_t n = ::recv(probe.fd, probe.io.data() + had, kMaxHttpResponse - had, 0);
    probe.io.resize(had + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            finish(probe, false, errno == ECONNREFUSED ? "refused" : "http: " + errno_text(errno),
                   now);
        }
        return;
    }
    // The status line ends at a line feed, or at the end of the response; not at the bound.
    if (probe.io.find('\n') == std::string::npos && n > 0) {
        if (probe.io.size() < kMaxHttpResponse) {
            return;  // more to come
        }
        finish(probe, false, "http: bad response", now);
        return;
    }
    const std::optional<int> status = http_status(probe.io);
    if (!status) {
        finish(probe, false, "http: bad response", now);
    } else if (*status == probe.target.check.expect_status) {
        finish(probe, true, "ok", now);
    } else {
        finish(probe, false, "http " + std::to_string(*status), now);
    }
}

void HealthChecker::Loop::on_child(Probe& probe, Clock::time_point now) {
    siginfo_t info{};
    if (::waitid(P_PIDFD, static_cast<id_t>(probe.fd), &info, WEXITED | WNOHANG | __WALL) != 0) {
        if (errno != EINTR) {  // ECHILD: reaped by someone else's waitpid(-1, __WALL)
            finish(probe, false, "exec: waitid: " + errno_text(errno), now);
        }
        return;
    }
    if (info.si_pid == 0) {
        return;  // not exited yet (a spurious wake-up)
    }
    close_fd(probe.fd);
    probe.pid = -1;
    if (info.si_code == CLD_EXITED) {
        finish(probe, info.si_status == 0,
               info.si_status == 0 ? "ok" : "exit " + std::to_string(info.si_status), now);
    } else {
        finish(probe, false, "signal " + std::to_string(info.si_status), now);
    }
}

// Ends the probe in flight: records its result, and the next starts one interval after this
// one was due to (or now, if that is past): the slack does not make the schedule drift.
void HealthChecker::Loop::finish(Probe& probe, bool ok, std::string reason, Clock::time_point now) {
    close_fd(probe.fd);
    probe.io.clear();
    probe.phase = Phase::idle;
    schedule_.erase({probe.due, probe.id});
    const std::chrono::milliseconds interval(std::max<uint32_t>(probe.target.check.interval_ms, 1));
    schedule(probe, std::max(probe.planned + interval, now));
    owner_.record(probe.target, probe.id, ok, std::move(reason));
}

// Stops the probe in flight without a result: its socket closed, or its child's process group
// killed and the child left to reap. Its schedule entry stays.
void HealthChecker::Loop::abandon(Probe& probe) {
    if (probe.phase == Phase::child) {
        // The group first, while the child, its leader, is not reaped: its id cannot have been
        // reused for another group.
        ::kill(-probe.pid, SIGKILL);
        // glibc 2.36's <sys/pidfd.h> lacks extern "C": the system call itself.
        ::syscall(SYS_pidfd_send_signal, probe.fd, SIGKILL, nullptr, 0);
        if (watch(probe.fd, EPOLLIN, kReapTag | static_cast<uint64_t>(probe.fd), EPOLL_CTL_MOD)) {
            reaping_.insert(probe.fd);
        } else {
            reap(probe.fd, true);
        }
        probe.fd = -1;
        probe.pid = -1;
    } else {
        close_fd(probe.fd);
    }
    probe.io.clear();
    probe.phase = Phase::idle;
}

// Reaps a child through its pidfd and closes it; `block`: even if it has not exited yet (it
// was sent SIGKILL).
void HealthChecker::Loop::reap(int pidfd, bool block) {
    siginfo_t info{};
    const int options = WEXITED | __WALL | (block ? 0 : WNOHANG);
    int rc = 0;
    while ((rc = ::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, options)) != 0 &&
           errno == EINTR) {
    }
    if (rc == 0 && info.si_pid == 0) {
        return;  // not yet: epoll says when
    }
    reaping_.erase(pidfd);
    int fd = pidfd;
    close_fd(fd);
}

HealthChecker::HealthChecker(int netns_fd) : netns_fd_(netns_fd) {}

HealthChecker::~HealthChecker() {
    stop();
    if (wake_fd_ >= 0) {
        ::close(wake_fd_);
    }
    if (notify_fd_ >= 0) {
        ::close(notify_fd_);
    }
}

bool HealthChecker::start(std::string& error) {
    if (thread_.joinable()) {
        error = "the health checker is running already";
        return false;
    }
    if (wake_fd_ < 0 && (wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        error = "cannot create an eventfd: " + errno_text(errno);
        return false;
    }
    if (notify_fd_ < 0 && (notify_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        error = "cannot create an eventfd: " + errno_text(errno);
        return false;
    }
    {
        std::lock_guard lock(mutex_);
        stop_requested_ = false;
        targets_changed_ = true;
    }
    // The thread owns the promise: it may still be inside set_value() when start() returns.
    std::promise<std::string> ready;
    std::future<std::string> result = ready.get_future();
    try {
        thread_ = std::thread([this, ready = std::move(ready)]() mutable {
            ::pthread_setname_np(::pthread_self(), "vsnat-health");
            // Signals go to the daemon's other threads; exec children start with all blocked
            // and unblock them once their handlers are reset.
            sigset_t all;
            ::sigfillset(&all);
            ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
            Loop loop(*this);
            std::string why;
            if (netns_fd_ >= 0 && ::setns(netns_fd_, CLONE_NEWNET) != 0) {
                why = "cannot enter the health checks' network namespace: " + errno_text(errno);
            } else {
                why = loop.open();
            }
            const bool ok = why.empty();
            ready.set_value(std::move(why));
            if (ok) {
                loop.run();
            }
        });
    } catch (const std::system_error& e) {
        error = std::string("cannot start the health checker's thread: ") + e.what();
        return false;
    }
    std::string why = result.get();
    if (!why.empty()) {
        thread_.join();
        error = std::move(why);
        return false;
    }
    ::pthread_getcpuclockid(thread_.native_handle(), &cpu_clock_);
    running_ = true;
    return true;
}

void HealthChecker::stop() {
    if (!thread_.joinable()) {
        return;
    }
    running_ = false;
    {
        std::lock_guard lock(mutex_);
        stop_requested_ = true;
    }
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
    thread_.join();
}

void HealthChecker::set_targets(const std::vector<CheckTarget>& targets) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    std::map<CheckTarget, Slot> next;
    for (const CheckTarget& target : targets) {
        if (next.contains(target)) {
            continue;
        }
        if (auto it = targets_.find(target); it != targets_.end()) {
            next.insert(targets_.extract(it));
            continue;
        }
        Slot slot;
        slot.id = next_id_++;
        slot.status.up = !target.check.start_down;
        slot.status.since = now;
        next.emplace(target, std::move(slot));
    }
    targets_ = std::move(next);
    targets_changed_ = true;
    if (wake_fd_ >= 0) {
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
    }
}

std::vector<HealthTransition> HealthChecker::take_transitions() {
    std::lock_guard lock(mutex_);
    if (notify_fd_ >= 0) {
        uint64_t count = 0;
        [[maybe_unused]] const ssize_t n = ::read(notify_fd_, &count, sizeof count);
    }
    std::vector<HealthTransition> taken(std::make_move_iterator(transitions_.begin()),
                                        std::make_move_iterator(transitions_.end()));
    transitions_.clear();
    return taken;
}

std::optional<HealthStatus> HealthChecker::status(const CheckTarget& target) const {
    std::lock_guard lock(mutex_);
    const auto it = targets_.find(target);
    if (it == targets_.end()) {
        return std::nullopt;
    }
    return it->second.status;
}

std::vector<std::pair<CheckTarget, HealthStatus>> HealthChecker::statuses() const {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<CheckTarget, HealthStatus>> all;
    all.reserve(targets_.size());
    for (const auto& [target, slot] : targets_) {
        all.emplace_back(target, slot.status);
    }
    return all;
}

bool HealthChecker::mark_down(const CheckTarget& target, const std::string& reason) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    const auto it = targets_.find(target);
    if (it == targets_.end()) {
        return false;
    }
    HealthStatus& status = it->second.status;
    status.reason = reason;
    status.successes_in_row = 0;
    if (status.up) {
        status.up = false;
        status.since = now;
        push_transition(target, status, 0);
    }
    return true;
}

std::chrono::nanoseconds HealthChecker::cpu_time() const {
    timespec ts{};
    if (!running_ || ::clock_gettime(cpu_clock_, &ts) != 0) {
        return std::chrono::nanoseconds(0);
    }
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

void HealthChecker::record(const CheckTarget& target, uint64_t id, bool ok, std::string reason) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    const auto it = targets_.find(target);
    if (it == targets_.end() || it->second.id != id) {
        return;  // removed since the probe started
    }
    HealthStatus& status = it->second.status;
    if (count_result(status, target.check, ok, std::move(reason), now)) {
        push_transition(target, status, ok ? status.successes_in_row : status.failures_in_row);
    }
}

void HealthChecker::push_transition(const CheckTarget& target, const HealthStatus& status,
                                    uint32_t in_row) {
    transitions_.push_back(
        HealthTransition{target, status.up, status.reason, status.probes, in_row, status.since});
    if (notify_fd_ >= 0) {
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(notify_fd_, &one, sizeof one);
    }
}

}  // namespace vsnat::cp
