// Config loader: the shipped files are accepted with the values they say, every rejection rule
// gives its exact `FILE:LINE:COL: message`, and nothing ever throws.
// Runs from tests/unit (meson's workdir), so paths are relative to it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cp/config.hpp"

using namespace vsnat;
using namespace vsnat::cp;

namespace {

// Addresses built by hand, so the expectations do not depend on the parser under test.
constexpr Ipv4 ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    return a << 24 | b << 16 | c << 8 | d;
}

// The same as a service's or a server's address.
constexpr IpAddress ip4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    return IpAddress::of(ip(a, b, c, d));
}

// An IPv6 address from its eight groups.
constexpr Ipv6 ip6(std::array<uint16_t, 8> groups) {
    Ipv6 out{};
    for (size_t i = 0; i < groups.size(); ++i) {
        out[2 * i] = static_cast<uint8_t>(groups[i] >> 8);
        out[2 * i + 1] = static_cast<uint8_t>(groups[i]);
    }
    return out;
}

std::vector<std::string> texts(const LoadResult& r) {
    std::vector<std::string> out;
    for (const ConfigError& e : r.errors) {
        out.push_back(e.to_string());
    }
    return out;
}

// The errors of a broken file under configs/; a broken file must never yield a config.
std::vector<std::string> errors_of(const std::string& name) {
    LoadResult r = load_config_file("configs/" + name);
    CHECK_FALSE(r.config.has_value());
    return texts(r);
}

Config accepted(const std::string& path) {
    LoadResult r = load_config_file(path);
    INFO(path);
    REQUIRE(texts(r) == std::vector<std::string>{});
    REQUIRE(r.config.has_value());
    return *r.config;
}

void check_real_server(const RealServer& rs, const IpAddress& address, uint16_t port,
                       uint32_t weight) {
    CHECK(format_ip_address(rs.address) == format_ip_address(address));
    CHECK(rs.port == port);
    CHECK(rs.weight == weight);
}

void check_real_server(const RealServer& rs, Ipv4 address, uint16_t port, uint32_t weight) {
    check_real_server(rs, IpAddress::of(address), port, weight);
}

// A scratch directory of the test's own, removed with what it holds.
class ScratchDir {
  public:
    ScratchDir()
        : path_(std::filesystem::temp_directory_path() /
                ("vsnat-test-config-" + std::to_string(getpid()))) {
        std::filesystem::create_directories(path_);
    }
    ~ScratchDir() { std::filesystem::remove_all(path_); }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    std::string file(const std::string& name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

// One interface and `services` services of one real server each, written one to a line.
std::string config_with_services(uint32_t services) {
    std::string text =
        "interfaces: [{name: a, device: d, address: 10.0.0.1/8}]\n"
        "services:\n";
    for (uint32_t i = 0; i < services; ++i) {
        const std::string n = std::to_string(i);
        text += "  - {name: s" + n + ", protocol: tcp, vip: 10.1." + std::to_string(i / 256) + "." +
                std::to_string(i % 256) + ", port: 80, real_servers: [{address: 10.0.0.2}]}\n";
    }
    return text;
}

void check_default_tcp_timeouts(const Timeouts& t) {
    // LVS's ip_vs_proto_tcp.c values for the states the seed does not name.
    CHECK(t.tcp_time_wait == 120);
    CHECK(t.tcp_close == 10);
    CHECK(t.tcp_close_wait == 60);
    CHECK(t.tcp_last_ack == 30);
    CHECK(t.tcp_listen == 120);
    CHECK(t.tcp_synack == 120);
    CHECK(t.tcp_none == 2);
}

}  // namespace

TEST_CASE("config/example.yaml holds the seed's scenario", "[config]") {
    Config c = accepted("../../config/example.yaml");
    CHECK(c.eal == std::vector<std::string>{"-l", "0-2", "--file-prefix", "vsnat"});
    CHECK(c.workers == 2);
    CHECK(c.max_connections == 4194304);
    CHECK(c.idle == IdleMode::adaptive);

    REQUIRE(c.interfaces.size() == 2);
    CHECK(c.interfaces[0].name == "outside");
    CHECK(c.interfaces[0].device == "0000:3b:00.0");
    CHECK(c.interfaces[0].address == ip(202, 103, 106, 1));
    CHECK(c.interfaces[0].prefix_len == 24);
    CHECK(c.interfaces[0].gateway == ip(202, 103, 106, 254));
    CHECK(c.interfaces[1].name == "inside");
    CHECK(c.interfaces[1].device == "0000:3b:00.1");
    CHECK(c.interfaces[1].address == ip(172, 16, 0, 1));
    CHECK(c.interfaces[1].prefix_len == 16);
    CHECK_FALSE(c.interfaces[1].gateway.has_value());
    CHECK(c.neighbors.empty());

    // The seed's four timeouts: SYN 60 s, ESTABLISHED 15 min, FIN 60 s, UDP 5 min.
    CHECK(c.timeouts.tcp_syn == 60);
    CHECK(c.timeouts.tcp_established == 900);
    CHECK(c.timeouts.tcp_fin == 60);
    CHECK(c.timeouts.udp == 300);
    check_default_tcp_timeouts(c.timeouts);

    REQUIRE(c.services.size() == 2);
    const Service& web = c.services[0];
    CHECK(web.name == "web");
    CHECK(web.protocol == Protocol::tcp);
    CHECK(web.vip == ip4(202, 103, 106, 5));
    CHECK(web.port == 80);
    CHECK(web.scheduler == Scheduler::wrr);
    CHECK(web.persistence == 0);
    CHECK(web.helper == Helper::none);
    REQUIRE(web.real_servers.size() == 2);
    check_real_server(web.real_servers[0], ip(172, 16, 0, 2), 80, 1);
    check_real_server(web.real_servers[1], ip(172, 16, 0, 3), 8000, 2);

    const Service& ftp = c.services[1];
    CHECK(ftp.name == "ftp");
    CHECK(ftp.vip == ip4(202, 103, 106, 5));
    CHECK(ftp.port == 21);
    CHECK(ftp.helper == Helper::ftp);
    REQUIRE(ftp.real_servers.size() == 1);
    check_real_server(ftp.real_servers[0], ip(172, 16, 0, 3), 21, 1);
}

TEST_CASE("config/lab.yaml holds the namespace lab", "[config]") {
    Config c = accepted("../../config/lab.yaml");
    CHECK(c.eal == std::vector<std::string>{"-l", "0-1", "--file-prefix", "vsnat-lab", "--no-pci"});
    CHECK(c.workers == 1);
    CHECK(c.max_connections == 65536);
    CHECK(c.idle == IdleMode::adaptive);

    REQUIRE(c.interfaces.size() == 2);
    CHECK(c.interfaces[0].name == "outside");
    CHECK(c.interfaces[0].device == "net_af_packet0,iface=vsn-out");
    CHECK(c.interfaces[0].address == ip(198, 18, 0, 254));
    CHECK(c.interfaces[0].prefix_len == 24);
    CHECK(c.interfaces[1].name == "inside");
    CHECK(c.interfaces[1].device == "net_af_packet1,iface=vsn-in");
    CHECK(c.interfaces[1].address == ip(198, 19, 0, 1));
    CHECK(c.interfaces[1].prefix_len == 24);
    CHECK_FALSE(c.interfaces[0].gateway.has_value());
    CHECK_FALSE(c.interfaces[1].gateway.has_value());

    REQUIRE(c.services.size() == 3);
    const Service& web = c.services[0];
    CHECK(web.name == "web");
    CHECK(web.protocol == Protocol::tcp);
    CHECK(web.vip == ip4(198, 18, 0, 100));
    CHECK(web.port == 80);
    CHECK(web.scheduler == Scheduler::wrr);
    REQUIRE(web.real_servers.size() == 2);
    check_real_server(web.real_servers[0], ip(198, 19, 0, 2), 80, 1);
    check_real_server(web.real_servers[1], ip(198, 19, 0, 3), 8000, 2);

    const Service& dns = c.services[1];
    CHECK(dns.name == "dns");
    CHECK(dns.protocol == Protocol::udp);
    CHECK(dns.vip == ip4(198, 18, 0, 100));
    CHECK(dns.port == 53);
    REQUIRE(dns.real_servers.size() == 2);
    check_real_server(dns.real_servers[0], ip(198, 19, 0, 2), 53, 1);
    check_real_server(dns.real_servers[1], ip(198, 19, 0, 3), 53, 1);

    const Service& ftp = c.services[2];
    CHECK(ftp.name == "ftp");
    CHECK(ftp.port == 21);
    CHECK(ftp.helper == Helper::ftp);
    REQUIRE(ftp.real_servers.size() == 1);
    check_real_server(ftp.real_servers[0], ip(198, 19, 0, 3), 21, 1);
}

TEST_CASE("omitted keys take their documented defaults", "[config]") {
    Config c = accepted("configs/good_minimal.yaml");
    CHECK(c.eal.empty());
    CHECK(c.workers == 1);
    CHECK(c.max_connections == 1048576);
    CHECK(c.idle == IdleMode::adaptive);
    CHECK(c.packet_buffers == 0);
    CHECK(c.reverse_path == ReversePath::strict);
    CHECK(c.fragments == Fragments::forward);
    CHECK(c.reject_rate == 1000);
    CHECK(c.table_shares == TableShares{90, 50, 24});
    CHECK(c.interfaces[0].mtu == 1500);
    CHECK(c.interfaces[0].floating.empty());
    CHECK(c.ha == HaConfig{});  // every address served always, no connection sync
    CHECK(c.ha.addresses == AddressOwnership::always);
    CHECK_FALSE(c.ha.sync.has_value());
    CHECK(c.neighbors.empty());
    CHECK(c.timeouts.tcp_syn == 60);
    CHECK(c.timeouts.tcp_established == 900);
    CHECK(c.timeouts.tcp_fin == 60);
    CHECK(c.timeouts.udp == 300);
    check_default_tcp_timeouts(c.timeouts);

    REQUIRE(c.services.size() == 1);
    const Service& web = c.services[0];
    CHECK(web.scheduler == Scheduler::wrr);
    CHECK(web.persistence == 0);
    CHECK(web.helper == Helper::none);
    REQUIRE(web.real_servers.size() == 2);
    check_real_server(web.real_servers[0], ip(198, 19, 0, 2), 80, 1);  // port from the service
    check_real_server(web.real_servers[1], ip(198, 19, 0, 3), 8080, 1);
}

TEST_CASE("every key can be set, in every duration form", "[config]") {
    Config c = accepted("configs/good_full.yaml");
    CHECK(c.eal == std::vector<std::string>{"-l", "0-4", "--file-prefix", "full", "--no-pci"});
    CHECK(c.workers == 4);
    CHECK(c.max_connections == 4194304);
    CHECK(c.idle == IdleMode::poll);
    CHECK(c.packet_buffers == 100000);
    CHECK(c.reverse_path == ReversePath::loose);
    CHECK(c.fragments == Fragments::drop);
    CHECK(c.reject_rate == 0);
    CHECK(c.table_shares == TableShares{75, 10, 16});
    REQUIRE(c.interfaces.size() == 2);
    CHECK(c.interfaces[0].gateway == ip(198, 18, 0, 1));
    CHECK(c.interfaces[0].mtu == 2034);
    CHECK(c.interfaces[1].mtu == 1500);
    CHECK(c.interfaces[1].device == "net_af_packet0,iface=veth1");
    CHECK(c.interfaces[1].prefix_len == 16);
    CHECK(c.kernel_netns == "vsnat-kernel");
    CHECK(c.interfaces[0].kernel == "vsk-outside");
    CHECK(c.interfaces[0].kernel_type == KernelType::tap);
    CHECK(c.interfaces[1].kernel == "vsk-inside");
    CHECK(c.interfaces[0].floating.empty());
    CHECK(c.interfaces[1].floating ==
          std::vector<Prefix>{{ip(198, 19, 0, 254), 16}, {ip(198, 19, 1, 254), 16}});
    CHECK(c.ha.addresses == AddressOwnership::follow_kernel);
    REQUIRE(c.ha.sync.has_value());
    CHECK(c.ha.sync->interface == "inside");
    CHECK_FALSE(c.ha.sync->group.has_value());  // peers instead
    CHECK(c.ha.sync->peers == std::vector<Ipv4>{ip(198, 19, 0, 12)});
    CHECK(c.ha.sync->port == 8849);
    CHECK(c.ha.sync->syncid == 7);

    REQUIRE(c.neighbors.size() == 2);
    CHECK(c.neighbors[0].address == ip4(198, 18, 0, 1));
    CHECK(c.neighbors[0].mac == MacAddress{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01});
    CHECK(c.neighbors[0].interface == "outside");
    CHECK(c.neighbors[1].mac == MacAddress{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f});
    CHECK(c.neighbors[1].interface == "inside");

    const Timeouts& t = c.timeouts;
    CHECK(t.tcp_syn == 30);            // 30s
    CHECK(t.tcp_established == 7200);  // 2h
    CHECK(t.tcp_fin == 45);            // bare number: seconds
    CHECK(t.tcp_time_wait == 60);      // 1m
    CHECK(t.tcp_close == 5);           // 5s
    CHECK(t.tcp_close_wait == 86400);  // 1d
    CHECK(t.tcp_last_ack == 20);
    CHECK(t.tcp_listen == 180);
    CHECK(t.tcp_synack == 240);
    CHECK(t.tcp_none == 1);
    CHECK(t.udp == 600);

    REQUIRE(c.services.size() == 3);
    const Service& dns = c.services[0];
    CHECK(dns.protocol == Protocol::udp);
    CHECK(dns.scheduler == Scheduler::sh);
    CHECK(dns.persistence == 300);
    CHECK(dns.persistence_prefix == 24);  // 255.255.255.0
    REQUIRE(dns.real_servers.size() == 3);
    check_real_server(dns.real_servers[0], ip(198, 19, 0, 2), 53, 0);  // weight 0 quiesces
    check_real_server(dns.real_servers[1], ip(198, 19, 0, 3), 5353, 65535);
    CHECK(dns.real_servers[1].max_connections == 1000);
    CHECK(dns.real_servers[1].min_connections == 800);
    check_real_server(dns.real_servers[2], ip(203, 0, 113, 7), 53, 1);  // via the gateway
    CHECK(dns.real_servers[2].max_connections == 0);
    CHECK(c.services[1].scheduler == Scheduler::fo);
    CHECK(c.services[1].persistence == 86400);
    CHECK(c.services[1].persistence_prefix == 16);  // /16
    CHECK(c.services[1].real_servers[0].max_connections == 2147483648u);
    CHECK(c.services[2].scheduler == Scheduler::mh);
    CHECK(c.services[2].persistence == 900);
    CHECK(c.services[2].persistence_prefix == 32);  // the default
    CHECK(c.services[2].helper == Helper::ftp);
}

TEST_CASE("health checks: the service's, laid over by a real server's, or none", "[config]") {
    Config c = accepted("configs/good_full.yaml");
    const Service& dns = c.services[0];
    HealthCheck udp;
    udp.type = CheckType::udp;
    udp.interval_ms = 500;
    udp.timeout_ms = 200;
    udp.rise = 3;
    udp.fall = 4;
    udp.port = 5300;
    udp.payload = std::string("\0\x01ping", 6);
    udp.start_down = true;
    CHECK(dns.health_check == udp);
    CHECK(dns.on_down == OnDown::drop);
    CHECK(dns.sorry_server == SorryServer{ip4(198, 19, 0, 9), 5353});
    CHECK(dns.real_servers[0].health_check == udp);  // the service's, as it is
    HealthCheck overridden = udp;                    // two keys laid over it
    overridden.payload.clear();
    overridden.rise = 1;
    CHECK(dns.real_servers[1].health_check == overridden);
    CHECK_FALSE(dns.real_servers[2].health_check.has_value());  // `none`

    const Service& dns_tcp = c.services[1];
    HealthCheck http;
    http.type = CheckType::http;
    http.interval_ms = 60'000;  // 1m
    http.timeout_ms = 30'000;   // a bare number: seconds
    http.path = "/health?full=1";
    http.expect_status = 204;
    http.passive = true;
    CHECK(dns_tcp.health_check == http);
    CHECK(dns_tcp.on_down == OnDown::quiesce);                          // the default
    CHECK(dns_tcp.sorry_server == SorryServer{ip4(198, 19, 0, 9), 0});  // 0: the service's port
    CHECK(dns_tcp.real_servers[0].health_check == http);
    // Another type keeps the service's interval and timeout, and not its path or status.
    HealthCheck exec;
    exec.type = CheckType::exec;
    exec.interval_ms = 60'000;
    exec.timeout_ms = 30'000;
    exec.passive = true;
    exec.command = {"sh", "-c", "exec nc -z -w 1 \"$0\" \"$1\"", "%address", "%port"};
    CHECK(dns_tcp.real_servers[1].health_check == exec);

    // No check of the service's: a real server's stands alone, with the defaults.
    const Service& ftp = c.services[2];
    CHECK_FALSE(ftp.health_check.has_value());
    CHECK_FALSE(ftp.sorry_server.has_value());
    HealthCheck tcp;
    tcp.type = CheckType::tcp;
    CHECK(ftp.real_servers[0].health_check == tcp);
    CHECK(tcp.interval_ms == 2000);
    CHECK(tcp.timeout_ms == 1000);
    CHECK(tcp.rise == 2);
    CHECK(tcp.fall == 2);
    CHECK_FALSE(tcp.start_down);
    CHECK_FALSE(tcp.passive);

    // Without a health_check anywhere, nothing is checked.
    Config minimal = accepted("configs/good_minimal.yaml");
    CHECK_FALSE(minimal.services[0].health_check.has_value());
    CHECK_FALSE(minimal.services[0].real_servers[0].health_check.has_value());
    CHECK(minimal.services[0].on_down == OnDown::quiesce);
}

TEST_CASE("check intervals and timeouts: 100ms..1h, in milliseconds or the other forms",
          "[config]") {
    const auto check_of = [](const std::string& interval, const std::string& timeout) {
        LoadResult r = load_config_text(
            "interfaces: [{name: a, device: d, address: 10.0.0.1/8, kernel: vsk-a}]\n"
            "services: [{name: s, protocol: tcp, vip: 10.0.0.2, port: 80, health_check: {type: "
            "tcp, interval: " +
                interval + ", timeout: " + timeout + "}, real_servers: [{address: 10.0.0.3}]}]\n",
            "durations.yaml");
        INFO(interval << " " << timeout);
        REQUIRE(texts(r) == std::vector<std::string>{});
        return *r.config->services[0].health_check;
    };
    CHECK(check_of("100ms", "100ms").interval_ms == 100);
    CHECK(check_of("1h", "60m").interval_ms == 3'600'000);
    CHECK(check_of("1h", "60m").timeout_ms == 3'600'000);
    CHECK(check_of("3600", "1500ms").interval_ms == 3'600'000);
    CHECK(check_of("3600", "1500ms").timeout_ms == 1500);
    CHECK(check_of("2s", "2000ms").timeout_ms == 2000);  // equal is fine

    CHECK(format_duration_ms(500) == "500ms");
    CHECK(format_duration_ms(1500) == "1500ms");
    CHECK(format_duration_ms(2000) == "2s");
    CHECK(format_duration_ms(90'000) == "90s");
    CHECK(format_duration_ms(120'000) == "2m");
    CHECK(format_duration_ms(3'600'000) == "1h");
    CHECK(check_type_name(CheckType::exec) == "exec");
    CHECK(on_down_name(OnDown::drop) == "drop");
}

TEST_CASE("health check values out of range or of the wrong kind", "[config]") {
    const std::string duration =
        "must be a duration of 100ms..1h (like 500ms, 2s, 1m; a bare number is seconds), got ";
    const std::string path =
        "must be an HTTP path: '/' first, no spaces or control characters, got ";
    CHECK(errors_of("bad_health_values.yaml") ==
          std::vector<std::string>{
              "configs/bad_health_values.yaml:10:14: 'on_down' must be one of quiesce, drop, got "
              "'shutdown'",
              "configs/bad_health_values.yaml:13:17: 'interval' " + duration + "'50ms'",
              "configs/bad_health_values.yaml:14:16: 'timeout' " + duration + "'1.5s'",
              "configs/bad_health_values.yaml:15:13: 'rise' must be an integer in 1..100, got '0'",
              "configs/bad_health_values.yaml:16:13: 'fall' must be an integer in 1..100, got "
              "'101'",
              "configs/bad_health_values.yaml:17:13: 'port' must be an integer in 1..65535, got "
              "'0'",
              "configs/bad_health_values.yaml:18:13: 'path' " + path + "'health'",
              "configs/bad_health_values.yaml:19:22: 'expect_status' must be an integer in "
              "100..599, got '600'",
              "configs/bad_health_values.yaml:20:14: 'start' must be one of up, down, got "
              "'sideways'",
              "configs/bad_health_values.yaml:21:16: 'passive' must be one of true, false, got "
              "'yes'",
              "configs/bad_health_values.yaml:22:7: unknown key 'retries' in health_check",
              "configs/bad_health_values.yaml:29:26: 'type' must be one of tcp, http, udp, exec, "
              "got 'icmp'",
              "configs/bad_health_values.yaml:29:42: 'interval' " + duration + "'2h'",
              "configs/bad_health_values.yaml:29:55: 'timeout' " + duration + "'0ms'",
              "configs/bad_health_values.yaml:36:38: 'path' " + path + "'/a b'",
              "configs/bad_health_values.yaml:36:61: 'expect_status' must be an integer in "
              "100..599, got '99'",
              "configs/bad_health_values.yaml:38:52: 'path' " + path + "'/\\x1b[31m'",
              "configs/bad_health_values.yaml:39:52: 'rise' must be an integer in 1..100, got "
              "'-1'",
              "configs/bad_health_values.yaml:39:62: 'fall' must be an integer in 1..100, got "
              "'1.0'"});
    CHECK(errors_of("bad_health_payload.yaml") ==
          std::vector<std::string>{
              "configs/bad_health_payload.yaml:9:40: 'payload' must be at most 1400 bytes (one "
              "datagram), got 1401",
              "configs/bad_health_payload.yaml:13:55: 'payload' must be a string, got a list",
              "configs/bad_health_payload.yaml:14:46: 'payload' must be a string, got nothing"});
}

TEST_CASE("a passive check is for TCP services", "[config]") {
    CHECK(errors_of("bad_health_passive_udp.yaml") ==
          std::vector<std::string>{
              "configs/bad_health_passive_udp.yaml:11:40: a passive check watches TCP handshakes: "
              "service 'dns' is UDP",
              "configs/bad_health_passive_udp.yaml:13:55: a passive check watches TCP handshakes: "
              "service 'dns' is UDP"});
}

TEST_CASE("health check keys belong to their type; a type's own keys are needed", "[config]") {
    CHECK(errors_of("bad_health_types.yaml") ==
          std::vector<std::string>{
              "configs/bad_health_types.yaml:10:31: 'path' is for http checks, not tcp",
              "configs/bad_health_types.yaml:10:40: 'expect_status' is for http checks, not tcp",
              "configs/bad_health_types.yaml:10:69: 'timeout' (3s) must not be longer than "
              "'interval' (2s)",
              "configs/bad_health_types.yaml:18:7: missing key 'path' in health_check (http "
              "checks need it)",
              "configs/bad_health_types.yaml:19:7: 'payload' is for udp checks, not http",
              "configs/bad_health_types.yaml:20:17: 'interval' (500ms) must not be shorter than "
              "'timeout' (1s)",
              "configs/bad_health_types.yaml:27:31: 'command' is for exec checks, not udp",
              "configs/bad_health_types.yaml:27:74: 'timeout' (61s) must not be longer than "
              "'interval' (1m)",
              "configs/bad_health_types.yaml:34:19: missing key 'command' in health_check (exec "
              "checks need it)",
              "configs/bad_health_types.yaml:34:32: 'expect_status' is for http checks, not exec",
              "configs/bad_health_types.yaml:41:19: missing key 'type' in health_check"});
}

TEST_CASE("an exec check's command: 1 to 32 clean strings, a program that can be run", "[config]") {
    CHECK(errors_of("bad_health_command.yaml") ==
          std::vector<std::string>{
              "configs/bad_health_command.yaml:10:41: 'command' must list at least one argument, "
              "the program",
              "configs/bad_health_command.yaml:12:55: 'command' must be a list, got '/bin/sh'",
              "configs/bad_health_command.yaml:13:56: cannot run '/nonexistent/vsnat-check': No "
              "such file or directory",
              "configs/bad_health_command.yaml:14:56: cannot run '/etc/passwd': not executable",
              "configs/bad_health_command.yaml:15:56: cannot run '/tmp': not a regular file",
              "configs/bad_health_command.yaml:16:56: cannot run 'bin/check-web': a program must "
              "be an absolute path, or a name looked up in PATH",
              "configs/bad_health_command.yaml:17:56: cannot run 'vsnat-no-such-check': no "
              "executable file of that name in PATH",
              "configs/bad_health_command.yaml:18:60: each entry of 'command' must not contain "
              "control characters, got '-c\\x00'",
              "configs/bad_health_command.yaml:18:68: each entry of 'command' must be a non-empty "
              "string, got ''",
              "configs/bad_health_command.yaml:18:72: each entry of 'command' must be a non-empty "
              "string, got a list",
              "configs/bad_health_command.yaml:21:68: more than 32 arguments in 'command'"});
}

TEST_CASE("a real server's health_check: none, or an override reported where it says it",
          "[config]") {
    CHECK(errors_of("bad_health_override.yaml") ==
          std::vector<std::string>{
              "configs/bad_health_override.yaml:12:45: missing key 'command' in health_check "
              "(exec checks need it)",
              "configs/bad_health_override.yaml:13:57: 'path' is for http checks, not tcp",
              "configs/bad_health_override.yaml:14:55: 'timeout' (3s) must not be longer than "
              "'interval' (2s)",
              "configs/bad_health_override.yaml:15:56: 'interval' (500ms) must not be shorter "
              "than 'timeout' (1s)",
              "configs/bad_health_override.yaml:16:46: 'payload' is for udp checks, not http",
              "configs/bad_health_override.yaml:17:45: 'health_check' must be a mapping or none, "
              "got 'off'",
              "configs/bad_health_override.yaml:18:45: 'health_check' must be a mapping or none, "
              "got a list",
              "configs/bad_health_override.yaml:25:19: 'health_check' must be a mapping, got "
              "'none'",
              "configs/bad_health_override.yaml:33:45: missing key 'type' in health_check "
              "(service 'alone' has no health_check to lay it over)",
              "configs/bad_health_override.yaml:34:45: missing key 'path' in health_check (http "
              "checks need it)",
              "configs/bad_health_override.yaml:35:57: unknown key 'unknown' in health_check"});
}

TEST_CASE("a sorry server is reachable and not a real server; on_down needs a check", "[config]") {
    const std::string needs =
        "needs a health check (the service's or a real server's): without one no real server is "
        "ever down";
    CHECK(errors_of("bad_health_sorry.yaml") ==
          std::vector<std::string>{
              "configs/bad_health_sorry.yaml:12:19: sorry server 198.19.0.3:80 is a real server "
              "of service 'web' (line 15)",
              "configs/bad_health_sorry.yaml:21:29: sorry server 203.0.113.9 is in no interface's "
              "prefix and no interface has a gateway",
              "configs/bad_health_sorry.yaml:21:54: unknown key 'weight' in sorry_server",
              "configs/bad_health_sorry.yaml:29:29: sorry server 198.19.0.1 is the address of "
              "interface 'inside'",
              "configs/bad_health_sorry.yaml:29:47: 'port' must be an integer in 1..65535, got "
              "'0'",
              "configs/bad_health_sorry.yaml:37:19: 'sorry_server' must be a mapping, got "
              "'198.19.0.9'",
              "configs/bad_health_sorry.yaml:45:19: missing key 'address' in sorry_server",
              "configs/bad_health_sorry.yaml:52:14: 'on_down' " + needs,
              "configs/bad_health_sorry.yaml:53:19: 'sorry_server' " + needs});
}

TEST_CASE("checked real servers are reached through an interface with a kernel mirror",
          "[config]") {
    CHECK(errors_of("bad_health_mirror.yaml") ==
          std::vector<std::string>{
              "configs/bad_health_mirror.yaml:12:5: health checks of service 'web' need a kernel "
              "mirror on interface 'inside' (kernel:), which reaches 198.19.0.2: the probes leave "
              "from kernel_netns",
              "configs/bad_health_mirror.yaml:23:31: health checks of service 'dns' need a kernel "
              "mirror on interface 'inside' (kernel:), which reaches 198.19.0.3: the probes leave "
              "from kernel_netns"});
}

TEST_CASE("ha: a pair syncing to a multicast group, IPVS's by default", "[config]") {
    Config c = accepted("configs/good_ha_group.yaml");
    CHECK(c.ha.addresses == AddressOwnership::follow_kernel);
    REQUIRE(c.ha.sync.has_value());
    CHECK(c.ha.sync == SyncConfig{"inside", ip(239, 255, 0, 81), {}, 8848, 1});
    CHECK(c.interfaces[1].floating == std::vector<Prefix>{{ip(172, 16, 0, 1), 16}});
    // Dual stack: the IPv6 VIP and gateway follow the kernel too.
    const Config dual = accepted("configs/good_ha_dual.yaml");
    CHECK(dual.ha.addresses == AddressOwnership::follow_kernel);
    CHECK(dual.interfaces[1].floating == std::vector<Prefix>{{ip(198, 19, 0, 1), 24}});
    CHECK(dual.interfaces[1].floating6 ==
          std::vector<Prefix6>{{*parse_ipv6("2001:2:0:19::1"), 64}});

    const std::string interfaces =
        "interfaces: [{name: inside, device: d, address: 172.16.0.11/16, kernel: vsk-in,\n"
        "              gateway: 172.16.0.254}]\n";
    const auto ha_of = [&](const std::string& ha) {
        LoadResult r = load_config_text(interfaces + ha, "ha.yaml");
        INFO(ha);
        REQUIRE(texts(r) == std::vector<std::string>{});
        return r.config->ha;
    };
    // Neither group nor peers: IPVS's group 224.0.0.81 and port 8848; syncid 0 takes any.
    CHECK(ha_of("ha: {sync: {interface: inside}}\n") ==
          HaConfig{AddressOwnership::always, SyncConfig{"inside", ip(224, 0, 0, 81), {}, 8848, 0}});
    CHECK(ha_of("ha: {}\n") == HaConfig{});
    CHECK(ha_of("ha: {addresses: always}\n") == HaConfig{});
    // The edges of each range, and a peer beyond the sync interface's gateway.
    const HaConfig edges = ha_of(
        "ha: {sync: {interface: inside, peers: [172.16.0.12, 10.20.0.12], port: 65535, "
        "syncid: 255}}\n");
    REQUIRE(edges.sync.has_value());
    CHECK(edges.sync->peers == std::vector<Ipv4>{ip(172, 16, 0, 12), ip(10, 20, 0, 12)});
    CHECK_FALSE(edges.sync->group.has_value());
    CHECK(edges.sync->port == 65535);
    CHECK(edges.sync->syncid == 255);
    CHECK(ha_of("ha: {sync: {interface: inside, group: 239.255.255.255, port: 1}}\n").sync ==
          SyncConfig{"inside", ip(239, 255, 255, 255), {}, 1, 0});
    CHECK(ha_of("ha: {sync: {interface: inside, group: 224.0.0.0}}\n").sync->group ==
          ip(224, 0, 0, 0));
}

TEST_CASE("ha: values in their ranges, only the keys it has", "[config]") {
    CHECK(errors_of("bad_ha_values.yaml") ==
          std::vector<std::string>{
              "configs/bad_ha_values.yaml:8:14: 'addresses' must be one of always, "
              "follow_kernel, got 'kernel'",
              "configs/bad_ha_values.yaml:9:3: unknown key 'preempt' in ha",
              "configs/bad_ha_values.yaml:12:12: 'group' must be a multicast IPv4 address in "
              "224.0.0.0/4, got '172.16.0.81'",
              "configs/bad_ha_values.yaml:13:11: 'port' must be an integer in 1..65535, got '0'",
              "configs/bad_ha_values.yaml:14:13: 'syncid' must be an integer in 0..255, got "
              "'256'",
              "configs/bad_ha_values.yaml:15:5: unknown key 'ttl' in sync"});
    const std::string interfaces =
        "interfaces: [{name: inside, device: d, address: 172.16.0.11/16, kernel: vsk-in}]\n";
    CHECK(texts(load_config_text(interfaces + "ha: follow_kernel\n", "ha.yaml")) ==
          std::vector<std::string>{"ha.yaml:2:5: 'ha' must be a mapping, got 'follow_kernel'"});
    CHECK(texts(load_config_text(interfaces + "ha: {sync: inside}\n", "ha.yaml")) ==
          std::vector<std::string>{"ha.yaml:2:12: 'sync' must be a mapping, got 'inside'"});
    CHECK(
        texts(load_config_text(interfaces + "ha: {sync: {interface: inside, syncid: -1}}\n",
                               "ha.yaml")) ==
        std::vector<std::string>{"ha.yaml:2:40: 'syncid' must be an integer in 0..255, got '-1'"});
}

TEST_CASE("ha: follow_kernel needs the kernel mirrors that hold the addresses", "[config]") {
    CHECK(errors_of("bad_ha_follow_kernel.yaml") ==
          std::vector<std::string>{
              "configs/bad_ha_follow_kernel.yaml:9:5: the floating addresses of interface "
              "'inside' are served while its kernel mirror holds them (addresses: follow_kernel), "
              "and it has none (kernel:)",
              "configs/bad_ha_follow_kernel.yaml:11:14: 'addresses' follow_kernel needs a kernel "
              "mirror: the VIPs and floating addresses served are those the kernel mirrors hold, "
              "and no interface has one (kernel:)"});
}

TEST_CASE("floating addresses: the interface's subnet and length, none of the director's others",
          "[config]") {
    CHECK(errors_of("bad_ha_floating.yaml") ==
          std::vector<std::string>{
              "configs/bad_ha_floating.yaml:11:16: floating 198.18.0.1/24 is the gateway of "
              "interface 'outside'",
              "configs/bad_ha_floating.yaml:11:31: floating 198.18.0.100/24 is the vip of service "
              "'web' (line 30)",
              "configs/bad_ha_floating.yaml:11:48: floating 198.18.0.255/24 is the broadcast "
              "address of 198.18.0.254/24 of interface 'outside'",
              "configs/bad_ha_floating.yaml:15:5: the floating addresses of interface 'inside' are "
              "served while its kernel mirror holds them (addresses: follow_kernel), and it has "
              "none (kernel:)",
              "configs/bad_ha_floating.yaml:17:9: duplicate floating address 172.16.0.1 (first at "
              "line 16)",
              "configs/bad_ha_floating.yaml:18:9: each entry of 'floating' must be an IPv4 or IPv6 "
              "address with prefix length (a.b.c.d/0..32, x:x::x/0..128), got '172.16.0.2'",
              "configs/bad_ha_floating.yaml:19:9: floating 172.16.0.3/24 must have the prefix "
              "length of interface 'inside', 172.16.0.11/16: write 172.16.0.3/16",
              "configs/bad_ha_floating.yaml:20:9: floating 10.0.0.1/16 is outside 172.16.0.11/16 "
              "of interface 'inside'",
              "configs/bad_ha_floating.yaml:21:9: floating 172.16.0.11/16 is the address of "
              "interface 'inside'",
              "configs/bad_ha_floating.yaml:22:9: floating 172.16.0.0/16 is the network address of "
              "172.16.0.11/16 of interface 'inside'",
              "configs/bad_ha_floating.yaml:26:15: 'floating' must be a list, got '192.0.2.2/24'",
              "configs/bad_ha_floating.yaml:32:53: real server 172.16.0.1 is a floating address "
              "of interface 'inside'"});
    // An interface of prefix 0 holds every address: those no host has are still refused.
    CHECK(texts(load_config_text("interfaces: [{name: any, device: d, address: 10.0.0.1/0,\n"
                                 "  floating: [127.0.0.1/0, 224.0.0.1/0, 0.0.0.1/0, "
                                 "255.255.255.255/0, 10.0.0.2/0]}]\n",
                                 "unicast.yaml")) ==
          std::vector<std::string>{
              "unicast.yaml:2:14: floating 127.0.0.1/0 is not a unicast address (0.0.0.0/8, "
              "127.0.0.0/8, 224.0.0.0/4 and 240.0.0.0/4 are not)",
              "unicast.yaml:2:27: floating 224.0.0.1/0 is not a unicast address (0.0.0.0/8, "
              "127.0.0.0/8, 224.0.0.0/4 and 240.0.0.0/4 are not)",
              "unicast.yaml:2:40: floating 0.0.0.1/0 is not a unicast address (0.0.0.0/8, "
              "127.0.0.0/8, 224.0.0.0/4 and 240.0.0.0/4 are not)",
              "unicast.yaml:2:51: floating 255.255.255.255/0 is not a unicast address (0.0.0.0/8, "
              "127.0.0.0/8, 224.0.0.0/4 and 240.0.0.0/4 are not)"});
    // A sorry server is not a floating address either; /31 and /32 have no network or
    // broadcast address (RFC 3021).
    CHECK(texts(load_config_text(
              "interfaces: [{name: in, device: d, address: 10.0.0.1/24, kernel: vsk-in,\n"
              "  floating: [10.0.0.254/24]}, {name: p2p, device: e, address: 10.1.0.0/31,\n"
              "  floating: [10.1.0.1/31]}]\n"
              "services: [{name: s, protocol: tcp, vip: 10.2.0.1, port: 80, health_check: {type: "
              "tcp},\n"
              "  sorry_server: {address: 10.0.0.254}, real_servers: [{address: 10.0.0.2}]}]\n",
              "sorry.yaml")) ==
          std::vector<std::string>{
              "sorry.yaml:5:27: sorry server 10.0.0.254 is a floating address of interface 'in'"});
}

TEST_CASE("IPv6 floating addresses and VIPs under follow_kernel, checked as IPv4 ones are",
          "[config]") {
    const std::string interfaces =
        "ha: {addresses: follow_kernel}\n"
        "interfaces:\n"
        "  - {name: out, device: d0, address: [198.18.0.254/24, 2001:2:0:18::254/64],\n"
        "     gateway: [198.18.0.1, 2001:2:0:18::1], kernel: vsk-out}\n"
        "  - {name: in, device: d1, address: [198.19.0.11/24, 2001:2:0:19::11/64],\n"
        "     kernel: vsk-in,\n";
    const std::string services =
        "services:\n"
        "  - {name: web6, protocol: tcp, vip: 2001:2:0:18::100, port: 80,\n"
        "     real_servers: [{address: 2001:2:0:19::2}]}\n";
    const LoadResult good = load_config_text(
        interfaces + "     floating: [198.19.0.1/24, 2001:2:0:19::1/64]}\n" + services,
        "good.yaml");
    REQUIRE(texts(good).empty());
    CHECK(good.config->interfaces[1].floating == std::vector<Prefix>{{ip(198, 19, 0, 1), 24}});
    CHECK(good.config->interfaces[1].floating6 ==
          std::vector<Prefix6>{{*parse_ipv6("2001:2:0:19::1"), 64}});
    CHECK(shared_addresses(*good.config) ==
          std::set<IpAddress>{IpAddress::of(ip(198, 19, 0, 1)),
                              IpAddress::of(*parse_ipv6("2001:2:0:19::1")),
                              IpAddress::of(*parse_ipv6("2001:2:0:18::100"))});
    CHECK(texts(load_config_text(
              "ha: {addresses: follow_kernel}\n"
              "interfaces:\n"
              "  - {name: out, device: d0, address: [198.18.0.254/24, 2001:2:0:18::254/64],\n"
              "     gateway: [198.18.0.1, 2001:2:0:18::1], kernel: vsk-out,\n"
              "     floating: [2001:2:0:18::1/64, 2001:2:0:18::100/64]}\n"
              "  - {name: in, device: d1, address: [198.19.0.11/24, 2001:2:0:19::11/64],\n"
              "     floating: [2001:2:0:19::1/64, 2001:2:0:19::1/64, 2001:2:0:19::3/56,\n"
              "                2001:2:0:20::1/64, 2001:2:0:19::11/64, fe80::1/64]}\n"
              "  - {name: dmz, device: d2, address: 198.20.0.1/24, floating: [2001:2:0:21::1/64]}\n"
              "services:\n"
              "  - {name: web6, protocol: tcp, vip: 2001:2:0:18::100, port: 80,\n"
              "     real_servers: [{address: 2001:2:0:19::2}, {address: 2001:2:0:19::1}]}\n",
              "bad.yaml")) ==
          std::vector<std::string>{
              "bad.yaml:5:17: floating 2001:2:0:18::1/64 is the gateway of interface 'out'",
              "bad.yaml:5:36: floating 2001:2:0:18::100/64 is the vip of service 'web6' (line 11)",
              "bad.yaml:7:6: the floating addresses of interface 'in' are served while its kernel "
              "mirror holds them (addresses: follow_kernel), and it has none (kernel:)",
              "bad.yaml:7:36: duplicate floating address 2001:2:0:19::1 (first at line 7)",
              "bad.yaml:7:55: floating 2001:2:0:19::3/56 must have the prefix length of interface "
              "'in', 2001:2:0:19::11/64: write 2001:2:0:19::3/64",
              "bad.yaml:8:17: floating 2001:2:0:20::1/64 is outside 2001:2:0:19::11/64 of "
              "interface 'in'",
              "bad.yaml:8:36: floating 2001:2:0:19::11/64 is the address of interface 'in'",
              "bad.yaml:8:56: floating fe80::1/64 is not a global or unique-local unicast address "
              "(::, ::1, ::ffff:0:0/96, fe80::/10 and ff00::/8 are not)",
              "bad.yaml:9:64: floating 2001:2:0:21::1/64 is outside every prefix of interface "
              "'dmz', which has no IPv6 address",
              "bad.yaml:12:58: real server 2001:2:0:19::1 is a floating address of interface "
              "'in'"});
}

TEST_CASE("sync: through an interface with a kernel mirror, to a group or to peers", "[config]") {
    CHECK(errors_of("bad_ha_sync_interface.yaml") ==
          std::vector<std::string>{
              "configs/bad_ha_sync_interface.yaml:8:21: unknown interface 'dmz'"});
    CHECK(errors_of("bad_ha_sync_mirror.yaml") ==
          std::vector<std::string>{
              "configs/bad_ha_sync_mirror.yaml:13:16: sync interface 'inside' has no kernel "
              "mirror (kernel:), which carries the sync datagrams"});
    CHECK(errors_of("bad_ha_sync_missing.yaml") ==
          std::vector<std::string>{
              "configs/bad_ha_sync_missing.yaml:10:5: missing key 'interface' in sync",
              "configs/bad_ha_sync_missing.yaml:10:12: 'peers' must list at least one peer"});
    const std::string not_unicast =
        " is not a unicast address (0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/4 and 240.0.0.0/4 are not)";
    CHECK(errors_of("bad_ha_peers.yaml") ==
          std::vector<std::string>{
              "configs/bad_ha_peers.yaml:17:5: 'group' and 'peers' together: sync goes to a "
              "multicast group or to unicast peers, not both",
              "configs/bad_ha_peers.yaml:19:9: duplicate peer 172.16.0.12 (first at line 18)",
              "configs/bad_ha_peers.yaml:20:9: peer 224.0.0.18" + not_unicast,
              "configs/bad_ha_peers.yaml:21:9: peer 127.0.0.1" + not_unicast,
              "configs/bad_ha_peers.yaml:22:9: peer 172.16.0.11 is the address of interface "
              "'inside'",
              "configs/bad_ha_peers.yaml:23:9: peer 172.16.0.1 is a floating address of interface "
              "'inside'",
              "configs/bad_ha_peers.yaml:24:9: peer 198.18.0.100 is the vip of service 'web' "
              "(line 30)",
              "configs/bad_ha_peers.yaml:25:9: peer 198.18.0.7 is reached through interface "
              "'outside', not through the sync interface 'inside' whose kernel mirror carries the "
              "datagrams",
              "configs/bad_ha_peers.yaml:26:9: peer 203.0.113.7 is in no interface's prefix and no "
              "interface has a gateway",
              "configs/bad_ha_peers.yaml:27:9: peer 172.16.255.255 is the broadcast address of "
              "172.16.0.11/16 of interface 'inside'",
              "configs/bad_ha_peers.yaml:28:9: each entry of 'peers' must be an IPv4 address "
              "a.b.c.d, got 'peer-b'"});
}

TEST_CASE("at most 16 floating addresses on an interface, 16 sync peers", "[config]") {
    CHECK(errors_of("bad_ha_too_many.yaml") ==
          std::vector<std::string>{
              "configs/bad_ha_too_many.yaml:24:9: more than 16 floating addresses on one "
              "interface",
              "configs/bad_ha_too_many.yaml:45:9: more than 16 peers in 'sync'"});
}

TEST_CASE("boundary values are accepted", "[config]") {
    const std::string interfaces =
        "interfaces: [{name: a, device: d, address: 10.0.0.1/32},"
        " {name: b, device: e, address: 192.168.0.1/0}]\n";
    LoadResult r = load_config_text(interfaces +
                                        "workers: 64\n"
                                        "max_connections: 4294967295\n"
                                        "services:\n"
                                        "  - {name: s, protocol: udp, vip: 10.0.0.2, port: 65535,\n"
                                        "     real_servers: [{address: 0.0.0.1, port: 1}]}\n",
                                    "inline.yaml");
    REQUIRE(texts(r) == std::vector<std::string>{});
    REQUIRE(r.config.has_value());
    CHECK(r.config->workers == 64);
    CHECK(r.config->max_connections == 4294967295u);
    CHECK(r.config->interfaces[0].prefix_len == 32);
    CHECK(r.config->interfaces[1].prefix_len == 0);
    CHECK(r.config->services[0].port == 65535);
    check_real_server(r.config->services[0].real_servers[0], ip(0, 0, 0, 1), 1, 1);
}

TEST_CASE("IPv6: address lists, NAT66 services beside NAT44 ones", "[config]") {
    Config c = accepted("configs/good_ipv6.yaml");
    REQUIRE(c.interfaces.size() == 2);
    const Interface& outside = c.interfaces[0];
    CHECK(outside.address == ip(198, 18, 0, 254));
    CHECK(outside.prefix_len == 24);
    CHECK(outside.addresses6 ==
          std::vector<Prefix6>{{ip6({0x2001, 2, 0, 0x18, 0, 0, 0, 0x254}), 64}});
    CHECK(outside.gateway == ip(198, 18, 0, 1));
    CHECK(outside.gateway6 == ip6({0xfe80, 0, 0, 0, 0, 0, 0, 1}));
    const Interface& inside = c.interfaces[1];
    CHECK(inside.address == ip(198, 19, 0, 1));
    CHECK(inside.addresses6 == std::vector<Prefix6>{{ip6({0x2001, 2, 0, 0x19, 0, 0, 0, 1}), 64},
                                                    {ip6({0x2001, 2, 0, 0x1a, 0, 0, 0, 1}), 64}});
    CHECK_FALSE(inside.gateway.has_value());
    CHECK_FALSE(inside.gateway6.has_value());

    REQUIRE(c.neighbors.size() == 3);
    CHECK(c.neighbors[0].address == IpAddress::of(ip6({0x2001, 2, 0, 0x19, 0, 0, 0, 2})));
    CHECK(c.neighbors[1].address == IpAddress::of(ip6({0xfe80, 0, 0, 0, 0, 0, 0, 1})));
    CHECK(c.neighbors[2].address == ip4(198, 19, 0, 2));

    REQUIRE(c.services.size() == 3);
    const IpAddress vip6 = IpAddress::of(ip6({0x2001, 2, 0, 0x18, 0, 0, 0, 0x100}));
    const Service& web6 = c.services[0];
    CHECK(web6.vip == vip6);
    CHECK(web6.persistence == 0);
    CHECK(web6.persistence_prefix == 128);  // an IPv6 service's default
    REQUIRE(web6.real_servers.size() == 3);
    check_real_server(web6.real_servers[0], IpAddress::of(ip6({0x2001, 2, 0, 0x19, 0, 0, 0, 2})),
                      80, 1);
    check_real_server(web6.real_servers[1], IpAddress::of(ip6({0x2001, 2, 0, 0x19, 0, 0, 0, 3})),
                      8000, 2);
    check_real_server(web6.real_servers[2], IpAddress::of(ip6({0x2001, 2, 0, 0x30, 0, 0, 0, 7})),
                      80, 1);  // through the IPv6 gateway
    CHECK(web6.sorry_server ==
          SorryServer{IpAddress::of(ip6({0x2001, 2, 0, 0x1a, 0, 0, 0, 9})), 8080});
    CHECK(c.services[1].vip == vip6);  // another port, another protocol
    CHECK(c.services[1].persistence == 600);
    CHECK(c.services[1].persistence_prefix == 64);
    CHECK(c.services[2].vip == ip4(198, 18, 0, 100));
    CHECK(c.services[2].persistence_prefix == 32);

    // An address list of one IPv4 CIDR is the scalar form; an IPv6 gateway alone is a scalar.
    const auto interface_of = [](const std::string& keys) {
        LoadResult r =
            load_config_text("interfaces: [{name: a, device: d, " + keys + "}]\n", "list.yaml");
        INFO(keys);
        REQUIRE(texts(r) == std::vector<std::string>{});
        return r.config->interfaces[0];
    };
    const Interface scalar = interface_of("address: 198.18.0.254/24");
    const Interface list = interface_of("address: [198.18.0.254/24]");
    CHECK(list.address == scalar.address);
    CHECK(list.prefix_len == scalar.prefix_len);
    CHECK(list.addresses6.empty());
    const Interface v6 = interface_of(
        "address: [2001:2:0:18::254/128, 198.18.0.254/32, 2001:2::1/0], gateway: 2001:2:0:18::1");
    CHECK(v6.address == ip(198, 18, 0, 254));
    CHECK(v6.addresses6 == std::vector<Prefix6>{{ip6({0x2001, 2, 0, 0x18, 0, 0, 0, 0x254}), 128},
                                                {ip6({0x2001, 2, 0, 0, 0, 0, 0, 1}), 0}});
    CHECK_FALSE(v6.gateway.has_value());
    CHECK(v6.gateway6 == ip6({0x2001, 2, 0, 0x18, 0, 0, 0, 1}));
}

TEST_CASE("IPv4 files hold nothing IPv6, and their prefixes are as before", "[config]") {
    for (const char* path :
         {"../../config/example.yaml", "../../config/lab.yaml", "configs/good_minimal.yaml",
          "configs/good_full.yaml", "configs/good_ha_group.yaml"}) {
        INFO(path);
        const Config c = accepted(path);
        for (const Interface& i : c.interfaces) {
            CHECK(i.addresses6.empty());
            CHECK_FALSE(i.gateway6.has_value());
        }
        for (const Neighbor& n : c.neighbors) {
            CHECK_FALSE(n.address.is_v6);
        }
        for (const Service& s : c.services) {
            CHECK_FALSE(s.vip.is_v6);
            CHECK(s.persistence_prefix <= 32);
            for (const RealServer& rs : s.real_servers) {
                CHECK_FALSE(rs.address.is_v6);
            }
            CHECK_FALSE((s.sorry_server && s.sorry_server->address.is_v6));
        }
    }
}

TEST_CASE("IPv6 interfaces: one IPv4 address and IPv6 ones, a gateway of each family", "[config]") {
    const std::string not_unicast =
        " is not a global or unique-local unicast address (::, ::1, ::ffff:0:0/96, fe80::/10 and "
        "ff00::/8 are not)";
    const std::string file = "configs/bad_ipv6_interfaces.yaml:";
    CHECK(errors_of("bad_ipv6_interfaces.yaml") ==
          std::vector<std::string>{
              file + "7:32: a second IPv4 address 198.18.1.254/24: an interface has exactly one "
                     "IPv4 address (and IPv6 ones beside it)",
              file + "7:49: each entry of 'address' must be an IPv4 or IPv6 address with prefix "
                     "length (a.b.c.d/0..32, x:x::x/0..128), got '2001:2:0:18::254/129'",
              file + "8:43: more than 2 gateways on one interface (one per family)",
              file + "11:14: 'address' has no IPv4 address: an interface needs exactly one, IPv6 "
                     "ones may be listed beside it",
              file + "14:30: address fe80::1/64" + not_unicast,
              file + "14:44: address ff02::1/16" + not_unicast,
              file + "14:58: address ::1/128" + not_unicast,
              file + "14:69: address ::ffff:198.20.0.1/96" + not_unicast,
              file + "18:15: gateway 2001:2:0:22::1 is outside 2001:2:0:21::1/64 of interface "
                     "'gateways'",
              file + "19:31: floating 2001:2:0:22::2/64 is outside 2001:2:0:21::1/64 of "
                     "interface 'gateways'",
              file + "23:14: gateway 2001:2:0:22::1 is outside every prefix of interface 'bare', "
                     "which has no IPv6 address",
              file + "27:34: more than 5 addresses on one interface (one IPv4 and at most 4 IPv6)",
              file + "31:15: gateway 198.24.0.1 is the address of interface 'self' itself",
              file + "31:27: gateway 2001:2:0:24::1 is the address of interface 'self' itself",
              file + "34:30: duplicate address 2001:2:0:24::1 (first at line 30)",
              file + "35:31: a second IPv6 gateway 2001:2:0:24::3: an interface has one of each "
                     "family"});
    CHECK(texts(load_config_text("interfaces: [{name: a, device: d, address: []}]\n",
                                 "empty.yaml")) ==
          std::vector<std::string>{"empty.yaml:1:44: 'address' must list at least one address"});
    // An IPv6 gateway of two prefixes names both.
    CHECK(texts(load_config_text("interfaces: [{name: a, device: d, address: [10.0.0.1/8, "
                                 "2001:2:0:18::1/64, 2001:2:0:19::1/64], gateway: 2001:2::1}]\n",
                                 "two.yaml")) ==
          std::vector<std::string>{"two.yaml:1:105: gateway 2001:2::1 is outside "
                                   "2001:2:0:18::1/64 and 2001:2:0:19::1/64 of interface 'a'"});
}

TEST_CASE("IPv6 services: one family with their servers, reachable, none of the director's",
          "[config]") {
    const std::string not_unicast =
        " is not a global or unique-local unicast address (::, ::1, ::ffff:0:0/96, fe80::/10 and "
        "ff00::/8 are not)";
    const std::string family = ": a service and its servers share one family (NAT44 or NAT66)";
    const std::string mask =
        "'persistence_netmask' must be a prefix length 0..128 (the service is "
        "IPv6), got ";
    const std::string file = "configs/bad_ipv6_services.yaml:";
    CHECK(errors_of("bad_ipv6_services.yaml") ==
          std::vector<std::string>{
              file +
                  "18:53: real server 2001:2:0:19::2 is IPv6, but the vip of service 'mixed4' "
                  "(line 16) is IPv4" +
                  family,
              file +
                  "24:29: sorry server 198.19.0.9 is IPv4, but the vip of service 'mixed6' "
                  "(line 21) is IPv6" +
                  family,
              file +
                  "25:57: real server 198.19.0.3 is IPv4, but the vip of service 'mixed6' "
                  "(line 21) is IPv6" +
                  family,
              file + "26:38: 'vip' must be an IPv4 or IPv6 address (a.b.c.d, x:x::x), got "
                     "'2001:2::18::100'",
              file + "27:31: 'address' must be an IPv4 or IPv6 address (a.b.c.d, x:x::x), got "
                     "'2001:2:0:19:2'",
              file + "28:37: vip 2001:2:0:18::254 is the address of interface 'outside'",
              file + "29:31: real server 2001:2:0:19::1 is the address of interface 'inside'",
              file + "31:31: real server 2001:2:0:30::7 is in no interface's IPv6 prefix and no "
                     "interface has an IPv6 gateway",
              file +
                  "31:58: real server 203.0.113.7 is IPv4, but the vip of service 'far' (line "
                  "30) is IPv6" +
                  family,
              file + "32:37: vip ff02::1" + not_unicast,
              file + "33:31: real server fe80::2" + not_unicast,
              file + "33:53: real server ::" + not_unicast, file + "35:27: " + mask + "'129'",
              file + "37:27: " + mask + "'255.255.255.0'",
              file + "44:9: duplicate real server [2001:2:0:19::2]:87 (first at line 43)",
              file + "45:5: duplicate service tcp [2001:2:0:18::100]:87 (first at line 38)"});

    // A persistent IPv6 service: persistence_netmask a prefix length 0..128.
    for (const auto& [text, prefix] : std::vector<std::pair<std::string, uint8_t>>{
             {"0", 0}, {"/0", 0}, {"64", 64}, {"/56", 56}, {"128", 128}, {"/128", 128}}) {
        LoadResult r = load_config_text(
            "interfaces: [{name: a, device: d, address: [10.0.0.1/24, 2001:2:0:18::1/64]}]\n"
            "services: [{name: s, protocol: tcp, vip: 2001:2:0:18::100, port: 80, persistence: "
            "1m,\n"
            "            persistence_netmask: \"" +
                text + "\", real_servers: [{address: 2001:2:0:18::2}]}]\n",
            "inline.yaml");
        INFO(text);
        REQUIRE(texts(r) == std::vector<std::string>{});
        CHECK(r.config->services[0].persistence == 60);
        CHECK(r.config->services[0].persistence_prefix == prefix);
    }
    // The FTP helper on an IPv6 service (EPSV, EPRT with family 2).
    const LoadResult ftp6 = load_config_text(
        "interfaces: [{name: a, device: d, address: [10.0.0.1/24, 2001:2:0:18::1/64]}]\n"
        "services: [{name: ftp6, protocol: tcp, vip: 2001:2:0:18::100, port: 21, helper: ftp,\n"
        "            real_servers: [{address: 2001:2:0:18::2}]}]\n",
        "ftp6.yaml");
    CHECK(texts(ftp6) == std::vector<std::string>{});
    REQUIRE(ftp6.config.has_value());
    CHECK(ftp6.config->services[0].helper == Helper::ftp);
    // A vip that is no address leaves the family unknown: either family's mask is taken.
    CHECK(texts(load_config_text(
              "interfaces: [{name: a, device: d, address: 10.0.0.1/24}]\n"
              "services: [{name: s, protocol: tcp, vip: x, port: 80, persistence: 1m,\n"
              "            persistence_netmask: 64, real_servers: [{address: 10.0.0.2}]}]\n",
              "unknown.yaml")) ==
          std::vector<std::string>{"unknown.yaml:2:42: 'vip' must be an IPv4 or IPv6 address "
                                   "(a.b.c.d, x:x::x), got 'x'"});
    // Neighbors of either family, each once however it is written.
    CHECK(texts(load_config_text(
              "interfaces: [{name: a, device: d, address: [10.0.0.1/24, 2001:2:0:18::1/64]}]\n"
              "neighbors:\n"
              "  - {address: 2001:2:0:18::2, mac: \"02:00:00:00:00:02\", interface: a}\n"
              "  - {address: \"2001:2:0:18:0:0:0:2\", mac: \"02:00:00:00:00:03\", interface: a}\n",
              "neighbors.yaml")) ==
          std::vector<std::string>{"neighbors.yaml:4:15: duplicate neighbor 2001:2:0:18::2 "
                                   "(first at line 3)"});
}

TEST_CASE("connection sync is IPv4 only: an IPv6 peer is refused", "[config]") {
    CHECK(errors_of("bad_ipv6_sync.yaml") ==
          std::vector<std::string>{"configs/bad_ipv6_sync.yaml:10:26: peer 2001:2:0:19::12 is "
                                   "IPv6: connection sync is IPv4 only in this version"});
}

TEST_CASE("a YAML syntax error is one error at its mark", "[config]") {
    CHECK(errors_of("bad_syntax.yaml") ==
          std::vector<std::string>{
              "configs/bad_syntax.yaml:15:3: YAML syntax error: illegal block entry"});
    LoadResult r = load_config_text("a: [1, 2\nb: 3\n", "inline.yaml");
    CHECK_FALSE(r.config.has_value());
    CHECK(texts(r) == std::vector<std::string>{
                          "inline.yaml:2:2: YAML syntax error: end of sequence flow not found"});
}

TEST_CASE("the file must be a non-empty mapping with interfaces", "[config]") {
    CHECK(errors_of("bad_empty.yaml") ==
          std::vector<std::string>{
              "configs/bad_empty.yaml:1:1: the file is empty; it needs at least 'interfaces'"});
    CHECK(errors_of("bad_missing_interfaces.yaml") ==
          std::vector<std::string>{
              "configs/bad_missing_interfaces.yaml:2:1: missing key 'interfaces' in config"});
    CHECK(errors_of("bad_no_interfaces.yaml") ==
          std::vector<std::string>{
              "configs/bad_no_interfaces.yaml:3:13: 'interfaces' must list at least one "
              "interface"});
    CHECK(texts(load_config_text("- a\n- b\n", "list.yaml")) ==
          std::vector<std::string>{"list.yaml:1:1: the file must be a mapping, got a list"});
}

TEST_CASE("keys must be plain strings", "[config]") {
    CHECK(texts(load_config_text("interfaces: []\n? [a, b]\n: c\n", "keys.yaml")) ==
          std::vector<std::string>{
              "keys.yaml:1:13: 'interfaces' must list at least one interface",
              "keys.yaml:2:3: keys in config must be plain strings, got a list"});
}

TEST_CASE("a broken interface list does not make every real server unreachable", "[config]") {
    CHECK(
        texts(load_config_text("interfaces: outside\n"
                               "services: [{name: s, protocol: tcp, vip: 10.0.0.2, port: 80,\n"
                               "             real_servers: [{address: 10.1.0.2}]}]\n",
                               "cascade.yaml")) ==
        std::vector<std::string>{"cascade.yaml:1:13: 'interfaces' must be a list, got 'outside'"});
}

TEST_CASE("a missing file is reported, not thrown", "[config]") {
    LoadResult r = load_config_file("configs/no_such_file.yaml");
    CHECK_FALSE(r.config.has_value());
    CHECK(texts(r) == std::vector<std::string>{
                          "configs/no_such_file.yaml:1:1: cannot open: No such file or directory"});
}

TEST_CASE("only a regular file is read: a directory, a device or a FIFO is named", "[config]") {
    CHECK(texts(load_config_file("configs")) ==
          std::vector<std::string>{"configs: is a directory, not a regular file"});
    CHECK(texts(load_config_file("/dev/null")) ==
          std::vector<std::string>{"/dev/null: is a character device, not a regular file"});

    const ScratchDir dir;
    const std::string fifo = dir.file("config.yaml");
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    // Opening a FIFO waits for a writer: should the loader try, one comes after 3 s, so that a
    // regression fails instead of hanging.
    std::mutex mutex;
    std::condition_variable returned;
    bool done = false;
    std::thread writer([&] {
        std::unique_lock<std::mutex> lock(mutex);
        if (!returned.wait_for(lock, std::chrono::seconds(3), [&] { return done; })) {
            const int fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
            if (fd >= 0) {
                close(fd);
            }
        }
    });
    const LoadResult r = load_config_file(fifo);
    {
        std::lock_guard<std::mutex> lock(mutex);
        done = true;
    }
    returned.notify_one();
    writer.join();
    CHECK(texts(r) == std::vector<std::string>{fifo + ": is a FIFO, not a regular file"});
}

TEST_CASE("a file over 32 MiB is refused before it is read", "[config]") {
    const ScratchDir dir;
    const std::string big = dir.file("big.yaml");
    std::ofstream(big).close();
    std::filesystem::resize_file(big, kMaxFileBytes + 1);  // sparse: nothing is written
    CHECK(texts(load_config_file(big)) ==
          std::vector<std::string>{big +
                                   ": is 33554433 bytes, over the 33554432-byte (32 MiB) limit "
                                   "of a configuration file"});

    // Text already in memory: the same limit, and exactly 32 MiB is read.
    std::string text =
        "interfaces: [{name: a, device: d, address: 10.0.0.1/8}]\n"
        "# ";
    text.resize(kMaxFileBytes - 1, 'x');
    text += '\n';
    CHECK(texts(load_config_text(text, "limit.yaml")) == std::vector<std::string>{});
    text += '\n';
    CHECK(texts(load_config_text(text, "over.yaml")) ==
          std::vector<std::string>{"over.yaml: is 33554433 bytes, over the 33554432-byte (32 MiB) "
                                   "limit of a configuration file"});
}

TEST_CASE("at most kMaxYamlNodes nodes, aliases counting what they repeat", "[config]") {
    // A list of 1000 values with an anchor, then aliases to it and single values, to exactly
    // `nodes` nodes: 1 (the file's list) + 1001 (the anchored one) + 1001 per alias + 1 each.
    auto list_of = [](uint64_t nodes) {
        const uint64_t aliases = (nodes - 1) / 1001 - 1;
        const uint64_t singles = (nodes - 1) % 1001;
        std::string text = "[&a [x";
        for (int i = 1; i < 1000; ++i) {
            text += ", x";
        }
        text += "]";
        for (uint64_t i = 0; i < aliases; ++i) {
            text += ", *a";
        }
        for (uint64_t i = 0; i < singles; ++i) {
            text += ", y";
        }
        return text + "]\n";
    };
    CHECK(kMaxYamlNodes == 9466379);
    CHECK(texts(load_config_text(list_of(kMaxYamlNodes), "nodes.yaml")) ==
          std::vector<std::string>{"nodes.yaml:1:1: the file must be a mapping, got a list"});
    const std::string over = list_of(kMaxYamlNodes + 1);
    CHECK(texts(load_config_text(over, "nodes.yaml")) ==
          std::vector<std::string>{
              "nodes.yaml:1:" + std::to_string(over.rfind('y') + 1) +
              ": more than 9466379 YAML nodes (an alias counts as what it repeats): more than "
              "any valid configuration has"});
    CHECK(errors_of("bad_alias_repeats.yaml") ==
          std::vector<std::string>{
              "configs/bad_alias_repeats.yaml:5:37832: more than 9466379 YAML nodes (an alias "
              "counts as what it repeats): more than any valid configuration has"});
    CHECK(errors_of("bad_alias_recursive.yaml") ==
          std::vector<std::string>{
              "configs/bad_alias_recursive.yaml:3:15: an alias inside the node it refers to"});
    CHECK(errors_of("bad_too_deep.yaml") ==
          std::vector<std::string>{"configs/bad_too_deep.yaml:3:1206: YAML syntax error: lists "
                                   "and mappings nested too deep"});
}

TEST_CASE("lists stop at what the dataplane holds", "[config]") {
    CHECK(errors_of("bad_too_many_interfaces.yaml") ==
          std::vector<std::string>{"configs/bad_too_many_interfaces.yaml:11:5: more than 8 "
                                   "interfaces (vsnatd drives at most 8 ports)"});

    std::string eal = "interfaces: [{name: a, device: d, address: 10.0.0.1/8}]\neal:\n";
    for (uint32_t i = 0; i <= kMaxEalArguments; ++i) {  // line 3 + i
        eal += "  - x\n";
    }
    CHECK(texts(load_config_text(eal, "eal.yaml")) ==
          std::vector<std::string>{"eal.yaml:259:5: more than 256 EAL arguments"});

    std::string neighbors = "interfaces: [{name: a, device: d, address: 10.0.0.1/8}]\nneighbors:\n";
    for (uint32_t i = 0; i <= kMaxNeighbors; ++i) {  // line 3 + i
        neighbors += "  - {address: 10.2." + std::to_string(i / 256) + "." +
                     std::to_string(i % 256) + ", mac: \"02:00:00:00:00:01\", interface: a}\n";
    }
    CHECK(texts(load_config_text(neighbors, "neighbors.yaml")) ==
          std::vector<std::string>{
              "neighbors.yaml:4099:5: more than 4096 neighbors (the neighbor table holds 4096)"});

    // One service too many: the one past the limit is not read, so its real server is not
    // counted against kMaxRealServers either.
    CHECK(texts(load_config_text(config_with_services(kMaxServices), "services.yaml")) ==
          std::vector<std::string>{});
    CHECK(texts(load_config_text(config_with_services(kMaxServices + 1), "services.yaml")) ==
          std::vector<std::string>{"services.yaml:65538:5: more than 65535 services"});

    std::string one =
        "interfaces: [{name: a, device: d, address: 10.0.0.1/8}]\n"
        "services:\n"
        "  - {name: s, protocol: tcp, vip: 10.0.0.2, port: 80, real_servers: [\n";
    for (uint32_t i = 0; i <= kMaxRealServers; ++i) {  // line 4 + i
        one += "      {address: 10.3." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
               "},\n";
    }
    one += "    ]}\n";
    CHECK(texts(load_config_text(one, "servers.yaml")) ==
          std::vector<std::string>{
              "servers.yaml:65539:7: more than 65535 real servers in one service"});
}

TEST_CASE("service names fit what telemetry carries", "[config]") {
    CHECK(errors_of("bad_service_name.yaml") ==
          std::vector<std::string>{
              "configs/bad_service_name.yaml:13:11: 'name' must be at most 127 bytes (vsnatctl "
              "reads it over DPDK telemetry, which cuts strings there), got 128"});
}

TEST_CASE("at most 100 errors, then one line for the rest; long values cut short", "[config]") {
    const std::vector<std::string> errors = errors_of("bad_too_many_errors.yaml");
    REQUIRE(errors.size() == kMaxErrors + 1);
    CHECK(errors.front() ==
          "configs/bad_too_many_errors.yaml:3:1: unknown key 'unknown0' in config");
    CHECK(errors[kMaxErrors - 1] ==
          "configs/bad_too_many_errors.yaml:102:1: unknown key 'unknown99' in config");
    CHECK(errors.back() ==
          "configs/bad_too_many_errors.yaml:103:1: ... and 50 more errors, the first of them "
          "here, not shown (at most 100 are)");

    CHECK(texts(load_config_text("interfaces: [{name: a, device: d, address: 10.0.0.1/8}]\n"
                                 "workers: " +
                                     std::string(100, 'w') + "\n",
                                 "long.yaml")) ==
          std::vector<std::string>{"long.yaml:2:10: 'workers' must be an integer in 1..64, got '" +
                                   std::string(64, 'w') + "...' (100 bytes)"});
}

TEST_CASE("reading stops when asked: in the file, the YAML and between services", "[config]") {
    const std::string text = config_with_services(20000);  // about 1.9 MB
    REQUIRE(text.size() > (size_t{1} << 20));
    const std::vector<std::string> stopped{"big.yaml: reading abandoned: the daemon is stopping"};

    uint64_t calls = 0;
    auto count = [&calls] {
        ++calls;
        return false;
    };
    REQUIRE(texts(load_config_text(text, "big.yaml", count)) == std::vector<std::string>{});
    // Asked for every 64 KiB piece of the YAML and for every service.
    const uint64_t pieces = (text.size() + 65535) / 65536;
    CHECK(calls == pieces + 20000);

    auto stop_at = [](uint64_t call) {
        return [call, n = uint64_t{0}]() mutable { return ++n >= call; };
    };
    CHECK(texts(load_config_text(text, "big.yaml", stop_at(1))) == stopped);
    CHECK(texts(load_config_text(text, "big.yaml", stop_at(pieces))) == stopped);
    CHECK(texts(load_config_text(text, "big.yaml", stop_at(pieces + 100))) == stopped);

    const ScratchDir dir;
    const std::string file = dir.file("big.yaml");
    std::ofstream(file) << text;
    CHECK(texts(load_config_file(file, stop_at(1))) ==
          std::vector<std::string>{file + ": reading abandoned: the daemon is stopping"});
    calls = 0;
    CHECK(texts(load_config_file(file, count)) == std::vector<std::string>{});
    CHECK(calls == 3 + pieces + 20000);  // and each MiB read, and the read that finds the end
}

TEST_CASE("unknown, missing and repeated keys are rejected", "[config]") {
    CHECK(errors_of("bad_unknown_key.yaml") ==
          std::vector<std::string>{
              "configs/bad_unknown_key.yaml:14:5: unknown key 'schedular' in service",
              "configs/bad_unknown_key.yaml:16:31: unknown key 'wieght' in real server"});
    CHECK(errors_of("bad_missing_key.yaml") ==
          std::vector<std::string>{
              "configs/bad_missing_key.yaml:3:5: missing key 'device' in interface",
              "configs/bad_missing_key.yaml:9:5: missing key 'vip' in service",
              "configs/bad_missing_key.yaml:13:9: missing key 'address' in real server"});
    CHECK(errors_of("bad_duplicate_key.yaml") ==
          std::vector<std::string>{
              "configs/bad_duplicate_key.yaml:14:5: duplicate key 'port' in service (first at "
              "line 13)"});
}

TEST_CASE("values of the wrong YAML type are rejected", "[config]") {
    CHECK(errors_of("bad_type.yaml") ==
          std::vector<std::string>{
              "configs/bad_type.yaml:2:6: 'eal' must be a list, got '-l 0-1'",
              "configs/bad_type.yaml:3:10: 'workers' must be an integer in 1..64, got 'two'",
              "configs/bad_type.yaml:11:12: 'neighbors' must be a list, got a mapping",
              "configs/bad_type.yaml:15:10: 'vip' must be an IPv4 or IPv6 address (a.b.c.d, "
              "x:x::x), got a list",
              "configs/bad_type.yaml:16:5: 'port' must be an integer in 1..65535, got nothing",
              "configs/bad_type.yaml:18:9: each entry of 'real_servers' must be a mapping, got "
              "'198.19.0.2'"});
}

TEST_CASE("bad IPv4 addresses and prefixes are rejected", "[config]") {
    const std::string address = "must be an IPv4 or IPv6 address (a.b.c.d, x:x::x), got ";
    CHECK(errors_of("bad_address.yaml") ==
          std::vector<std::string>{
              "configs/bad_address.yaml:12:10: 'vip' " + address + "'198.18.0.300'",
              "configs/bad_address.yaml:15:19: 'address' " + address + "'198.19.0'",
              "configs/bad_address.yaml:16:19: 'address' " + address + "'198.19.0.010'"});
    const std::string prefix =
        "must be an IPv4 or IPv6 address with prefix length (a.b.c.d/0..32, x:x::x/0..128), got ";
    CHECK(errors_of("bad_prefix.yaml") ==
          std::vector<std::string>{
              "configs/bad_prefix.yaml:5:14: 'address' " + prefix + "'198.18.0.254/33'",
              "configs/bad_prefix.yaml:8:14: 'address' " + prefix + "'198.19.0.1'"});
}

TEST_CASE("ports outside 1..65535 and weights outside 0..65535 are rejected", "[config]") {
    CHECK(errors_of("bad_port.yaml") ==
          std::vector<std::string>{
              "configs/bad_port.yaml:13:11: 'port' must be an integer in 1..65535, got '0'",
              "configs/bad_port.yaml:15:37: 'port' must be an integer in 1..65535, got '65536'",
              "configs/bad_port.yaml:16:37: 'port' must be an integer in 1..65535, got '-1'"});
    CHECK(errors_of("bad_weight.yaml") ==
          std::vector<std::string>{
              "configs/bad_weight.yaml:15:39: 'weight' must be an integer in 0..65535, got '65536'",
              "configs/bad_weight.yaml:16:39: 'weight' must be an integer in 0..65535, got '-1'"});
}

TEST_CASE("unknown idle, protocol, scheduler and helper names are rejected", "[config]") {
    CHECK(errors_of("bad_enum.yaml") ==
          std::vector<std::string>{
              "configs/bad_enum.yaml:2:7: 'idle' must be one of poll, adaptive, got 'busy'",
              "configs/bad_enum.yaml:12:15: 'protocol' must be one of tcp, udp, got 'sctp'",
              "configs/bad_enum.yaml:15:16: 'scheduler' must be one of rr, wrr, lc, wlc, sed, nq, "
              "sh, dh, mh, fo, got 'WRR'",
              "configs/bad_enum.yaml:16:13: 'helper' must be one of none, ftp, got 'http'"});
    CHECK(errors_of("bad_helper_protocol.yaml") ==
          std::vector<std::string>{
              "configs/bad_helper_protocol.yaml:14:13: helper 'ftp' needs protocol tcp"});
}

TEST_CASE("reverse path, reject rate, table shares, MTU and fragments take only their ranges",
          "[config]") {
    CHECK(errors_of("bad_hostile_input_keys.yaml") ==
          std::vector<std::string>{
              "configs/bad_hostile_input_keys.yaml:2:15: 'reverse_path' must be one of strict, "
              "loose, off, got 'on'",
              "configs/bad_hostile_input_keys.yaml:3:14: 'reject_rate' must be an integer in "
              "0..1000000, got '-1'",
              "configs/bad_hostile_input_keys.yaml:4:26: 'protocol' must be a percentage "
              "1%..100%, got '0%'",
              "configs/bad_hostile_input_keys.yaml:4:45: 'source_prefix' must be a percentage "
              "1%..100%, got '150%'",
              "configs/bad_hostile_input_keys.yaml:5:38: 'source_prefix_length' must be an "
              "integer in 1..32, got '33'",
              "configs/bad_hostile_input_keys.yaml:10:10: 'mtu' must be an integer in 576..2034, "
              "got '9000'",
              "configs/bad_hostile_input_keys.yaml:15:12: 'fragments' must be one of forward, "
              "drop, got 'reassemble'"});
}

TEST_CASE("workers must be 1..64 and max_connections above 0", "[config]") {
    CHECK(errors_of("bad_workers.yaml") ==
          std::vector<std::string>{
              "configs/bad_workers.yaml:2:10: 'workers' must be an integer in 1..64, got '0'"});
    CHECK(errors_of("bad_workers_many.yaml") ==
          std::vector<std::string>{
              "configs/bad_workers_many.yaml:2:10: 'workers' must be an integer in 1..64, got "
              "'65'"});
    CHECK(errors_of("bad_max_connections.yaml") ==
          std::vector<std::string>{
              "configs/bad_max_connections.yaml:2:18: 'max_connections' must be an integer in "
              "1..4294967295, got '0'"});
}

TEST_CASE("timeouts must be durations above zero; persistence a duration", "[config]") {
    const std::string forms = "(like 60s, 15m, 2h, 1d; a bare number is seconds)";
    CHECK(errors_of("bad_timeout.yaml") ==
          std::vector<std::string>{
              "configs/bad_timeout.yaml:10:12: 'tcp_syn' must be a duration of at least 1s " +
                  forms + ", got '0'",
              "configs/bad_timeout.yaml:11:20: 'tcp_established' must be a duration of at least "
              "1s " +
                  forms + ", got '0s'",
              "configs/bad_timeout.yaml:12:12: 'tcp_fin' must be a duration of at least 1s " +
                  forms + ", got '1w'",
              "configs/bad_timeout.yaml:13:8: 'udp' must be a duration of at least 1s " + forms +
                  ", got '5 minutes'",
              "configs/bad_timeout.yaml:14:3: unknown key 'icmp' in timeouts"});
    CHECK(errors_of("bad_persistence.yaml") ==
          std::vector<std::string>{"configs/bad_persistence.yaml:14:18: 'persistence' must be a "
                                   "duration " +
                                   forms + ", got 'yes'"});
}

TEST_CASE("persistence_netmask: a contiguous mask or a prefix length, with persistence",
          "[config]") {
    const std::string expected = "a netmask a.b.c.d with contiguous ones, or a prefix length 0..32";
    CHECK(errors_of("bad_persistence_netmask.yaml") ==
          std::vector<std::string>{
              "configs/bad_persistence_netmask.yaml:12:27: 'persistence_netmask' must be " +
                  expected + ", got '255.0.255.0'",
              "configs/bad_persistence_netmask.yaml:14:27: 'persistence_netmask' must be " +
                  expected + ", got '33'",
              "configs/bad_persistence_netmask.yaml:16:27: 'persistence_netmask' needs "
              "'persistence' above 0s",
              "configs/bad_persistence_netmask.yaml:18:27: 'persistence_netmask' needs "
              "'persistence' above 0s",
              "configs/bad_persistence_netmask.yaml:19:72: 'persistence' must be at most 24d, "
              "got '25d'"});
    for (auto [text, prefix] : {std::pair{"0", 0},
                                {"/0", 0},
                                {"0.0.0.0", 0},
                                {"32", 32},
                                {"255.255.255.255", 32},
                                {"255.255.128.0", 17},
                                {"/8", 8}}) {
        LoadResult r = load_config_text(
            "interfaces: [{name: a, device: d, address: 10.0.0.1/24}]\n"
            "services: [{name: s, protocol: tcp, vip: 10.0.0.2, port: 80, persistence: 24d,\n"
            "            persistence_netmask: \"" +
                std::string(text) + "\", real_servers: [{address: 10.0.0.3}]}]\n",
            "inline.yaml");
        INFO(text);
        REQUIRE(texts(r) == std::vector<std::string>{});
        CHECK(r.config->services[0].persistence_prefix == prefix);
        CHECK(r.config->services[0].persistence == kMaxPersistence);
    }
}

TEST_CASE("connection thresholds: 0..2^31, min_connections within max_connections", "[config]") {
    const std::string range = "must be an integer in 0..2147483648";
    const std::string needs_max =
        "'min_connections' needs 'max_connections' above 0 (it is where a server overloaded at "
        "max_connections takes connections again)";
    CHECK(
        errors_of("bad_thresholds.yaml") ==
        std::vector<std::string>{
            "configs/bad_thresholds.yaml:16:48: 'max_connections' " + range + ", got '2147483649'",
            "configs/bad_thresholds.yaml:17:48: " + needs_max,
            "configs/bad_thresholds.yaml:18:69: 'min_connections' (11) must not exceed "
            "'max_connections' (10)",
            "configs/bad_thresholds.yaml:19:68: " + needs_max,
            "configs/bad_thresholds.yaml:20:48: 'max_connections' " + range + ", got '-1'",
            "configs/bad_thresholds.yaml:21:70: 'min_connections' " + range + ", got '1.5'"});
}

TEST_CASE("at most 65535 real servers in all services together", "[config]") {
    // Real server ids are 16 bits and a reload needs a free one.
    auto config_with = [](uint32_t servers) {
        std::string text =
            "interfaces: [{name: a, device: d, address: 10.0.0.1/8}]\n"
            "services:\n"
            "  - {name: s, protocol: tcp, vip: 10.0.0.2, port: 80, real_servers: [{address: "
            "10.0.0.3}]}\n"
            "  - name: t\n"
            "    protocol: tcp\n"
            "    vip: 10.0.0.2\n"
            "    port: 81\n"
            "    real_servers:\n";
        for (uint32_t i = 1; i < servers; ++i) {  // line 8 + i
            text += "      - {address: 10." + std::to_string(1 + i / 65536) + "." +
                    std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + "}\n";
        }
        return load_config_text(text, "many.yaml");
    };
    CHECK(texts(config_with(kMaxRealServers)) == std::vector<std::string>{});
    CHECK(texts(config_with(kMaxRealServers + 1)) ==
          std::vector<std::string>{"many.yaml:65543:9: more than 65535 real servers in all "
                                   "services together"});
}

TEST_CASE("duplicate services, names and interfaces point back at the first", "[config]") {
    CHECK(errors_of("bad_duplicate_service.yaml") ==
          std::vector<std::string>{
              "configs/bad_duplicate_service.yaml:22:5: duplicate service tcp 198.18.0.100:80 "
              "(first at line 10)"});
    CHECK(errors_of("bad_duplicate_service_name.yaml") ==
          std::vector<std::string>{
              "configs/bad_duplicate_service_name.yaml:16:11: duplicate service name 'web' (first "
              "at line 10)"});
    CHECK(errors_of("bad_duplicate_interface.yaml") ==
          std::vector<std::string>{
              "configs/bad_duplicate_interface.yaml:6:11: duplicate interface name 'inside' "
              "(first at line 3)",
              "configs/bad_duplicate_interface.yaml:7:13: duplicate interface device 'net_null0' "
              "(first at line 4)"});
}

TEST_CASE("names refuse control characters, shown escaped; quotes and backslashes stay",
          "[config]") {
    CHECK(errors_of("bad_control_name.yaml") ==
          std::vector<std::string>{
              "configs/bad_control_name.yaml:4:11: 'name' must not contain control characters, "
              "got 'out\\x09side'",
              "configs/bad_control_name.yaml:11:64: 'interface' must not contain control "
              "characters, got 'in\\xc2\\x85side'",
              "configs/bad_control_name.yaml:13:11: 'name' must not contain control characters, "
              "got 'web\"} 1\\x0avsnat_injected_total{x=\"y\"} 42\\x0a#'",
              "configs/bad_control_name.yaml:19:11: 'name' must not contain control characters, "
              "got 'red\\x1b[31m\\x7f'"});
    LoadResult r = load_config_text(
        "interfaces: [{name: 'out \"side\" \\', device: net_null0, address: 10.0.0.1/24}]\n"
        "services: [{name: 'web \"a\" \\b\\', protocol: tcp, vip: 10.0.0.5, port: 80,\n"
        "             real_servers: [{address: 10.0.0.2}]}]\n",
        "quotes.yaml");
    REQUIRE(texts(r) == std::vector<std::string>{});
    CHECK(r.config->interfaces[0].name == "out \"side\" \\");
    CHECK(r.config->services[0].name == "web \"a\" \\b\\");
}

TEST_CASE("kernel mirrors: names Linux takes, unique, a known kernel_type", "[config]") {
    CHECK(errors_of("bad_kernel_names.yaml") ==
          std::vector<std::string>{
              "configs/bad_kernel_names.yaml:3:15: 'kernel_netns' must be a network namespace "
              "name: at most 255 bytes, no '/' or whitespace, not '.' or '..', got '../etc'",
              "configs/bad_kernel_names.yaml:8:13: 'kernel' must be a Linux interface name: at "
              "most 15 bytes, no '/' or whitespace, not '.' or '..', got 'vsnat-outside-mirror'",
              "configs/bad_kernel_names.yaml:12:13: 'kernel' must be a Linux interface name: at "
              "most 15 bytes, no '/' or whitespace, not '.' or '..', got 'in side'",
              "configs/bad_kernel_names.yaml:16:13: 'kernel' must be a Linux interface name: at "
              "most 15 bytes, no '/' or whitespace, not '.' or '..', got 'vsk/3'",
              "configs/bad_kernel_names.yaml:24:13: duplicate kernel mirror name 'vsk-dup' "
              "(first at line 20)",
              "configs/bad_kernel_names.yaml:28:13: 'kernel' must be a Linux interface name: at "
              "most 15 bytes, no '/' or whitespace, not '.' or '..', got '..'"});
    const std::vector<std::string> type_errors{
        "configs/bad_kernel_type.yaml:8:18: 'kernel_type' must be one of tap, virtio_user, got "
        "'kni'",
        "configs/bad_kernel_type.yaml:13:18: kernel_type virtio_user needs /dev/vhost-net, which "
        "this machine does not have (load the vhost_net module, or use kernel_type: tap)",
        "configs/bad_kernel_type.yaml:17:18: kernel_type without kernel: name the mirror "
        "interface too"};
    const auto no_vhost_net = [] { return false; };
    CHECK(texts(load_config_file("configs/bad_kernel_type.yaml", {}, no_vhost_net)) == type_errors);
}

TEST_CASE("kernel_type defaults to virtio_user where vhost-net is, else tap", "[config]") {
    const std::string text =
        "interfaces: [{name: outside, device: net_null0, address: 198.18.0.254/24, "
        "kernel: vsk-out}]\n";
    const auto kernel_type = [&](bool vhost_net) {
        LoadResult r = load_config_text(text, "default.yaml", {}, [=] { return vhost_net; });
        REQUIRE(r.config.has_value());
        return r.config->interfaces[0].kernel_type;
    };
    CHECK(kernel_type(false) == KernelType::tap);
    CHECK(kernel_type(true) == KernelType::virtio_user);
    const std::string virtio =
        "interfaces: [{name: outside, device: net_null0, address: "
        "198.18.0.254/24, kernel: vsk-out, kernel_type: virtio_user}]\n";
    CHECK(load_config_text(virtio, "virtio.yaml", {}, [] { return true; }).config.has_value());
}

TEST_CASE("real servers: at least one, no repeats, reachable", "[config]") {
    CHECK(errors_of("bad_no_real_servers.yaml") ==
          std::vector<std::string>{
              "configs/bad_no_real_servers.yaml:14:19: 'real_servers' must list at least one real "
              "server",
              "configs/bad_no_real_servers.yaml:15:5: missing key 'real_servers' in service"});
    CHECK(errors_of("bad_duplicate_real_server.yaml") ==
          std::vector<std::string>{
              "configs/bad_duplicate_real_server.yaml:17:9: duplicate real server 198.19.0.2:80 "
              "(first at line 15)"});
    CHECK(errors_of("bad_unreachable.yaml") ==
          std::vector<std::string>{
              "configs/bad_unreachable.yaml:16:19: real server 203.0.113.7 is in no interface's "
              "prefix and no interface has a gateway"});
}

TEST_CASE("neighbors need a known interface and a MAC aa:bb:cc:dd:ee:ff", "[config]") {
    CHECK(errors_of("bad_neighbor.yaml") ==
          std::vector<std::string>{
              "configs/bad_neighbor.yaml:10:64: unknown interface 'dmz'",
              "configs/bad_neighbor.yaml:11:32: 'mac' must be a MAC address aa:bb:cc:dd:ee:ff, got "
              "'02-00-00-00-00-03'",
              "configs/bad_neighbor.yaml:12:32: 'mac' must be a MAC address aa:bb:cc:dd:ee:ff, got "
              "'02:00:00:00:00'"});
}

TEST_CASE("a gateway must be on its interface's link", "[config]") {
    CHECK(errors_of("bad_gateway.yaml") ==
          std::vector<std::string>{
              "configs/bad_gateway.yaml:6:14: gateway 198.19.0.254 is outside 198.18.0.254/24 of "
              "interface 'outside'",
              "configs/bad_gateway.yaml:10:14: gateway 198.19.0.1 is the address of interface "
              "'inside' itself"});
}

TEST_CASE("a VIP or real server must not be the director's own address", "[config]") {
    CHECK(errors_of("bad_vip_own_address.yaml") ==
          std::vector<std::string>{
              "configs/bad_vip_own_address.yaml:12:10: vip 198.18.0.254 is the address of "
              "interface 'outside'",
              "configs/bad_vip_own_address.yaml:15:19: real server 198.19.0.1 is the address of "
              "interface 'inside'"});
}

TEST_CASE("a file with several mistakes reports all of them in file order", "[config]") {
    CHECK(errors_of("bad_many.yaml") ==
          std::vector<std::string>{
              "configs/bad_many.yaml:2:10: 'workers' must be an integer in 1..64, got '0'",
              "configs/bad_many.yaml:12:64: unknown interface 'lan'",
              "configs/bad_many.yaml:13:21: 'tcp_syn' must be a duration of at least 1s (like "
              "60s, 15m, 2h, 1d; a bare number is seconds), got '0'",
              "configs/bad_many.yaml:19:16: 'scheduler' must be one of rr, wrr, lc, wlc, sed, nq, "
              "sh, dh, mh, fo, got 'fastest'",
              "configs/bad_many.yaml:21:39: 'weight' must be an integer in 0..65535, got '100000'",
              "configs/bad_many.yaml:22:37: 'port' must be an integer in 1..65535, got '0'",
              "configs/bad_many.yaml:23:5: duplicate service tcp 198.18.0.100:80 (first at line "
              "15)",
              "configs/bad_many.yaml:23:11: duplicate service name 'web' (first at line 15)",
              "configs/bad_many.yaml:27:5: unknown key 'colour' in service"});
}

TEST_CASE("every good_ file loads and every bad_ file fails", "[config]") {
    // The end-to-end `vsnatd --check` test relies on this naming convention.
    size_t good = 0;
    size_t bad = 0;
    for (const auto& entry : std::filesystem::directory_iterator("configs")) {
        std::string name = entry.path().filename().string();
        LoadResult r = load_config_file(entry.path().string());
        INFO(name);
        if (name.starts_with("good_")) {
            CHECK(r.config.has_value());
            CHECK(r.errors.empty());
            ++good;
        } else if (name.starts_with("bad_")) {
            CHECK_FALSE(r.config.has_value());
            CHECK_FALSE(r.errors.empty());
            ++bad;
        }
    }
    CHECK(good >= 2);
    CHECK(bad >= 25);
}

TEST_CASE("hostile input yields errors, never an exception", "[config]") {
    const std::vector<std::string> inputs = {
        "\t",
        "[",
        "a: *undefined",
        "? [a, b]\n: c\n",
        std::string(200, '[') + std::string(200, ']'),
        "interfaces: !!binary x",
        "interfaces: [{name: [x], device: {}, address: ~}]",
    };
    for (const std::string& text : inputs) {
        INFO(text);
        LoadResult r;
        CHECK_NOTHROW(r = load_config_text(text, "hostile.yaml"));
        CHECK_FALSE(r.config.has_value());
        CHECK_FALSE(r.errors.empty());
    }
}

TEST_CASE("name and address helpers", "[config]") {
    CHECK(scheduler_name(Scheduler::rr) == "rr");
    CHECK(scheduler_name(Scheduler::wrr) == "wrr");
    CHECK(scheduler_name(Scheduler::wlc) == "wlc");
    CHECK(scheduler_name(Scheduler::mh) == "mh");
    CHECK(scheduler_name(Scheduler::fo) == "fo");
    CHECK(protocol_name(Protocol::udp) == "udp");
    CHECK(helper_name(Helper::ftp) == "ftp");
    CHECK(idle_mode_name(IdleMode::poll) == "poll");
    CHECK(address_ownership_name(AddressOwnership::always) == "always");
    CHECK(address_ownership_name(AddressOwnership::follow_kernel) == "follow_kernel");

    CHECK(format_ipv4(ip(202, 103, 106, 5)) == "202.103.106.5");
    CHECK(format_ipv4(0) == "0.0.0.0");
    CHECK(format_ipv4(0xffffffff) == "255.255.255.255");
    CHECK(format_mac(MacAddress{0x02, 0x00, 0x5e, 0xab, 0xcd, 0xef}) == "02:00:5e:ab:cd:ef");

    CHECK(parse_ipv4("172.16.0.3") == ip(172, 16, 0, 3));
    CHECK(parse_ipv4("0.0.0.0") == ip(0, 0, 0, 0));
    for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "1.2.3.256", "01.2.3.4", "1.2.3.-4", "1..3.4",
                            " 1.2.3.4", "1.2.3.4 ", "a.b.c.d", "1.2.3.4/24"}) {
        INFO(bad);
        CHECK_FALSE(parse_ipv4(bad).has_value());
    }
}

TEST_CASE("metrics: loopback 9640 by default, another ADDRESS:PORT, or off", "[config]") {
    const std::string base = "interfaces: [{name: o, device: d0, address: 198.18.0.254/24}]\n";
    auto load = [&base](const std::string& extra) {
        return load_config_text(base + extra, "m.yaml");
    };
    LoadResult r = load("");
    REQUIRE(r.config);
    REQUIRE(r.config->metrics);
    CHECK(format_ipv4(r.config->metrics->address) == "127.0.0.1");
    CHECK(r.config->metrics->port == 9640);
    r = load("metrics: 198.18.0.254:9100\n");
    REQUIRE(r.config);
    CHECK(format_ipv4(r.config->metrics->address) == "198.18.0.254");
    CHECK(r.config->metrics->port == 9100);
    r = load("metrics: off\n");
    REQUIRE(r.config);
    CHECK_FALSE(r.config->metrics.has_value());
    CHECK(texts(load("metrics: 127.0.0.1:70000\n")) ==
          std::vector<std::string>{"m.yaml:2:10: 'metrics' must be ADDRESS:PORT (e.g. "
                                   "127.0.0.1:9640) or off, got '127.0.0.1:70000'"});
    CHECK(texts(load("metrics: localhost:80\n")).size() == 1);
}
