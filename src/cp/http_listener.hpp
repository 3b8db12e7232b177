// A small HTTP server for /metrics and /healthz that no client can hold: one thread polls the
// listening socket and every connection without blocking, a connection gets a deadline for each
// request and each response, and their number is capped. cpp-httplib parses the requests and
// writes the responses (its routes), but never touches a socket: its own server gives each
// connection a thread of a fixed pool for as long as the client likes, and shares its port
// (SO_REUSEPORT). README.md, "Limits of /metrics".
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace vsnat::cp {

struct HttpLimits {
    /// Connections open at once. At the cap a new connection closes the one that has waited
    /// longest in its current step (for its request, or for its response to be taken).
    size_t max_connections = 64;
    /// From the connection's opening, or the end of its previous response, to the end of a
    /// complete request head.
    std::chrono::milliseconds request_timeout{5000};
    /// From a response's first byte to its last being taken by the client.
    std::chrono::milliseconds response_timeout{10000};
    /// A request head: request line and headers.
    size_t max_request_bytes = 8192;
    /// Requests per connection (keep-alive); the last response says `Connection: close`.
    unsigned max_requests = 100;
};

class HttpListener {
  public:
    explicit HttpListener(HttpLimits limits = {});
    /// Stops serving (see stop()).
    ~HttpListener();
    HttpListener(const HttpListener&) = delete;
    HttpListener& operator=(const HttpListener&) = delete;

    /// Where handlers are registered (`routes().Get(...)`), before start(). Handlers run on the
    /// listener's thread, one request at a time.
    httplib::Server& routes() { return routes_; }

    /// Binds `address:port` (IPv4; port 0 picks a free one) with SO_REUSEADDR only, so that no
    /// other socket can share the port, listens, and serves from a new thread. Control thread,
    /// once. False, with `error` saying why (the system's reason), when the address cannot be
    /// bound; then nothing was started.
    bool start(const std::string& address, uint16_t port, std::string& error);

    /// The port bound (the one picked, for port 0); 0 before start().
    uint16_t port() const { return port_; }

    /// Stops accepting, closes every connection and joins the thread. Control thread; a no-op
    /// when not started.
    void stop();

  private:
    // httplib keeps the parser and router protected; the poll loop calls them per request.
    class Routes : public httplib::Server {
      public:
        using httplib::Server::process_request;
    };

    void run();

    HttpLimits limits_;
    Routes routes_;
    int listen_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: stop() wakes the poll loop through it
    std::string address_;
    uint16_t port_ = 0;
    std::thread thread_;
};

}  // namespace vsnat::cp
