// Prometheus exposition of vsnatd's counters (/metrics) and a liveness probe (/healthz), served
// over HTTP by a thread of their own (cp/http_listener.hpp: deadlines, a connection cap).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cp/http_listener.hpp"

namespace vsnat::cp {

class Daemon;

/// The text format (version 0.0.4) of every counter: per real server, per service, per worker
/// and per drop reason. Any thread.
std::string render_metrics(const Daemon& daemon);

/// A label value as the text format writes it between its double quotes: backslash, double
/// quote and line feed escaped (`\\`, `\"`, `\n`), every other byte as it is. Any thread.
std::string escape_label_value(std::string_view value);

class MetricsServer {
  public:
    MetricsServer() = default;
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    /// Binds `address:port` (no other socket may share it) and serves from a new thread.
    /// Control thread. False, with `error` naming the address and the system's reason, when it
    /// cannot be bound; start() may then be called again.
    bool start(const Daemon& daemon, const std::string& address, uint16_t port, std::string& error);
    /// Whether start() succeeded. Control thread.
    bool serving() const { return listener_ != nullptr; }
    /// Stops serving, closes its connections and joins the thread. Control thread.
    void stop() { listener_.reset(); }

  private:
    std::unique_ptr<HttpListener> listener_;
};

}  // namespace vsnat::cp
