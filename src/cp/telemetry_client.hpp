// A client of a running vsnatd's DPDK telemetry socket, for vsnatctl. No EAL needed.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vsnat::cp {

/// One connection to the socket, made at the first query and kept for the next ones: DPDK
/// serves a bounded number of clients at once, and a table read page by page would otherwise
/// connect once a page.
class TelemetryClient {
  public:
    /// The socket at `path` (telemetry_socket()).
    explicit TelemetryClient(std::string path);
    ~TelemetryClient();
    TelemetryClient(const TelemetryClient&) = delete;
    TelemetryClient& operator=(const TelemetryClient&) = delete;

    /// Sends one command; returns the reply's value, or nullopt with `error()` set: no daemon,
    /// DPDK's client limit reached (the daemon closes the connection at once; tried for 1 s),
    /// unknown command, malformed reply.
    std::optional<nlohmann::json> query(const std::string& command);
    const std::string& error() const { return error_; }

  private:
    bool connect();
    void disconnect();

    std::string path_;
    std::string error_;
    int fd_ = -1;
};

/// The telemetry socket of the DPDK process started with --file-prefix `prefix` (as root).
std::string telemetry_socket(const std::string& prefix);

/// DPDK 22.11's telemetry serves at most this many clients at once (MAX_CONNECTIONS in
/// lib/telemetry/telemetry.c, fixed at build time); one more is accepted and closed at once.
constexpr size_t kTelemetryMaxClients = 10;

/// How many clients are connected to the telemetry socket at `path`, from the text of
/// /proc/net/unix: the server's end of each accepted connection carries the path, in state 03
/// (connected); the listening socket is in state 01. Any thread.
size_t telemetry_clients(std::string_view proc_net_unix, const std::string& path);

/// A column-oriented vsnat table ({"a": [..], "b": [..]}) as rows ([{"a":.., "b":..}, ..]).
nlohmann::json columns_to_rows(const nlohmann::json& columns);

/// For each row of /vsnat/services, the indexes in `servers` (rows of /vsnat/real_servers) of
/// its real servers, in their order: matched by the service's "id" and the server's
/// "service_id" (an older vsnatd sends no ids: by name). Linear in the rows. Any thread.
std::vector<std::vector<size_t>> servers_by_service(const nlohmann::json& services,
                                                    const nlohmann::json& servers);

}  // namespace vsnat::cp
