// The health checker's cost: the CPU its one thread uses to probe 1,000 targets once a second
// with tcp checks, then with http checks. Prints figures; not a test. Root: it makes its own
// network namespace (vsnat-bench-health-PID, removed at the end, or by its guard process if
// the benchmark is killed), puts 198.18.0.1/16 on its loopback (every address of the /16 is
// then local), and serves the targets 198.18.1.1 - 198.18.4.250, port 80, from one listener on
// an epoll thread of its own: tcp connections are closed at once, http requests answered 200.
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cp/health_checker.hpp"
#include "io/netns.hpp"
#include "io/rtnetlink.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using vsnat::IpAddress;
using vsnat::Ipv4;
using vsnat::cp::CheckTarget;
using vsnat::cp::CheckType;
using vsnat::cp::HealthChecker;

constexpr Ipv4 kLoopbackAddress = 0xC612'0001;  // 198.18.0.1/16
constexpr uint16_t kPort = 80;
constexpr auto kWarmUp = std::chrono::seconds(2);  // the first interval's spread, and one more

double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

double thread_cpu_seconds(pthread_t thread) {
    clockid_t clock{};
    timespec ts{};
    if (pthread_getcpuclockid(thread, &clock) != 0 || clock_gettime(clock, &ts) != 0) {
        return 0;
    }
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The targets' server: one listening socket on the namespace's every address, one epoll
// thread. In http mode each connection's request head is read and answered
// "HTTP/1.0 200 OK"; in tcp mode a connection is closed as soon as it is accepted.
class Server {
  public:
    Server(int listener, bool http) : listener_(listener), http_(http) {}
    ~Server() { stop(); }

    bool start(std::string& error) {
        epoll_ = epoll_create1(EPOLL_CLOEXEC);
        stop_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (epoll_ < 0 || stop_ < 0 || !watch(listener_, EPOLLIN) || !watch(stop_, EPOLLIN)) {
            error = std::string("server: ") + std::strerror(errno);
            return false;
        }
        thread_ = std::thread([this] { run(); });
        return true;
    }
    void stop() {
        if (thread_.joinable()) {
            const uint64_t one = 1;
            [[maybe_unused]] const ssize_t n = write(stop_, &one, sizeof one);
            thread_.join();
        }
        for (const auto& [fd, request] : open_) {
            close(fd);
        }
        open_.clear();
        for (int* fd : {&epoll_, &stop_}) {
            if (*fd >= 0) {
                close(*fd);
                *fd = -1;
            }
        }
    }
    uint64_t served() const { return served_; }
    double cpu_seconds() {
        return thread_.joinable() ? thread_cpu_seconds(thread_.native_handle()) : 0;
    }

  private:
    bool watch(int fd, uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.fd = fd;
        return epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) == 0;
    }
    void finish(int fd) {
        epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        open_.erase(fd);
        ++served_;
    }
    void run() {
        static constexpr char kAnswer[] = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        epoll_event events[256];
        while (true) {
            const int n = epoll_wait(epoll_, events, 256, -1);
            for (int i = 0; i < n; ++i) {
                const int fd = events[i].data.fd;
                if (fd == stop_) {
                    return;
                }
                if (fd == listener_) {
                    int conn = -1;
                    while ((conn = accept4(listener_, nullptr, nullptr,
                                           SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                        if (!http_) {
                            close(conn);
                            ++served_;
                        } else if (watch(conn, EPOLLIN)) {
                            open_[conn];
                        } else {
                            close(conn);
                        }
                    }
                    continue;
                }
                char buf[1024];
                const ssize_t got = recv(fd, buf, sizeof buf, 0);
                if (got <= 0) {
                    finish(fd);
                    continue;
                }
                std::string& request = open_[fd];
                request.append(buf, static_cast<size_t>(got));
                if (request.find("\r\n\r\n") != std::string::npos) {
                    [[maybe_unused]] const ssize_t sent =
                        send(fd, kAnswer, sizeof kAnswer - 1, MSG_NOSIGNAL);
                    finish(fd);
                }
            }
        }
    }

    int listener_;
    bool http_;
    int epoll_ = -1;
    int stop_ = -1;
    std::thread thread_;
    std::unordered_map<int, std::string> open_;  // http connections: the request so far
    std::atomic<uint64_t> served_{0};
};

struct Figures {
    double wall = 0;
    double checker_cpu = 0;
    double server_cpu = 0;
    uint64_t probes = 0;
    uint64_t failures = 0;
    size_t up = 0;
};

bool measure(const vsnat::io::NetworkNamespace& ns, CheckType type, int targets, double total,
             Figures& out) {
    std::string error;
    const int listener = ns.open_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0, error);
    if (listener < 0) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return false;
    }
    const int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_port = htons(kPort);
    if (bind(listener, reinterpret_cast<const sockaddr*>(&any), sizeof any) != 0 ||
        listen(listener, 4096) != 0) {
        std::fprintf(stderr, "cannot listen on port %u: %s\n", kPort, std::strerror(errno));
        close(listener);
        return false;
    }
    Server server(listener, type == CheckType::http);
    if (!server.start(error)) {
        std::fprintf(stderr, "%s\n", error.c_str());
        close(listener);
        return false;
    }

    std::vector<CheckTarget> list;
    for (int i = 0; i < targets; ++i) {
        CheckTarget t;
        t.address =
            IpAddress::of(0xC612'0000 + static_cast<Ipv4>((1 + i / 250) << 8 | (1 + i % 250)));
        t.port = kPort;
        t.check.type = type;
        t.check.interval_ms = 1000;
        t.check.timeout_ms = 1000;
        t.check.path = "/health";
        list.push_back(t);
    }
    HealthChecker checker(ns.fd());
    checker.set_targets(list);
    if (!checker.start(error)) {
        std::fprintf(stderr, "%s\n", error.c_str());
        server.stop();
        close(listener);
        return false;
    }
    const auto sum = [&checker](uint64_t vsnat::cp::HealthStatus::*field) {
        uint64_t n = 0;
        for (const auto& [t, s] : checker.statuses()) {
            n += s.*field;
        }
        return n;
    };
    std::this_thread::sleep_for(kWarmUp);
    const auto t0 = Clock::now();
    const auto cpu0 = checker.cpu_time();
    const double server0 = server.cpu_seconds();
    const uint64_t probes0 = sum(&vsnat::cp::HealthStatus::probes);
    const uint64_t failures0 = sum(&vsnat::cp::HealthStatus::failures);
    std::this_thread::sleep_for(std::chrono::duration<double>(total) - kWarmUp);
    out.wall = seconds(Clock::now() - t0);
    out.checker_cpu = std::chrono::duration<double>(checker.cpu_time() - cpu0).count();
    out.server_cpu = server.cpu_seconds() - server0;
    out.probes = sum(&vsnat::cp::HealthStatus::probes) - probes0;
    out.failures = sum(&vsnat::cp::HealthStatus::failures) - failures0;
    for (const auto& [t, s] : checker.statuses()) {
        out.up += s.up ? 1 : 0;
    }
    checker.stop();
    server.stop();
    close(listener);
    return true;
}

int usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s [--seconds S] [--targets N] [--mode tcp|http|both]\n"
                 "  S: the whole run (default 20), split between the modes; each spends its "
                 "first 2 s warming up\n",
                 argv0);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    double total = 20;
    int targets = 1000;
    std::string mode = "both";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc) {
            return usage(argv[0]);
        }
        if (arg == "--seconds") {
            total = std::atof(argv[++i]);
        } else if (arg == "--targets") {
            targets = std::atoi(argv[++i]);
        } else if (arg == "--mode") {
            mode = argv[++i];
        } else {
            return usage(argv[0]);
        }
    }
    std::vector<CheckType> types;
    if (mode == "tcp" || mode == "both") {
        types.push_back(CheckType::tcp);
    }
    if (mode == "http" || mode == "both") {
        types.push_back(CheckType::http);
    }
    const double each = types.empty() ? 0 : total / static_cast<double>(types.size());
    if (types.empty() || each < seconds(kWarmUp) + 1 || targets < 1 || targets > 250 * 250) {
        return usage(argv[0]);
    }
    if (geteuid() != 0) {
        std::fprintf(stderr, "vsnat-bench-health: needs root (a network namespace of its own)\n");
        return 77;
    }
    // A probe in flight holds a descriptor: room for every target at once, and the server's.
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }

    std::string error;
    const std::string name = "vsnat-bench-health-" + std::to_string(getpid());
    auto ns = vsnat::io::NetworkNamespace::open_or_create(name, error);
    if (!ns) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return 1;
    }
    {
        auto nl = vsnat::io::RtNetlink::open(*ns, error);
        std::optional<int> lo;
        if (!nl || !(lo = nl->link_index("lo", error)) ||
            !nl->add_address(*lo, kLoopbackAddress, 16, error)) {
            std::fprintf(stderr, "%s\n", error.c_str());
            return 1;
        }
    }
    std::printf("vsnat health checker benchmark: %d targets, interval 1 s, namespace %s\n", targets,
                name.c_str());
    std::printf("command: %s --seconds %g --targets %d --mode %s\n\n", argv[0], total, targets,
                mode.c_str());
    std::printf("%-5s %9s %10s %9s %8s %14s %12s  %s\n", "check", "measured", "probes/s",
                "failures", "up", "checker CPU", "server CPU", "target");
    for (const CheckType type : types) {
        Figures f;
        if (!measure(*ns, type, targets, each, f)) {
            return 1;
        }
        const double pct = 100 * f.checker_cpu / f.wall;
        std::printf(
            "%-5s %7.1f s %10.0f %9llu %4zu/%-4d %11.2f %% %10.2f %%  < 5%% of one core: %s\n",
            type == CheckType::tcp ? "tcp" : "http", f.wall, static_cast<double>(f.probes) / f.wall,
            static_cast<unsigned long long>(f.failures), f.up, targets, pct,
            100 * f.server_cpu / f.wall, pct < 5 ? "met" : "NOT met");
    }
    std::printf(
        "\nCPU: the checker's one thread (CLOCK_THREAD_CPUTIME_ID), as %% of one core "
        "over the measured time;\nserver: the benchmark's own epoll thread that answers "
        "the probes, for comparison.\n");
    return 0;
}
