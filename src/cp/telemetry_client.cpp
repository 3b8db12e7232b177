#include "cp/telemetry_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace vsnat::cp {
namespace {

constexpr size_t kMaxReply = 1 << 20;

class Socket {
  public:
    Socket() : fd_(::socket(AF_UNIX, SOCK_SEQPACKET, 0)) {}
    ~Socket() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    int fd() const { return fd_; }

  private:
    int fd_;
};

bool receive(int fd, std::string& out) {
    std::vector<char> buf(kMaxReply);
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) {
        return false;
    }
    out.assign(buf.data(), static_cast<size_t>(n));
    return true;
}

}  // namespace

TelemetryClient::TelemetryClient(const std::string& prefix)
    : path_("/var/run/dpdk/" + prefix + "/dpdk_telemetry.v2") {}

std::optional<nlohmann::json> TelemetryClient::query(const std::string& command) {
    Socket sock;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    if (sock.fd() < 0 ||
        ::connect(sock.fd(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        error_ = "no vsnatd answers at " + path_ + " (" + std::strerror(errno) +
                 "): is it running, and is --prefix its EAL --file-prefix?";
        return std::nullopt;
    }
    std::string text;
    if (!receive(sock.fd(), text) || ::send(sock.fd(), command.data(), command.size(), 0) < 0 ||
        !receive(sock.fd(), text)) {
        error_ = "telemetry exchange with " + path_ + " failed";
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

}  // namespace vsnat::cp
