#include "cp/telemetry_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>
#include <unordered_map>

namespace vsnat::cp {
namespace {

constexpr size_t kMaxReply = 1 << 20;
// A connection closed at once may be DPDK's client limit, reached for a moment by other calls:
// try again for a second before saying so.
constexpr int kConnectTries = 10;
constexpr auto kConnectPause = std::chrono::milliseconds(100);

// One message: 0 bytes when the other end closed, -1 on an error.
ssize_t receive(int fd, std::string& out) {
    std::vector<char> buf(kMaxReply);
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n > 0) {
        out.assign(buf.data(), static_cast<size_t>(n));
    }
    return n;
}

}  // namespace

std::string telemetry_socket(const std::string& prefix) {
    return "/var/run/dpdk/" + prefix + "/dpdk_telemetry.v2";
}

TelemetryClient::TelemetryClient(std::string path) : path_(std::move(path)) {}

TelemetryClient::~TelemetryClient() {
    disconnect();
}

void TelemetryClient::disconnect() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

bool TelemetryClient::connect() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    for (int attempt = 0; attempt < kConnectTries; ++attempt) {
        if (attempt > 0) {
            std::this_thread::sleep_for(kConnectPause);
        }
        fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            error_ = "no vsnatd answers at " + path_ + " (" + std::strerror(errno) +
                     "): is it running, and is --prefix its EAL --file-prefix?";
            disconnect();
            return false;
        }
        std::string greeting;  // {"version": ..., "pid": ..., "max_output_len": ...}
        const ssize_t n = receive(fd_, greeting);
        if (n > 0) {
            return true;
        }
        disconnect();
        if (n < 0) {
            error_ = "telemetry exchange with " + path_ + " failed: " + std::strerror(errno);
            return false;
        }
    }
    // Accepted and closed at once, every time: DPDK's client limit.
    std::ifstream in("/proc/net/unix");
    const std::string table((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t clients = telemetry_clients(table, path_);
    error_ = "vsnatd's telemetry socket " + path_ +
             " closes each new connection at once: DPDK serves at most " +
             std::to_string(kTelemetryMaxClients) + " telemetry clients at a time, and " +
             std::to_string(clients) +
             " are connected (a dpdk-telemetry.py session or a script that keeps the socket open "
             "holds one until it closes). Close some (ss -xp | grep " +
             path_ + " shows which processes hold them) and retry; the limit is fixed in DPDK";
    return false;
}

std::optional<nlohmann::json> TelemetryClient::query(const std::string& command) {
    if (fd_ < 0 && !connect()) {
        return std::nullopt;
    }
    std::string text;
    if (::send(fd_, command.data(), command.size(), MSG_NOSIGNAL) < 0 || receive(fd_, text) <= 0) {
        error_ = "telemetry exchange with " + path_ + " failed while asking '" + command +
                 "': the connection was closed (vsnatd stopped?)";
        disconnect();
        return std::nullopt;
    }
    const nlohmann::json reply = nlohmann::json::parse(text, nullptr, false);
    const std::string key = command.substr(0, command.find(','));
    if (reply.is_discarded() || !reply.contains(key) || reply[key].is_null()) {
        error_ = "vsnatd did not answer '" + command + "' (an older vsnatd, or not vsnatd?)";
        return std::nullopt;
    }
    return reply[key];
}

size_t telemetry_clients(std::string_view proc_net_unix, const std::string& path) {
    // Num: RefCount Protocol Flags Type St Inode Path
    size_t clients = 0;
    while (!proc_net_unix.empty()) {
        const size_t end = std::min(proc_net_unix.find('\n'), proc_net_unix.size());
        const std::string_view line = proc_net_unix.substr(0, end);
        proc_net_unix.remove_prefix(std::min(end + 1, proc_net_unix.size()));
        if (line.size() <= path.size() || line.substr(line.size() - path.size()) != path ||
            line[line.size() - path.size() - 1] != ' ') {
            continue;
        }
        // The sixth field, St.
        size_t field = 0;
        size_t at = 0;
        std::string_view state;
        while (at < line.size() && field < 6) {
            const size_t start = line.find_first_not_of(' ', at);
            if (start == std::string_view::npos) {
                break;
            }
            const size_t stop = std::min(line.find(' ', start), line.size());
            state = line.substr(start, stop - start);
            at = stop;
            ++field;
        }
        clients += field == 6 && state == "03" ? 1 : 0;
    }
    return clients;
}

nlohmann::json columns_to_rows(const nlohmann::json& columns) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& [name, column] : columns.items()) {
        if (!column.is_array()) {
            continue;
        }
        for (size_t i = 0; i < column.size(); ++i) {
            if (rows.size() <= i) {
                rows.push_back(nlohmann::json::object());
            }
            rows[i][name] = column[i];
        }
    }
    return rows;
}

std::vector<std::vector<size_t>> servers_by_service(const nlohmann::json& services,
                                                    const nlohmann::json& servers) {
    const bool by_id = !services.empty() && services.front().contains("id");
    auto service_key = [by_id](const nlohmann::json& row) {
        return by_id ? std::to_string(row.value("id", uint64_t{0})) : row.value("name", "");
    };
    auto server_key = [by_id](const nlohmann::json& row) {
        return by_id ? std::to_string(row.value("service_id", uint64_t{0}))
                     : row.value("service", "");
    };
    std::unordered_map<std::string, size_t> index;  // a service's key -> its row
    for (size_t i = 0; i < services.size(); ++i) {
        index.emplace(service_key(services[i]), i);
    }
    std::vector<std::vector<size_t>> out(services.size());
    for (size_t j = 0; j < servers.size(); ++j) {
        const auto it = index.find(server_key(servers[j]));
        if (it != index.end()) {
            out[it->second].push_back(j);
        }
    }
    return out;
}

}  // namespace vsnat::cp
