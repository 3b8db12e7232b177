// The health checker against real servers. Every case but the first needs root (a network
// namespace of its own, CAP_SYS_ADMIN to enter it); without it they say so and pass nothing.
// Traffic stays in that namespace, named vsnat-test-PID-hc-*: its servers are threads of this
// process with sockets made there, on 198.18.200.1/24 on its loopback (or ::1, which its
// loopback has), and the checker probes from there. The namespace goes with its object, or by name
// if a check fails half way.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cp/health_checker.hpp"
#include "io/netns.hpp"
#include "io/rtnetlink.hpp"

using namespace vsnat;
using namespace std::chrono_literals;
using vsnat::cp::CheckTarget;
using vsnat::cp::CheckType;
using vsnat::cp::HealthCheck;
using vsnat::cp::HealthChecker;
using vsnat::cp::HealthStatus;
using vsnat::cp::HealthTransition;
using vsnat::io::NetworkNamespace;

namespace {

constexpr Ipv4 kServer = 0xC612'C801;  // 198.18.200.1, on the lab's loopback as a /24
constexpr IpAddress kServer6 =
    IpAddress::of(Ipv6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});  // ::1
constexpr uint32_t kIntervalMs = 150;

bool can_run() {
    if (geteuid() != 0) {
        WARN("not root: health checker tests skipped (they need a network namespace)");
        return false;
    }
    return true;
}

bool netns_exists(const std::string& name) {
    struct stat st {};
    return stat((std::string(io::kNetnsDirectory) + "/" + name).c_str(), &st) == 0;
}

// Removes a namespace a failed check may have left; the happy path leaves nothing to remove.
struct NetnsCleanup {
    std::string name;
    ~NetnsCleanup() {
        if (netns_exists(name)) {
            std::system(("ip netns del " + name + " 2>/dev/null").c_str());
        }
    }
};

// A namespace of the test's own with lo up and 198.18.200.1/24 on it.
class Lab {
  public:
    explicit Lab(const char* what)
        : cleanup_{"vsnat-test-" + std::to_string(getpid()) + "-hc-" + what} {
        std::string error;
        ns_ = NetworkNamespace::open_or_create(cleanup_.name, error);
        INFO(error);
        REQUIRE(ns_);
        auto nl = io::RtNetlink::open(*ns_, error);
        REQUIRE(nl);
        const auto lo = nl->link_index("lo", error);
        REQUIRE(lo);
        REQUIRE(nl->add_address(*lo, kServer, 24, error));
    }
    const NetworkNamespace& ns() const { return *ns_; }
    int socket(int type, int family = AF_INET) const {
        std::string error;
        const int fd = ns_->open_socket(family, type, 0, error);
        INFO(error);
        REQUIRE(fd >= 0);
        return fd;
    }

  private:
    NetnsCleanup cleanup_;  // before ns_: it goes after it
    std::optional<NetworkNamespace> ns_;
};

sockaddr_in socket_address(Ipv4 address, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(address);
    a.sin_port = htons(port);
    return a;
}

int bound(const Lab& lab, int type, const IpAddress& address, uint16_t port) {
    const int fd = lab.socket(type, address.is_v6 ? AF_INET6 : AF_INET);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage a{};
    socklen_t length = sizeof(sockaddr_in);
    if (address.is_v6) {
        auto* a6 = reinterpret_cast<sockaddr_in6*>(&a);
        a6->sin6_family = AF_INET6;
        std::copy(address.v6.begin(), address.v6.end(), a6->sin6_addr.s6_addr);
        a6->sin6_port = htons(port);
        length = sizeof(sockaddr_in6);
    } else {
        *reinterpret_cast<sockaddr_in*>(&a) = socket_address(address.v4, port);
    }
    REQUIRE(bind(fd, reinterpret_cast<const sockaddr*>(&a), length) == 0);
    return fd;
}

// A server on its own thread until destroyed; `serve` gets each readable descriptor.
class ServerThread {
  public:
    ServerThread() : stop_(eventfd(0, EFD_CLOEXEC)) {}
    ~ServerThread() {
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = write(stop_, &one, sizeof one);
        if (thread_.joinable()) {
            thread_.join();
        }
        close(stop_);
    }
    ServerThread(const ServerThread&) = delete;
    ServerThread& operator=(const ServerThread&) = delete;

  protected:
    void start(int fd, std::function<void(int)> serve) {
        thread_ = std::thread([this, fd, serve = std::move(serve)] {
            pollfd fds[2] = {{fd, POLLIN, 0}, {stop_, POLLIN, 0}};
            while (poll(fds, 2, -1) >= 0 && (fds[1].revents & POLLIN) == 0) {
                if ((fds[0].revents & POLLIN) != 0) {
                    serve(fd);
                }
            }
            close(fd);
        });
    }

  private:
    int stop_;
    std::thread thread_;
};

// TCP at 198.18.200.1:port (or `address`). No answers: closes each connection at once. Else reads
// the request head and gives the n-th connection answers[n] (the last repeats) and closes; kHold
// keeps the connection open without a word.
class TcpServer : public ServerThread {
  public:
    static inline const std::string kHold = "(hold)";

    TcpServer(const Lab& lab, uint16_t port, std::vector<std::string> answers = {},
              const IpAddress& address = IpAddress::of(kServer))
        : answers_(std::move(answers)) {
        const int fd = bound(lab, SOCK_STREAM, address, port);
        REQUIRE(listen(fd, 64) == 0);
        start(fd, [this](int listener) { serve(listener); });
    }
    ~TcpServer() {
        for (const int fd : held_) {
            close(fd);
        }
    }
    std::string last_request() const {
        std::lock_guard lock(mutex_);
        return last_request_;
    }
    size_t connections() const { return connections_; }

  private:
    void serve(int listener) {
        const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        const size_t n = connections_++;
        if (answers_.empty()) {
            close(fd);
            return;
        }
        std::string request;
        char buf[1024];
        pollfd p{fd, POLLIN, 0};
        while (request.find("\r\n\r\n") == std::string::npos && poll(&p, 1, 2000) == 1) {
            const ssize_t got = recv(fd, buf, sizeof buf, 0);
            if (got <= 0) {
                break;
            }
            request.append(buf, static_cast<size_t>(got));
        }
        {
            std::lock_guard lock(mutex_);
            last_request_ = request;
        }
        const std::string& answer = answers_[std::min(n, answers_.size() - 1)];
        if (answer == kHold) {
            held_.push_back(fd);
            return;
        }
        [[maybe_unused]] const ssize_t sent = send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        close(fd);
    }

    std::vector<std::string> answers_;
    std::vector<int> held_;
    std::atomic<size_t> connections_{0};
    mutable std::mutex mutex_;
    std::string last_request_;
};

// UDP at 198.18.200.1:port (or `address`): echoes each datagram, or keeps silent.
class UdpServer : public ServerThread {
  public:
    UdpServer(const Lab& lab, uint16_t port, bool echo,
              const IpAddress& address = IpAddress::of(kServer)) {
        const int fd = bound(lab, SOCK_DGRAM, address, port);
        start(fd, [this, echo](int sock) {
            char buf[2048];
            sockaddr_storage from{};
            socklen_t len = sizeof from;
            const ssize_t n =
                recvfrom(sock, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
            if (n < 0) {
                return;
            }
            {
                std::lock_guard lock(mutex_);
                payloads_.emplace_back(buf, static_cast<size_t>(n));
            }
            if (echo) {
                sendto(sock, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from),
                       len);
            }
        });
    }
    std::vector<std::string> payloads() const {
        std::lock_guard lock(mutex_);
        return payloads_;
    }

  private:
    mutable std::mutex mutex_;
    std::vector<std::string> payloads_;
};

HealthCheck check(CheckType type, uint32_t fall = 1, uint32_t rise = 1) {
    HealthCheck c;
    c.type = type;
    c.interval_ms = kIntervalMs;
    c.timeout_ms = kIntervalMs;
    c.fall = fall;
    c.rise = rise;
    return c;
}

CheckTarget target(uint16_t port, HealthCheck c) {
    return CheckTarget{IpAddress::of(kServer), port, std::move(c)};
}

CheckTarget exec_target(std::vector<std::string> command, uint32_t timeout_ms = 2000) {
    HealthCheck c = check(CheckType::exec);
    c.command = std::move(command);
    c.timeout_ms = timeout_ms;
    c.interval_ms = std::max(timeout_ms, kIntervalMs);
    return target(8080, std::move(c));
}

// Waits for `done` up to `limit`: a bound for a slow, shared machine, not a measurement.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 8000ms) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

HealthStatus status_of(const HealthChecker& hc, const CheckTarget& t) {
    const std::optional<HealthStatus> s = hc.status(t);
    REQUIRE(s);
    return *s;
}

// Waits until every target has ended at least `probes` probes.
bool every_target_probed(const HealthChecker& hc, uint64_t probes) {
    return eventually([&] {
        const auto all = hc.statuses();
        return std::all_of(all.begin(), all.end(),
                           [&](const auto& s) { return s.second.probes >= probes; });
    });
}

// The transitions taken so far, and those of one target.
struct Transitions {
    HealthChecker& hc;
    std::vector<HealthTransition> all{};
    std::vector<HealthTransition> of(const CheckTarget& t) {
        auto more = hc.take_transitions();
        all.insert(all.end(), more.begin(), more.end());
        std::vector<HealthTransition> mine;
        std::copy_if(all.begin(), all.end(), std::back_inserter(mine),
                     [&](const HealthTransition& tr) { return tr.target == t; });
        return mine;
    }
};

// An argument for sleep that no other process has: seconds 10 + n, then this process's id as
// the fraction.
std::string sleep_seconds(int n) {
    return std::to_string(10 + n) + "." + std::to_string(getpid());
}

// Processes whose command line starts with `marker` (a shell that runs the command has it later
// in its own: not counted), and zombies among this process's children.
size_t processes_with(const std::string& marker) {
    size_t found = 0;
    DIR* proc = opendir("/proc");
    while (dirent* e = readdir(proc)) {
        if (!isdigit(static_cast<unsigned char>(e->d_name[0]))) {
            continue;
        }
        std::ifstream f(std::string("/proc/") + e->d_name + "/cmdline");
        std::string cmdline((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
        found += cmdline.starts_with(marker) ? 1 : 0;
    }
    closedir(proc);
    return found;
}

size_t zombie_children() {
    size_t zombies = 0;
    DIR* proc = opendir("/proc");
    while (dirent* e = readdir(proc)) {
        if (!isdigit(static_cast<unsigned char>(e->d_name[0]))) {
            continue;
        }
        std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
        std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        const size_t paren = stat.rfind(')');
        if (paren == std::string::npos) {
            continue;
        }
        char state = 0;
        int ppid = 0;
        if (sscanf(stat.c_str() + paren + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid() &&
            state == 'Z') {
            ++zombies;
        }
    }
    closedir(proc);
    return zombies;
}

std::string netns_link(int fd) {
    struct stat st {};
    fstat(fd, &st);
    return "net:[" + std::to_string(st.st_ino) + "]";
}

void start(HealthChecker& hc) {
    std::string error;
    INFO(error);
    REQUIRE(hc.start(error));
}

}  // namespace

TEST_CASE("rise and fall: consecutive results change the state, nothing else", "[health]") {
    HealthCheck c;
    c.rise = 2;
    c.fall = 3;
    HealthStatus s;
    const auto now = std::chrono::steady_clock::now();
    // up: two failures and a success keep it up; three failures take it down.
    CHECK_FALSE(cp::count_result(s, c, false, "refused", now));
    CHECK_FALSE(cp::count_result(s, c, false, "refused", now));
    CHECK_FALSE(cp::count_result(s, c, true, "ok", now));
    CHECK(s.up);
    CHECK(s.successes_in_row == 1);
    CHECK_FALSE(cp::count_result(s, c, false, "timeout", now));
    CHECK_FALSE(cp::count_result(s, c, false, "timeout", now));
    CHECK(cp::count_result(s, c, false, "http 503", now + 1s));
    CHECK_FALSE(s.up);
    CHECK(s.reason == "http 503");
    CHECK(s.failures_in_row == 3);
    CHECK(s.since == now + 1s);
    // down: more failures keep it down; one success is not enough, two in a row are.
    CHECK_FALSE(cp::count_result(s, c, false, "timeout", now));
    CHECK_FALSE(cp::count_result(s, c, true, "ok", now));
    CHECK_FALSE(cp::count_result(s, c, false, "timeout", now));
    CHECK_FALSE(cp::count_result(s, c, true, "ok", now));
    CHECK(cp::count_result(s, c, true, "ok", now + 2s));
    CHECK(s.up);
    CHECK(s.successes_in_row == 2);
    CHECK(s.failures_in_row == 0);
    CHECK(s.probes == 11);
    CHECK(s.failures == 7);
    // rise and fall of 0 count as 1.
    c.rise = 0;
    c.fall = 0;
    HealthStatus z;
    CHECK(cp::count_result(z, c, false, "refused", now));
    CHECK(cp::count_result(z, c, true, "ok", now));
}

TEST_CASE("targets are ordered and compared by their whole check", "[health]") {
    const CheckTarget a = target(80, check(CheckType::tcp));
    CheckTarget b = a;
    CHECK(a == b);
    b.check.interval_ms += 1;
    CHECK(a != b);
    CHECK((a < b) != (b < a));
    CHECK(cp::describe(a) == "198.18.200.1:80 tcp");
}

TEST_CASE("tcp: a listener is up, a closed port is refused and goes down after fall", "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("tcp");
    TcpServer server(lab, 8080);
    HealthChecker hc(lab.ns().fd());
    Transitions seen{hc};
    const CheckTarget open = target(8080, check(CheckType::tcp, 2));
    const CheckTarget closed = target(8081, check(CheckType::tcp, 3));
    hc.set_targets({open, closed});
    start(hc);
    REQUIRE(eventually(
        [&] { return status_of(hc, open).probes >= 3 && status_of(hc, closed).probes >= 4; }));
    const HealthStatus up = status_of(hc, open);
    CHECK(up.up);
    CHECK(up.reason == "ok");
    CHECK(up.failures == 0);
    CHECK(up.successes_in_row == up.probes);
    CHECK(server.connections() >= 3);
    const HealthStatus down = status_of(hc, closed);
    CHECK_FALSE(down.up);
    CHECK(down.reason == "refused");
    CHECK(down.failures == down.probes);
    CHECK(seen.of(open).empty());
    const auto t = seen.of(closed);
    REQUIRE(t.size() == 1);
    CHECK_FALSE(t[0].up);
    CHECK(t[0].reason == "refused");
    CHECK(t[0].probes == 3);
    CHECK(t[0].in_row == 3);
}

TEST_CASE("tcp: no answer within the timeout is a timeout", "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("tcpto");
    // A listener that never accepts, its queue (backlog 0: one connection) full: the kernel
    // drops every further SYN.
    const int listener = bound(lab, SOCK_STREAM, IpAddress::of(kServer), 8080);
    REQUIRE(listen(listener, 0) == 0);
    const int filler = lab.socket(SOCK_STREAM);
    const sockaddr_in to = socket_address(kServer, 8080);
    REQUIRE(connect(filler, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0);

    HealthChecker hc(lab.ns().fd());
    HealthCheck c = check(CheckType::tcp, 2);
    c.timeout_ms = 100;
    const CheckTarget silent = target(8080, c);
    hc.set_targets({silent});
    start(hc);
    REQUIRE(eventually([&] { return status_of(hc, silent).probes >= 2; }));
    const HealthStatus s = status_of(hc, silent);
    CHECK_FALSE(s.up);
    CHECK(s.reason == "timeout");
    CHECK(s.failures == s.probes);
    hc.stop();
    close(filler);
    close(listener);
}

TEST_CASE("http: the status line decides; bad answers, silence and refusal fail", "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("http");
    TcpServer ok(lab, 8080, {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"});
    TcpServer unavailable(lab, 8081, {"HTTP/1.1 503 Service Unavailable\r\n\r\n"});
    TcpServer garbage(lab, 8082, {"hello there\r\n"});
    TcpServer silent(lab, 8083, {TcpServer::kHold});
    TcpServer endless(lab, 8084, {std::string(10000, 'x')});
    TcpServer bare(lab, 8086, {"HTTP/1.1 204"});  // no end of line: the end of the response

    HealthCheck c = check(CheckType::http);
    c.path = "/healthz";
    HealthCheck expect_204 = c;
    expect_204.expect_status = 204;
    const CheckTarget good = target(8080, c), wrong = target(8080, expect_204),
                      bad = target(8081, c), junk = target(8082, c), quiet = target(8083, c),
                      flood = target(8084, c), refused = target(8085, c),
                      short_204 = target(8086, expect_204);
    HealthChecker hc(lab.ns().fd());
    hc.set_targets({good, wrong, bad, junk, quiet, flood, refused, short_204});
    start(hc);
    REQUIRE(every_target_probed(hc, 2));
    const auto reason = [&](const CheckTarget& t) { return status_of(hc, t).reason; };
    CHECK(status_of(hc, good).up);
    CHECK(reason(good) == "ok");
    CHECK(reason(wrong) == "http 200");
    CHECK(reason(bad) == "http 503");
    CHECK(reason(junk) == "http: bad response");
    CHECK(reason(quiet) == "timeout");
    CHECK(reason(flood) == "http: bad response");
    CHECK(reason(refused) == "refused");
    CHECK(reason(short_204) == "ok");
    for (const CheckTarget& t : {wrong, bad, junk, quiet, flood, refused}) {
        CHECK_FALSE(status_of(hc, t).up);
    }
    CHECK(ok.last_request() ==
          "GET /healthz HTTP/1.0\r\nHost: 198.18.200.1:8080\r\nUser-Agent: vsnat-health\r\n"
          "Connection: close\r\n\r\n");
}

TEST_CASE("udp: any answer is up, a port unreachable is refused, silence a timeout", "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("udp");
    UdpServer echo(lab, 5353, true);
    UdpServer silent(lab, 5355, false);
    HealthCheck c = check(CheckType::udp);
    c.payload = "ping";
    HealthCheck empty = check(CheckType::udp);
    const CheckTarget answered = target(5353, c), answered_empty = target(5353, empty),
                      closed = target(5354, c), quiet = target(5355, c);
    HealthChecker hc(lab.ns().fd());
    hc.set_targets({answered, answered_empty, closed, quiet});
    start(hc);
    REQUIRE(every_target_probed(hc, 2));
    CHECK(status_of(hc, answered).up);
    CHECK(status_of(hc, answered).reason == "ok");
    CHECK(status_of(hc, answered_empty).reason == "ok");
    CHECK(status_of(hc, answered_empty).failures == 0);
    CHECK(status_of(hc, closed).reason == "refused");
    CHECK_FALSE(status_of(hc, closed).up);
    CHECK(status_of(hc, quiet).reason == "timeout");
    const auto got = echo.payloads();
    CHECK(std::count(got.begin(), got.end(), "ping") >= 2);
    CHECK(std::count(got.begin(), got.end(), "") >= 2);
    CHECK(silent.payloads().size() >= 2);
}

TEST_CASE("IPv6 servers: tcp, http, udp and exec probes to ::1", "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("v6");
    TcpServer listener(lab, 8080, {}, kServer6);
    TcpServer web(lab, 8081, {"HTTP/1.0 200 OK\r\n\r\n"}, kServer6);
    UdpServer echo(lab, 5353, true, kServer6);
    HealthCheck http = check(CheckType::http);
    http.path = "/";
    HealthCheck udp = check(CheckType::udp);
    udp.payload = "ping6";
    HealthCheck exec = check(CheckType::exec);
    exec.command = {"sh", "-c",       "test \"$1\" = ::1 && test \"$2\" = 8080",
                    "x",  "%address", "%port"};
    const CheckTarget tcp_up{kServer6, 8080, check(CheckType::tcp)},
        tcp_refused{kServer6, 8082, check(CheckType::tcp)}, http_up{kServer6, 8081, http},
        udp_up{kServer6, 5353, udp}, udp_refused{kServer6, 5354, udp},
        exec_up{kServer6, 8080, exec};
    // The same port on 198.18.200.1 is another target, and nothing listens there.
    const CheckTarget tcp4{IpAddress::of(kServer), 8080, check(CheckType::tcp)};
    HealthChecker hc(lab.ns().fd());
    hc.set_targets({tcp_up, tcp_refused, http_up, udp_up, udp_refused, exec_up, tcp4});
    start(hc);
    REQUIRE(every_target_probed(hc, 2));
    const auto reason = [&](const CheckTarget& t) { return status_of(hc, t).reason; };
    CHECK(reason(tcp_up) == "ok");
    CHECK(status_of(hc, tcp_up).up);
    CHECK(reason(tcp_refused) == "refused");
    CHECK_FALSE(status_of(hc, tcp_refused).up);
    CHECK(reason(http_up) == "ok");
    CHECK(web.last_request() ==
          "GET / HTTP/1.0\r\nHost: [::1]:8081\r\nUser-Agent: vsnat-health\r\n"
          "Connection: close\r\n\r\n");
    CHECK(reason(udp_up) == "ok");
    CHECK(reason(udp_refused) == "refused");
    CHECK(reason(exec_up) == "ok");
    CHECK(reason(tcp4) == "refused");
    CHECK(listener.connections() >= 2);
    const auto got = echo.payloads();
    CHECK(std::count(got.begin(), got.end(), "ping6") >= 2);
    CHECK(cp::describe(tcp_up) == "[::1]:8080 tcp");
    CHECK(cp::describe(tcp4) == "198.18.200.1:8080 tcp");
}

TEST_CASE("exec: exit status, signals, substitution, the namespace, nothing inherited",
          "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("exec");
    // A descriptor without close-on-exec, at a number no shell uses: the command must not see it.
    const int inheritable = eventfd(0, 0);
    const int leak = dup2(inheritable, 100);
    close(inheritable);
    REQUIRE(leak == 100);
    std::string error;
    const auto own = NetworkNamespace::current(error);
    REQUIRE(own);

    const CheckTarget yes = exec_target({"/bin/true"}), no = exec_target({"false"}),
                      killed = exec_target({"sh", "-c", "kill -9 $$"}),
                      missing = exec_target({"vsnat-no-such-command"}),
                      substituted =
                          exec_target({"sh", "-c",
                                       "test \"$1\" = 198.18.200.1 && test \"$2\" = 8080 && "
                                       "test \"$3\" = '[198.18.200.1]:8080/8080'",
                                       "x", "%address", "%port", "[%address]:%port/%port"}),
                      in_lab = exec_target({"sh", "-c",
                                            "test \"$(readlink /proc/self/ns/net)\" = '" +
                                                netns_link(lab.ns().fd()) + "'"}),
                      in_own = exec_target({"sh", "-c",
                                            "test \"$(readlink /proc/self/ns/net)\" = '" +
                                                netns_link(own->fd()) + "'"}),
                      clean =
                          exec_target({"sh", "-c",
                                       "test ! -e /proc/$$/fd/100 && test ! -e /proc/$$/fd/3 && "
                                       "test \"$(readlink /proc/$$/fd/0)\" = /dev/null && "
                                       "test \"$(readlink /proc/$$/fd/2)\" = /dev/null"});
    HealthChecker hc(lab.ns().fd());
    hc.set_targets({yes, no, killed, missing, substituted, in_lab, in_own, clean});
    start(hc);
    REQUIRE(every_target_probed(hc, 2));
    const auto reason = [&](const CheckTarget& t) { return status_of(hc, t).reason; };
    CHECK(reason(yes) == "ok");
    CHECK(status_of(hc, yes).up);
    CHECK(reason(no) == "exit 1");
    CHECK_FALSE(status_of(hc, no).up);
    CHECK(reason(killed) == "signal 9");
    CHECK(reason(missing) == "exec: vsnat-no-such-command: not found");
    CHECK(reason(substituted) == "ok");
    CHECK(reason(in_lab) == "ok");
    CHECK(reason(in_own) == "exit 1");  // the lab's namespace is not the test's
    CHECK(reason(clean) == "ok");
    hc.stop();
    CHECK(zombie_children() == 0);
    close(leak);

    // Without a namespace, commands run in the caller's.
    HealthChecker here;
    here.set_targets({in_own});
    start(here);
    REQUIRE(eventually([&] { return status_of(here, in_own).probes >= 1; }));
    CHECK(status_of(here, in_own).reason == "ok");
}

TEST_CASE("exec: a command past its timeout is killed with its process group, and reaped",
          "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("exectime");
    // The shell's background child is in its group: it goes too. Markers find them in /proc.
    const std::string first = "sleep " + sleep_seconds(1) + " ",
                      second = "sleep " + sleep_seconds(2) + " ";
    const CheckTarget slow = exec_target({"sh", "-c", first + "& " + second + "; echo never"}, 300);
    HealthChecker hc(lab.ns().fd());
    hc.set_targets({slow});
    start(hc);
    REQUIRE(eventually([&] { return processes_with(first) == 1; }));
    REQUIRE(eventually([&] { return status_of(hc, slow).probes >= 1; }));
    CHECK(status_of(hc, slow).reason == "timeout");
    CHECK_FALSE(status_of(hc, slow).up);
    hc.stop();
    // SIGKILL to the group was sent at the timeout; the orphans are init's to reap.
    CHECK(eventually([&] { return processes_with(first) + processes_with(second) == 0; }));
    CHECK(zombie_children() == 0);
}

TEST_CASE("rise and fall against a server: the exact probe that changes the state", "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("risefall");
    const std::string ok = "HTTP/1.0 200 OK\r\n\r\n", no = "HTTP/1.0 503 No\r\n\r\n";
    // fall 3, rise 2: the 7th answer (third 503 in a row) takes it down, the 11th (second 200
    // in a row) brings it up.
    TcpServer scripted(lab, 8080, {ok, no, no, ok, no, no, no, ok, no, ok, ok, ok});
    const CheckTarget t = target(8080, check(CheckType::http, 3, 2));
    HealthChecker hc(lab.ns().fd());
    Transitions seen{hc};
    hc.set_targets({t});
    start(hc);
    REQUIRE(eventually([&] { return status_of(hc, t).probes >= 14; }));
    const auto changes = seen.of(t);
    REQUIRE(changes.size() == 2);
    CHECK_FALSE(changes[0].up);
    CHECK(changes[0].reason == "http 503");
    CHECK(changes[0].probes == 7);
    CHECK(changes[0].in_row == 3);
    CHECK(changes[1].up);
    CHECK(changes[1].reason == "ok");
    CHECK(changes[1].probes == 11);
    CHECK(changes[1].in_row == 2);
    CHECK(changes[0].at <= changes[1].at);
    const HealthStatus s = status_of(hc, t);
    CHECK(s.up);
    CHECK(s.failures == 6);
    CHECK(s.since == changes[1].at);
}

TEST_CASE("a server that stops goes down after fall failures, and up after rise successes",
          "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("stopstart");
    const CheckTarget t = target(8080, check(CheckType::tcp, 2, 3));
    HealthChecker hc(lab.ns().fd());
    Transitions seen{hc};
    hc.set_targets({t});
    auto server = std::make_unique<TcpServer>(lab, 8080);
    start(hc);
    REQUIRE(eventually([&] { return status_of(hc, t).probes >= 2; }));
    server.reset();
    REQUIRE(eventually([&] { return !status_of(hc, t).up; }));
    server = std::make_unique<TcpServer>(lab, 8080);
    REQUIRE(eventually([&] { return status_of(hc, t).up; }));
    const auto changes = seen.of(t);
    REQUIRE(changes.size() == 2);
    CHECK_FALSE(changes[0].up);
    CHECK(changes[0].reason == "refused");
    CHECK(changes[0].in_row == 2);
    CHECK(changes[1].up);
    CHECK(changes[1].reason == "ok");
    CHECK(changes[1].in_row == 3);
    CHECK(changes[1].probes - changes[0].probes >= 3);
}

TEST_CASE("start: down waits for rise successes; a dead one stays down quietly", "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("startdown");
    TcpServer server(lab, 8080);
    HealthCheck c = check(CheckType::tcp, 1, 3);
    c.start_down = true;
    const CheckTarget alive = target(8080, c), dead = target(8081, c);
    HealthChecker hc(lab.ns().fd());
    Transitions seen{hc};
    hc.set_targets({alive, dead});
    const HealthStatus before = status_of(hc, alive);
    CHECK_FALSE(before.up);
    CHECK(before.probes == 0);
    CHECK(before.reason.empty());
    start(hc);
    REQUIRE(eventually([&] { return status_of(hc, alive).up && status_of(hc, dead).probes >= 3; }));
    const auto changes = seen.of(alive);
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].up);
    CHECK(changes[0].probes == 3);
    CHECK(changes[0].in_row == 3);
    CHECK(seen.of(dead).empty());
    CHECK_FALSE(status_of(hc, dead).up);
}

TEST_CASE("mark_down takes a target down at once; rise probes bring it back", "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("mark");
    TcpServer server(lab, 8080);
    const CheckTarget t = target(8080, check(CheckType::tcp, 1, 2));
    HealthChecker hc(lab.ns().fd());
    Transitions seen{hc};
    hc.set_targets({t});
    start(hc);
    REQUIRE(eventually([&] { return status_of(hc, t).probes >= 1; }));
    pollfd ready{hc.transitions_fd(), POLLIN, 0};
    CHECK(poll(&ready, 1, 0) == 0);

    REQUIRE(hc.mark_down(t, "passive: 3 SYNs unanswered"));
    const HealthStatus now = status_of(hc, t);
    CHECK_FALSE(now.up);
    CHECK(now.reason == "passive: 3 SYNs unanswered");
    CHECK(poll(&ready, 1, 0) == 1);  // the transition waits
    CHECK_FALSE(hc.mark_down(target(9999, check(CheckType::tcp)), "no such target"));

    REQUIRE(eventually([&] { return status_of(hc, t).up; }));
    const auto changes = seen.of(t);
    REQUIRE(changes.size() == 2);
    CHECK_FALSE(changes[0].up);
    CHECK(changes[0].reason == "passive: 3 SYNs unanswered");
    CHECK(changes[0].in_row == 0);
    CHECK(changes[1].up);
    CHECK(changes[1].in_row == 2);
    CHECK(changes[1].probes == changes[0].probes + 2);
    CHECK(poll(&ready, 1, 0) == 0);  // all taken
}

TEST_CASE("set_targets keeps what stays, forgets what goes, kills what was running", "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("targets");
    TcpServer server(lab, 8080);
    const CheckTarget kept = target(8080, check(CheckType::tcp));
    const CheckTarget gone = target(8081, check(CheckType::tcp));
    const std::string marker = "sleep " + sleep_seconds(3) + " ";
    const CheckTarget running = exec_target({"sleep", sleep_seconds(3)}, 5000);
    HealthChecker hc(lab.ns().fd());
    Transitions seen{hc};
    hc.set_targets({kept, gone, running, kept});
    CHECK(hc.statuses().size() == 3);
    start(hc);
    REQUIRE(eventually([&] {
        return status_of(hc, kept).probes >= 3 && !status_of(hc, gone).up &&
               processes_with(marker) == 1;
    }));
    const uint64_t kept_probes = status_of(hc, kept).probes;

    CheckTarget changed = kept;  // the same server, another interval: another target
    changed.check.interval_ms = 2 * kIntervalMs;
    hc.set_targets({changed, kept});
    CHECK_FALSE(hc.status(gone));
    CHECK_FALSE(hc.status(running));
    CHECK(status_of(hc, kept).probes >= kept_probes);
    CHECK(status_of(hc, changed).up);
    const auto all = hc.statuses();
    REQUIRE(all.size() == 2);
    CHECK(all[0].first < all[1].first);
    CHECK(eventually([&] { return processes_with(marker) == 0; }));
    CHECK(eventually([&] { return zombie_children() == 0; }));
    REQUIRE(eventually([&] {
        return status_of(hc, changed).probes >= 2 && status_of(hc, kept).probes >= kept_probes + 2;
    }));
    // The transition of the target that went stays to be taken.
    const auto changes = seen.of(gone);
    REQUIRE(changes.size() == 1);
    CHECK_FALSE(changes[0].up);

    // Added again, a forgotten target starts afresh (stopped first: it would be probed at once).
    hc.stop();
    hc.set_targets({kept, gone});
    CHECK(status_of(hc, gone).up);
    CHECK(status_of(hc, gone).probes == 0);
}

TEST_CASE("stop kills and reaps the children in flight", "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("stop");
    auto hc = std::make_unique<HealthChecker>(lab.ns().fd());
    const std::string marker = "sleep " + sleep_seconds(4) + " ";
    hc->set_targets({exec_target({"sleep", sleep_seconds(4)}, 5000)});
    start(*hc);
    REQUIRE(eventually([&] { return processes_with(marker) == 1; }));
    CHECK(hc->cpu_time() > 0ns);
    hc.reset();
    CHECK(processes_with(marker) == 0);  // reaped before the destructor returned
    CHECK(zombie_children() == 0);
}

TEST_CASE("a child outlives no daemon that dies without stopping the checker", "[health]") {
    if (!can_run()) {
        return;
    }
    // A process that starts a checker (in its own namespace: the command only sleeps), waits
    // for the child, and exits without destructors, as after kill -9.
    const std::string seconds = sleep_seconds(5), marker = "sleep " + seconds + " ";
    const pid_t daemon = fork();
    REQUIRE(daemon >= 0);
    if (daemon == 0) {
        HealthChecker hc;
        hc.set_targets({exec_target({"sleep", seconds}, 5000)});
        std::string error;
        const bool running =
            hc.start(error) && eventually([&] { return processes_with(marker) == 1; });
        _exit(running ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(daemon, &status, 0) == daemon);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    CHECK(eventually([&] { return processes_with(marker) == 0; }));  // PR_SET_PDEATHSIG
}

TEST_CASE("the first probes of many targets are spread over one interval", "[health]") {
    if (!can_run()) {
        return;
    }
    Lab lab("spread");
    TcpServer server(lab, 8080);
    HealthCheck c = check(CheckType::tcp);
    c.interval_ms = 3000;
    std::vector<CheckTarget> targets;
    for (Ipv4 host = 1; host <= 20; ++host) {
        targets.push_back(CheckTarget{IpAddress::of(kServer - 1 + host), 8080, c});  // .1-20
    }
    HealthChecker hc(lab.ns().fd());
    hc.set_targets(targets);
    start(hc);
    const auto probed = [&] {
        const auto all = hc.statuses();
        return std::count_if(all.begin(), all.end(),
                             [](const auto& s) { return s.second.probes >= 1; });
    };
    std::this_thread::sleep_for(500ms);
    CHECK(probed() < 20);  // about 4; all 20 at once if they were not spread
    CHECK(eventually([&] { return probed() == 20; }));
}

TEST_CASE("start fails on a descriptor that is no network namespace", "[health]") {
    if (!can_run()) {
        return;
    }
    const int not_ns = open("/dev/null", O_RDONLY | O_CLOEXEC);
    HealthChecker hc(not_ns);
    std::string error;
    CHECK_FALSE(hc.start(error));
    CHECK(error.starts_with("cannot enter the health checks' network namespace: "));
    CHECK(hc.cpu_time() == 0ns);
    close(not_ns);
}
