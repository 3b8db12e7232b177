// The /metrics listener against clients that do not play along, on loopback: each deadline
// closes what it should and only that, the cap closes the connection that waited longest, a
// too-long head is refused, and the port is not shared. Limits are shortened to tenths of a
// second; bounds are loose, as the machine may be busy.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "cp/http_listener.hpp"

using namespace vsnat::cp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kGet = "GET /x HTTP/1.1\r\nHost: t\r\n\r\n";

// A blocking client socket connected to 127.0.0.1:port; reads give up after `timeout`.
class Client {
  public:
    explicit Client(uint16_t port, std::chrono::milliseconds timeout = 3000ms,
                    int receive_buffer = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        if (receive_buffer > 0) {
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
        }
        set_timeout(timeout);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
        opened_ = Clock::now();
    }
    ~Client() { ::close(fd_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void set_timeout(std::chrono::milliseconds t) {
        timeval tv{static_cast<time_t>(t.count() / 1000),
                   static_cast<suseconds_t>(t.count() % 1000 * 1000)};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    bool send(const std::string& s) {
        return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
    }
    // Everything until the server closes (true), or until a read times out (false).
    bool read_to_end(std::string& out) {
        char buf[65536];
        for (;;) {
            const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
            if (n > 0) {
                out.append(buf, static_cast<size_t>(n));
            } else if (n == 0 || errno == ECONNRESET) {
                return true;
            } else {
                return false;
            }
        }
    }
    // Whether the server closed the connection (EOF), waiting at most the read timeout.
    bool closed_by_server() {
        std::string ignored;
        return read_to_end(ignored);
    }
    // Whether the connection is still open and silent right now.
    bool open_and_silent() {
        char c;
        const ssize_t n = ::recv(fd_, &c, 1, MSG_DONTWAIT);
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    double seconds_open() const {
        return std::chrono::duration<double>(Clock::now() - opened_).count();
    }

  private:
    int fd_ = -1;
    Clock::time_point opened_;
};

size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

// A listener on a free loopback port whose /x answers "hello", and /big `big` bytes.
struct Served {
    explicit Served(HttpLimits limits, size_t big = 0) : listener(limits) {
        listener.routes().Get("/x", [](const httplib::Request&, httplib::Response& res) {
            res.set_content("hello", "text/plain");
        });
        listener.routes().Get("/big", [big](const httplib::Request&, httplib::Response& res) {
            res.set_content(std::string(big, 'b'), "text/plain");
        });
        std::string error;
        REQUIRE(listener.start("127.0.0.1", 0, error));
        REQUIRE(error.empty());
        REQUIRE(listener.port() != 0);
    }
    HttpListener listener;
};

}  // namespace

TEST_CASE("requests are answered in order on one connection, up to max_requests", "[http]") {
    HttpLimits limits;
    limits.max_requests = 3;
    Served s(limits);
    Client c(s.listener.port());
    // Four requests in one write: three answered, the third saying it is the last.
    REQUIRE(c.send(std::string(kGet) + kGet + kGet + kGet));
    std::string out;
    REQUIRE(c.read_to_end(out));
    CHECK(count(out, "HTTP/1.1 200 OK") == 3);
    CHECK(count(out, "hello") == 3);
    CHECK(count(out, "Connection: close") == 1);
    CHECK(out.rfind("Connection: close") > out.rfind("HTTP/1.1 200 OK"));
}

TEST_CASE("a request head must be whole within request_timeout, however fast it trickles",
          "[http]") {
    HttpLimits limits;
    limits.request_timeout = 600ms;
    Served s(limits);
    Client idle(s.listener.port());
    Client slow(s.listener.port());
    REQUIRE(slow.send("GET /x HTTP/1.1\r\n"));
    // Meanwhile another client is answered at once.
    Client quick(s.listener.port());
    REQUIRE(quick.send("GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    std::string answer;
    REQUIRE(quick.read_to_end(answer));
    CHECK(answer.find("hello") != std::string::npos);

    // One header byte every 50 ms, each far inside the deadline, until the server closes (a
    // send then fails); a per-read timeout would let it trickle on to the end of the loop.
    const std::string header = "X-Trickle: " + std::string(100, 'a');
    for (size_t i = 0; slow.seconds_open() < 2.5 && slow.send(header.substr(i % 100, 1)); ++i) {
        std::this_thread::sleep_for(50ms);
    }
    CHECK(slow.seconds_open() >= 0.55);
    CHECK(slow.seconds_open() < 1.5);
    REQUIRE(idle.closed_by_server());
    CHECK(idle.seconds_open() >= 0.55);
    CHECK(idle.seconds_open() < 1.5);
}

TEST_CASE("at max_connections a new connection closes the one that waited longest", "[http]") {
    HttpLimits limits;
    limits.max_connections = 4;
    Served s(limits);
    Client first(s.listener.port(), 2000ms);
    std::this_thread::sleep_for(50ms);
    Client second(s.listener.port());
    Client third(s.listener.port());
    Client fourth(s.listener.port());
    std::this_thread::sleep_for(50ms);
    CHECK(first.open_and_silent());

    Client fifth(s.listener.port());
    REQUIRE(fifth.send(kGet));
    std::string answer;
    fifth.set_timeout(500ms);
    fifth.read_to_end(answer);
    CHECK(answer.find("hello") != std::string::npos);
    CHECK(first.closed_by_server());
    // The fifth took the first's place; the others were not touched.
    CHECK(second.open_and_silent());
    CHECK(third.open_and_silent());
    CHECK(fourth.open_and_silent());
}

TEST_CASE("a request head longer than max_request_bytes closes the connection", "[http]") {
    HttpLimits limits;
    limits.max_request_bytes = 1024;
    Served s(limits);
    Client c(s.listener.port());
    REQUIRE(c.send("GET /x HTTP/1.1\r\nX: " + std::string(2000, 'a')));
    std::string out;
    REQUIRE(c.read_to_end(out));
    CHECK(out.empty());
    // A head of just under the limit is fine.
    Client d(s.listener.port(), 500ms);
    REQUIRE(d.send("GET /x HTTP/1.1\r\nX: " + std::string(900, 'a') + "\r\n\r\n"));
    out.clear();
    d.read_to_end(out);
    CHECK(out.find("hello") != std::string::npos);
}

TEST_CASE("a response the client does not take is dropped at response_timeout", "[http]") {
    constexpr size_t kBig = 16u << 20;  // far more than the socket buffers hold (4 MiB at most)
    HttpLimits limits;
    limits.response_timeout = 300ms;
    Served s(limits, kBig);
    Client c(s.listener.port(), 3000ms, 4096);
    REQUIRE(c.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
    std::this_thread::sleep_for(1000ms);  // not reading
    std::string out;
    REQUIRE(c.read_to_end(out));
    CHECK(out.find("HTTP/1.1 200 OK") == 0);
    CHECK(out.size() < kBig);

    // A client that reads gets all of it (within the default deadline).
    Served t(HttpLimits{}, kBig);
    Client d(t.listener.port());
    REQUIRE(d.send("GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    out.clear();
    REQUIRE(d.read_to_end(out));
    CHECK(out.size() > kBig);
}

TEST_CASE("the port is not shared, not even with SO_REUSEPORT", "[http]") {
    Served s(HttpLimits{});
    HttpListener second;
    std::string error;
    CHECK_FALSE(second.start("127.0.0.1", s.listener.port(), error));
    CHECK(error == "cannot listen on 127.0.0.1:" + std::to_string(s.listener.port()) +
                       ": Address already in use");

    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int yes = 1;
    REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes)) == 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(s.listener.port());
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0);
    CHECK(errno == EADDRINUSE);
    ::close(fd);
}

TEST_CASE("stop() closes the open connections and the port", "[http]") {
    auto s = std::make_unique<Served>(HttpLimits{});
    const uint16_t port = s->listener.port();
    Client c(port, 2000ms);
    std::this_thread::sleep_for(50ms);
    s->listener.stop();
    CHECK(c.closed_by_server());
    s.reset();
    HttpListener again;
    std::string error;
    CHECK(again.start("127.0.0.1", port, error));
}
