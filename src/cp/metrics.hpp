// Prometheus exposition of vsnatd's counters (/metrics) and a liveness probe (/healthz), served
// over HTTP by a thread of their own.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <thread>

namespace httplib {
class Server;
}

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
    MetricsServer();
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    /// Binds `address:port` and serves from a new thread. Main thread. Returns false (with
    /// `error`) when the address cannot be bound.
    bool start(const Daemon& daemon, const std::string& address, uint16_t port, std::string& error);
    /// Stops serving and joins the thread.
    void stop();

  private:
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
};

}  // namespace vsnat::cp
