// vsnatctl's side of telemetry: one connection for many queries, an accurate word when DPDK's
// client limit turns it away, the clients counted from /proc/net/unix, and real servers matched
// to their services by id, in linear time.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cp/telemetry_client.hpp"

using namespace vsnat::cp;
using nlohmann::json;

namespace {

// A telemetry socket at a path of its own, served by a thread: it greets each client as DPDK
// does and answers every command with {"CMD": {"n": N}} (CMD without its parameters, N: the
// commands seen on that connection),
// or, with `close_at_once`, closes each connection at once as DPDK does past its client limit.
class FakeTelemetry {
  public:
    explicit FakeTelemetry(bool close_at_once)
        : path_((std::filesystem::temp_directory_path() /
                 ("vsnat-test-telemetry-" + std::to_string(getpid())))
                    .string()),
          close_at_once_(close_at_once) {
        std::filesystem::remove(path_);
        listener_ = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
        REQUIRE(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(listen(listener_, 16) == 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeTelemetry() {
        shutdown(listener_, SHUT_RDWR);
        close(listener_);
        thread_.join();
        std::filesystem::remove(path_);
    }
    const std::string& path() const { return path_; }
    int accepted() const { return accepted_; }

  private:
    void serve() {
        for (;;) {
            const int fd = accept(listener_, nullptr, nullptr);
            if (fd < 0) {
                return;
            }
            ++accepted_;
            if (close_at_once_) {
                close(fd);
                continue;
            }
            const std::string greeting = R"({"version":"fake","pid":1,"max_output_len":16384})";
            send(fd, greeting.data(), greeting.size(), MSG_NOSIGNAL);
            char buf[1024];
            int n = 0;
            for (ssize_t got; (got = recv(fd, buf, sizeof buf, 0)) > 0;) {
                std::string cmd(buf, static_cast<size_t>(got));
                cmd.resize(std::min(cmd.find(','), cmd.size()));  // DPDK answers by name
                const std::string reply = json{{cmd, {{"n", ++n}}}}.dump();
                send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
            }
            close(fd);
        }
    }

    std::string path_;
    bool close_at_once_;
    int listener_ = -1;
    std::atomic<int> accepted_{0};
    std::thread thread_;
};

}  // namespace

TEST_CASE("telemetry client: one connection for every query", "[telemetry]") {
    const FakeTelemetry server(false);
    TelemetryClient client(server.path());
    for (int i = 1; i <= 50; ++i) {
        const auto reply = client.query("/vsnat/services,0,32");
        REQUIRE(reply.has_value());
        CHECK(reply->value("n", 0) == i);
    }
    CHECK(server.accepted() == 1);
}

TEST_CASE("telemetry client: turned away at once, it says DPDK's client limit", "[telemetry]") {
    const FakeTelemetry server(true);
    TelemetryClient client(server.path());
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(client.query("/vsnat/stats").has_value());
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(server.accepted() == 10);  // it tried again for a second: the limit may be passing
    CHECK(took >= std::chrono::milliseconds(900));
    CHECK(took < std::chrono::seconds(5));
    CHECK(client.error() ==
          "vsnatd's telemetry socket " + server.path() +
              " closes each new connection at once: DPDK serves at most 10 telemetry clients at a "
              "time, and 0 are connected (a dpdk-telemetry.py session or a script that keeps the "
              "socket open holds one until it closes). Close some (ss -xp | grep " +
              server.path() +
              " shows which processes hold them) and retry; the limit is fixed "
              "in DPDK");
}

TEST_CASE("telemetry client: no socket, no daemon", "[telemetry]") {
    TelemetryClient client("/nonexistent/dpdk_telemetry.v2");
    CHECK_FALSE(client.query("/vsnat/stats").has_value());
    CHECK(client.error() ==
          "no vsnatd answers at /nonexistent/dpdk_telemetry.v2 (No such file or directory): is "
          "it running, and is --prefix its EAL --file-prefix?");
}

TEST_CASE("telemetry clients counted from /proc/net/unix", "[telemetry]") {
    const std::string path = "/var/run/dpdk/lab/dpdk_telemetry.v2";
    std::string table = "Num       RefCount Protocol Flags    Type St Inode Path\n";
    for (int i = 0; i < 10; ++i) {  // accepted: connected (03)
        table += "000000003d7d163" + std::to_string(i) + ": 00000003 00000000 00000000 0005 03 " +
                 std::to_string(10445200 + i) + " " + path + "\n";
    }
    table += "000000003d3b1d50: 00000002 00000000 00010000 0005 01 10445142 " + path + "\n";
    table +=
        "000000003d3b1d51: 00000003 00000000 00000000 0005 03 10445143 /var/run/dpdk/other/"
        "dpdk_telemetry.v2\n";
    table += "000000003d3b1d52: 00000003 00000000 00000000 0005 03 10445144 /x" + path + "\n";
    table += "000000003d3b1d53: 00000003 00000000 00000000 0005 03 10445145\n";
    CHECK(telemetry_clients(table, path) == 10);
    CHECK(telemetry_clients("", path) == 0);
}

TEST_CASE("real servers go to their service by id, names alike or not, in linear time",
          "[telemetry]") {
    // Two names alike in their first 127 bytes: telemetry would carry them cut, the same.
    const std::string cut(127, 'n');
    const json services = json::array({{{"id", 7}, {"name", cut}}, {{"id", 3}, {"name", cut}}});
    const json servers = json::array({{{"service_id", 3}, {"service", cut}},
                                      {{"service_id", 7}, {"service", cut}},
                                      {{"service_id", 3}, {"service", cut}},
                                      {{"service_id", 9}, {"service", "gone"}}});
    CHECK(servers_by_service(services, servers) == std::vector<std::vector<size_t>>{{1}, {0, 2}});

    // An older vsnatd sends no ids: by name.
    const json old_services = json::array({{{"name", "a"}}, {{"name", "b"}}});
    const json old_servers = json::array({{{"service", "b"}}, {{"service", "a"}}});
    CHECK(servers_by_service(old_services, old_servers) ==
          std::vector<std::vector<size_t>>{{1}, {0}});

    // 65,535 services of one server each: matched at once (a nested loop took minutes).
    json many_services = json::array();
    json many_servers = json::array();
    for (int i = 0; i < 65535; ++i) {
        many_services.push_back({{"id", i}, {"name", "s" + std::to_string(i)}});
        many_servers.push_back({{"service_id", 65534 - i}});
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto grouped = servers_by_service(many_services, many_servers);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
    REQUIRE(grouped.size() == 65535);
    CHECK(grouped[0] == std::vector<size_t>{65534});
    CHECK(grouped[65534] == std::vector<size_t>{0});
}

TEST_CASE("columns become rows", "[telemetry]") {
    const json columns = {{"name", {"a", "b"}}, {"port", {80, 81}}, {"total", 5}};
    CHECK(columns_to_rows(columns) ==
          json::array({{{"name", "a"}, {"port", 80}}, {{"name", "b"}, {"port", 81}}}));
}
