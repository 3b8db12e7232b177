// A client of a running vsnatd's DPDK telemetry socket, for vsnatctl. No EAL needed.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace vsnat::cp {

class TelemetryClient {
  public:
    /// The socket of the DPDK process started with --file-prefix `prefix`.
    explicit TelemetryClient(const std::string& prefix);

    /// Sends one command; returns the reply's value, or nullopt with `error()` set (no daemon,
    /// unknown command, malformed reply).
    std::optional<nlohmann::json> query(const std::string& command);
    const std::string& error() const { return error_; }

  private:
    std::string path_;
    std::string error_;
};

/// A column-oriented vsnat table ({"a": [..], "b": [..]}) as rows ([{"a":.., "b":..}, ..]).
nlohmann::json columns_to_rows(const nlohmann::json& columns);

}  // namespace vsnat::cp
