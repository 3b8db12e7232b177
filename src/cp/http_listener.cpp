#include "cp/http_listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string_view>
#include <vector>

namespace vsnat::cp {
namespace {

using Clock = std::chrono::steady_clock;

// Out of file descriptors: wait this long before accepting again, rather than spin on a
// listening socket that stays readable.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
// At most this many accepts per pass, so the open connections are not starved by a flood.
constexpr int kAcceptsPerPass = 64;
// The poll loop wakes at least this often even with nothing due.
constexpr auto kMaxPollWait = std::chrono::milliseconds(1000);
constexpr int kListenBacklog = 128;

struct Peer {
    std::string ip;
    int port = 0;
};

Peer peer_of(const sockaddr_in& a) {
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &a.sin_addr, text, sizeof(text));
    return Peer{text, ntohs(a.sin_port)};
}

// One request as httplib reads it: its head, already received whole, and the response, kept
// for the poll loop to send without blocking.
class BufferedStream final : public httplib::Stream {
  public:
    BufferedStream(std::string_view in, std::string& out, const Peer& remote, const Peer& local)
        : in_(in), out_(out), remote_(remote), local_(local) {}

    bool is_readable() const override { return read_ < in_.size(); }
    bool is_writable() const override { return true; }
    ssize_t read(char* ptr, size_t size) override {
        const size_t n = std::min(size, in_.size() - read_);
        std::memcpy(ptr, in_.data() + read_, n);
        read_ += n;
        return static_cast<ssize_t>(n);
    }
    ssize_t write(const char* ptr, size_t size) override {
        out_.append(ptr, size);
        return static_cast<ssize_t>(size);
    }
    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        ip = remote_.ip;
        port = remote_.port;
    }
    void get_local_ip_and_port(std::string& ip, int& port) const override {
        ip = local_.ip;
        port = local_.port;
    }
    // No descriptor: httplib only compares it with FD_SETSIZE, for its own select() calls.
    int socket() const override { return 0; }

    size_t consumed() const { return read_; }

  private:
    std::string_view in_;
    size_t read_ = 0;
    std::string& out_;
    const Peer& remote_;
    const Peer& local_;
};

struct Connection {
    int fd = -1;
    Peer remote;
    std::string in;   // received, not yet parsed
    std::string out;  // the response being sent
    size_t sent = 0;
    unsigned requests = 0;
    bool close_after = false;  // once `out` is sent
    Clock::time_point since;   // start of the current step: waiting for a request, or sending

    bool sending() const { return sent < out.size(); }
};

// Parses one request from a connection's buffer and writes the response into `out`; returns
// whether the connection may carry another (httplib's process_request).
using Process = std::function<bool(httplib::Stream& stream, bool last, bool& client_closes)>;

// Every connection, moved on by a poll loop: read a whole request head, answer it, send the
// answer, wait for the next; close at a deadline or at the cap.
class Connections {
  public:
    Connections(const HttpLimits& limits, Process process, Peer local)
        : limits_(limits), process_(std::move(process)), local_(std::move(local)) {}
    ~Connections() {
        for (Connection& c : conns_) {
            ::close(c.fd);
        }
    }

    void add_poll_entries(std::vector<pollfd>& fds) const {
        for (const Connection& c : conns_) {
            fds.push_back({c.fd, static_cast<short>(c.sending() ? POLLOUT : POLLIN), 0});
        }
    }
    // `revents` in the order of add_poll_entries.
    void handle(const pollfd* revents, Clock::time_point now) {
        for (size_t i = 0; i < conns_.size(); ++i) {
            Connection& c = conns_[i];
            if (revents[i].revents == 0) {
                continue;
            }
            if (c.sending() || receive(c)) {
                progress(c, now);
            }
        }
        drop_closed();
    }
    void expire(Clock::time_point now) {
        for (Connection& c : conns_) {
            if (now >= deadline(c)) {
                close(c);
            }
        }
        drop_closed();
    }
    Clock::time_point next_deadline() const {
        Clock::time_point next = Clock::time_point::max();
        for (const Connection& c : conns_) {
            next = std::min(next, deadline(c));
        }
        return next;
    }
    void admit(int fd, Peer remote, Clock::time_point now) {
        if (conns_.size() >= limits_.max_connections) {
            close_longest_waiting();
        }
        conns_.push_back(Connection{fd, std::move(remote), {}, {}, 0, 0, false, now});
    }

  private:
    Clock::time_point deadline(const Connection& c) const {
        return c.since + (c.sending() ? limits_.response_timeout : limits_.request_timeout);
    }

    // Reads what has arrived; false when the connection ended (closed) or nothing came.
    bool receive(Connection& c) {
        char buf[4096];
        const size_t room = limits_.max_request_bytes - c.in.size();  // > 0: see head_ready
        const ssize_t n = ::recv(c.fd, buf, std::min(room, sizeof(buf)), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return false;
        }
        if (n <= 0) {  // the client closed, or the connection failed
            close(c);
            return false;
        }
        c.in.append(buf, static_cast<size_t>(n));
        return true;
    }

    // Sends what waits; then answers the next request whose head is whole in `in`, and so on,
    // for as long as the socket takes each response at once.
    void progress(Connection& c, Clock::time_point now) {
        while (c.fd >= 0) {
            if (c.sending()) {
                if (!send_pending(c)) {
                    return;  // the socket is full (the rest at POLLOUT), or closed
                }
                finish_response(c, now);
            } else if (head_ready(c)) {
                answer(c, now);
            } else {
                return;
            }
        }
    }

    // Whether `in` starts with a whole request head; closes a connection whose head cannot fit.
    bool head_ready(Connection& c) {
        const size_t end = c.in.find("\r\n\r\n");
        if (end != std::string::npos && end + 4 <= limits_.max_request_bytes) {
            return true;
        }
        if (c.in.size() >= limits_.max_request_bytes) {
            close(c);
        }
        return false;
    }

    void answer(Connection& c, Clock::time_point now) {
        const bool last = c.requests + 1 >= limits_.max_requests;
        bool client_closes = false;
        BufferedStream stream(c.in, c.out, c.remote, local_);
        const bool more = process_(stream, last, client_closes);
        c.in.erase(0, stream.consumed());
        c.requests += 1;
        c.sent = 0;
        c.close_after = !more || last || client_closes;
        c.since = now;
        if (c.out.empty()) {
            close(c);  // httplib found no request to answer
        }
    }

    // True once all of `out` is sent; false when the socket has no room (or failed: closed).
    bool send_pending(Connection& c) {
        while (c.sending()) {
            const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent,
                                     MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                return false;
            }
            if (n <= 0) {
                close(c);
                return false;
            }
            c.sent += static_cast<size_t>(n);
        }
        return true;
    }

    void finish_response(Connection& c, Clock::time_point now) {
        if (c.close_after) {
            close(c);
            return;
        }
        c.out.clear();
        c.sent = 0;
        c.since = now;  // waiting for the next request
    }

    void close_longest_waiting() {
        auto oldest = std::min_element(
            conns_.begin(), conns_.end(),
            [](const Connection& a, const Connection& b) { return a.since < b.since; });
        if (oldest != conns_.end()) {
            ::close(oldest->fd);
            conns_.erase(oldest);
        }
    }

    void close(Connection& c) {
        if (c.fd >= 0) {
            ::close(c.fd);
            c.fd = -1;
        }
    }

    void drop_closed() {
        std::erase_if(conns_, [](const Connection& c) { return c.fd < 0; });
    }

    const HttpLimits& limits_;
    Process process_;
    Peer local_;
    std::vector<Connection> conns_;
};

// A socket of the listening address, bound and listening; -1 with `error` set otherwise.
int listening_socket(const std::string& address, uint16_t port, std::string& error) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1) {
        error = "'" + address + "' is not an IPv4 address";
        return -1;
    }
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::strerror(errno);
        return -1;
    }
    // SO_REUSEADDR binds over the previous run's TIME_WAIT connections; unlike SO_REUSEPORT it
    // never lets a second socket listen on the port.
    const int yes = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes)) != 0 ||
        ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0 ||
        ::listen(fd, kListenBacklog) != 0) {
        error = std::strerror(errno);
        ::close(fd);
        return -1;
    }
    return fd;
}

uint16_t bound_port(int fd) {
    sockaddr_in sa{};
    socklen_t len = sizeof(sa);
    return ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0 ? ntohs(sa.sin_port) : 0;
}

// Takes the connections waiting on the listening socket. False when out of descriptors (the
// caller pauses accepting).
bool accept_pending(int listen_fd, Connections& conns, Clock::time_point now) {
    for (int i = 0; i < kAcceptsPerPass; ++i) {
        sockaddr_in sa{};
        socklen_t len = sizeof(sa);
        const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conns.admit(fd, peer_of(sa), now);
        } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            return false;
        } else if (errno != ECONNABORTED && errno != EINTR) {
            return true;  // EAGAIN: nothing more waiting
        }
    }
    return true;
}

int poll_wait_ms(Clock::time_point next, Clock::time_point now) {
    if (next <= now) {
        return 0;
    }
    const auto wait = std::min<Clock::duration>(next - now, kMaxPollWait);
    // Rounded up, so the loop does not wake just before a deadline and spin until it.
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
}

}  // namespace

HttpListener::HttpListener(HttpLimits limits) : limits_(limits) {}

HttpListener::~HttpListener() {
    stop();
}

bool HttpListener::start(const std::string& address, uint16_t port, std::string& error) {
    listen_fd_ = listening_socket(address, port, error);
    if (listen_fd_ < 0) {
        error = "cannot listen on " + address + ":" + std::to_string(port) + ": " + error;
        return false;
    }
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
        error = std::string("eventfd: ") + std::strerror(errno);
        ::close(listen_fd_);
        listen_fd_ = -1;
        return false;
    }
    address_ = address;
    port_ = bound_port(listen_fd_);
    thread_ = std::thread([this] { run(); });
    return true;
}

void HttpListener::stop() {
    if (thread_.joinable()) {
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof(one));
        thread_.join();
    }
    for (int* fd : {&listen_fd_, &wake_fd_}) {
        if (*fd >= 0) {
            ::close(*fd);
            *fd = -1;
        }
    }
}

void HttpListener::run() {
    Process process = [this](httplib::Stream& s, bool last, bool& client_closes) {
        return routes_.process_request(s, last, client_closes, nullptr);
    };
    Connections conns(limits_, std::move(process), Peer{address_, port_});
    Clock::time_point accept_paused_until{};
    std::vector<pollfd> fds;
    for (;;) {
        Clock::time_point now = Clock::now();
        const bool accepting = now >= accept_paused_until;
        fds.assign({{wake_fd_, POLLIN, 0}, {accepting ? listen_fd_ : -1, POLLIN, 0}});
        conns.add_poll_entries(fds);
        const int wait_ms =
            poll_wait_ms(std::min(conns.next_deadline(),
                                  accepting ? Clock::time_point::max() : accept_paused_until),
                         now);
        if (::poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) {
            return;
        }
        if (fds[0].revents != 0) {
            return;  // stop()
        }
        now = Clock::now();
        conns.handle(fds.data() + 2, now);
        conns.expire(now);
        if (fds[1].revents != 0 && !accept_pending(listen_fd_, conns, now)) {
            accept_paused_until = now + kAcceptPause;
        }
    }
}

}  // namespace vsnat::cp
