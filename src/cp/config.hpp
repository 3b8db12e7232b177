// The configuration file (config/README.md): the only place that knows YAML.
#pragma once

#include <algorithm>
#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cp/address.hpp"
#include "vsnat/types.hpp"

namespace vsnat::cp {

enum class IdleMode : uint8_t { poll, adaptive };

enum class Scheduler : uint8_t { rr, wrr, lc, wlc, sed, nq, sh, dh, mh, fo };

enum class Helper : uint8_t { none, ftp };

/// What happens to connections to a real server a reload removed: they finish normally, or are
/// dropped at once (LVS's expire_nodest_conn).
enum class Drain : uint8_t { finish, drop };

/// Reverse-path filtering of what arrives (RFC 3704, Linux's rp_filter): `strict` takes a packet
/// only on the interface the director would send its reply out of, `loose` from any source the
/// director has a route to, `off` from anywhere.
enum class ReversePath : uint8_t { strict, loose, off };

/// What becomes of IPv4 and IPv6 fragments through the director (README.md, "Fragments").
enum class Fragments : uint8_t { forward, drop };

/// The most of each worker's connection table one protocol, and the clients of one source
/// prefix, may hold: a flood of one kind cannot take the whole table.
struct TableShares {
    uint32_t protocol_percent = 90;       // tcp or udp
    uint32_t source_prefix_percent = 50;  // one source_prefix_length prefix of clients
    uint8_t source_prefix_length = 24;

    bool operator==(const TableShares&) const = default;
};

/// How a port's kernel mirror is made (README.md, "The kernel side of the director"): a TAP
/// interface (DPDK's net_tap), or virtio-user over the kernel's vhost-net.
enum class KernelType : uint8_t { tap, virtio_user };

/// Where vhost-net is; a mirror of kernel_type virtio_user needs it.
constexpr const char* kVhostNetPath = "/dev/vhost-net";

/// An IPv4 address with a prefix length, as the file writes it ("172.16.0.1/16").
struct Prefix {
    Ipv4 address = 0;
    uint8_t length = 0;

    bool operator==(const Prefix&) const = default;
};

/// An interface's `address` list: its one IPv4 address and at most 4 IPv6 ones (IPv6 addresses
/// (Prefix6) are in vsnat/types.hpp; 4: what the dataplane's interfaces hold, dp::kMaxAddresses6).
constexpr uint32_t kMaxInterfaceAddresses6 = 4;
constexpr uint32_t kMaxInterfaceAddresses = 1 + kMaxInterfaceAddresses6;
/// An interface's `gateway` list: one per family at most.
constexpr uint32_t kMaxInterfaceGateways = 2;

struct Interface {
    std::string name;
    std::string device;  // PCI address or vdev string
    Ipv4 address = 0;    // the director's own IPv4 address on this link: `address`'s only one
    uint8_t prefix_len = 0;
    std::optional<Ipv4> gateway;  // next hop for IPv4 destinations outside every connected prefix
    uint16_t mtu = 1500;          // the largest IP datagram sent on this link
    /// The kernel mirror interface's name (at most 15 bytes, as Linux allows); empty: none.
    std::string kernel{};
    /// As written, or the default: virtio_user where kVhostNetPath exists, else tap.
    KernelType kernel_type = KernelType::tap;
    /// Addresses the director serves on this link besides its own, which VRRP (keepalived)
    /// moves between the two directors of a pair: the real servers' gateway. Each inside one of
    /// the interface's prefixes, with its length; at most kMaxFloating of both families
    /// together: the IPv4 ones here, the IPv6 ones in `floating6`.
    std::vector<Prefix> floating{};
    std::vector<Prefix6> floating6{};
    /// The director's own IPv6 addresses on this link and their connected prefixes, as `address`
    /// lists them after its IPv4 one: global or unique-local unicast, at most
    /// kMaxInterfaceAddresses6.
    std::vector<Prefix6> addresses6{};
    /// Next hop for IPv6 destinations outside every connected prefix: in one of `addresses6`'s
    /// prefixes, or link-local (fe80::/10).
    std::optional<Ipv6> gateway6{};
};

/// Which of the addresses a pair of directors shares (the VIPs and the interfaces' `floating`)
/// this director serves, answering ARP for them and taking their traffic: all of them always,
/// or each only while a kernel mirror holds it (where VRRP adds it on the master and removes
/// it on the backup).
enum class AddressOwnership : uint8_t { always, follow_kernel };

/// IPVS's sync defaults (linux/ip_vs.h, ip_vs_sync.c): multicast group 224.0.0.81, port 8848.
constexpr Ipv4 kDefaultSyncGroup = 0xe0000051;
constexpr uint16_t kDefaultSyncPort = 8848;

/// Connection sync between the directors of a pair, IPVS's sync protocol version 1 on the wire.
struct SyncConfig {
    std::string interface;      // an interface's `name`; its kernel mirror carries the datagrams
    std::optional<Ipv4> group;  // multicast, kDefaultSyncGroup unless `peers` are given instead
    std::vector<Ipv4> peers;    // unicast to each of these instead of a group
    uint16_t port = kDefaultSyncPort;
    /// Stamped on what this director sends; what it receives is taken only with the same
    /// syncid, or any when 0 (IPVS's meaning of 0 on the backup).
    uint8_t syncid = 0;

    bool operator==(const SyncConfig&) const = default;
};

/// The directors of a pair (keepalived's VRRP moving the addresses, IPVS sync the connections).
struct HaConfig {
    AddressOwnership addresses = AddressOwnership::always;
    std::optional<SyncConfig> sync;  // none: connections are not synced

    bool operator==(const HaConfig&) const = default;
};

/// The MTUs an interface may have: IPv4's minimum, and what one 2 KiB packet buffer holds
/// (a larger frame would need chained buffers, which vsnat does not take).
constexpr uint16_t kMinMtu = 576;
constexpr uint16_t kMaxMtu = 2034;

struct Neighbor {
    IpAddress address;
    MacAddress mac{};
    std::string interface;
};

/// Per-state timeouts in seconds. Defaults: the seed's for SYN, ESTABLISHED, FIN and UDP; LVS's
/// (ip_vs_proto_tcp.c tcp_timeouts) for the other states.
struct Timeouts {
    uint32_t tcp_syn = 60;
    uint32_t tcp_established = 15 * 60;
    uint32_t tcp_fin = 60;
    uint32_t tcp_time_wait = 120;
    uint32_t tcp_close = 10;
    uint32_t tcp_close_wait = 60;
    uint32_t tcp_last_ack = 30;
    uint32_t tcp_listen = 120;
    uint32_t tcp_synack = 120;
    uint32_t tcp_none = 2;
    uint32_t udp = 5 * 60;
};

/// How a real server is checked (README.md, "Health checks"; keys in config/README.md).
enum class CheckType : uint8_t { tcp, http, udp, exec };

/// What a real server that goes down loses: new connections only, or its connections too.
enum class OnDown : uint8_t { quiesce, drop };

/// A health check as it applies to one real server: the service's `health_check` with the real
/// server's override laid over it (a key of the override replaces the service's; an override of
/// another type keeps only the service's keys every type has).
struct HealthCheck {
    CheckType type = CheckType::tcp;
    uint32_t interval_ms = 2000;
    uint32_t timeout_ms = 1000;        // at most interval_ms
    uint32_t rise = 2;                 // consecutive successes that bring a down server up
    uint32_t fall = 2;                 // consecutive failures that take an up server down
    uint16_t port = 0;                 // 0: the real server's port
    std::string path;                  // http: the path of the GET
    uint16_t expect_status = 200;      // http
    std::string payload;               // udp: the datagram sent (may be empty)
    std::vector<std::string> command;  // exec: argv; %address and %port replaced
    bool start_down = false;           // `start: down`: down until `rise` successes
    bool passive = false;              // also watch whether the server answers new connections

    bool operator==(const HealthCheck&) const = default;
    auto operator<=>(const HealthCheck&) const = default;  // the health checker's map key
};

/// Where a service's new connections go while none of its real servers is up.
struct SorryServer {
    IpAddress address;  // of the service's family
    uint16_t port = 0;  // 0: the service's port

    bool operator==(const SorryServer&) const = default;
};

struct RealServer {
    IpAddress address;  // of the service's family: NAT44 or NAT66
    uint16_t port = 0;
    uint32_t weight = 1;  // 0..65535; 0 quiesces
    /// LVS's connection thresholds (ipvsadm -x / -y), 0..2^31, 0 = none: at max_connections
    /// (active + inactive) the server takes no new connections until it is back below
    /// min_connections (or 3/4 of max_connections when min_connections is 0).
    uint32_t max_connections = 0;
    uint32_t min_connections = 0;
    /// The check this server gets (the service's, overridden); none: not checked, always up.
    std::optional<HealthCheck> health_check{};
};

struct Service {
    std::string name;
    Protocol protocol = Protocol::tcp;
    IpAddress vip;  // IPv4 or IPv6: its real servers and sorry server are of its family
    uint16_t port = 0;
    Scheduler scheduler = Scheduler::wrr;
    uint32_t persistence = 0;  // seconds; 0 = off; at most kMaxPersistence
    /// persistence_netmask as a prefix length: 0..32, default 32, for an IPv4 service; 0..128,
    /// default 128, for an IPv6 one.
    uint8_t persistence_prefix = 32;
    Helper helper = Helper::none;
    std::optional<Drain> drain;  // unset: the global `drain`
    OnDown on_down = OnDown::quiesce;
    std::optional<SorryServer> sorry_server{};
    std::vector<RealServer> real_servers;
    /// The service's own `health_check`, as written with the defaults; what each real server
    /// gets is its RealServer::health_check. Kept for `vsnatd --check` and the logs.
    std::optional<HealthCheck> health_check{};
};

/// The longest persistence: templates' expiries are compared on a 32-bit millisecond clock.
constexpr uint32_t kMaxPersistence = 24 * 86400;

// Limits of the file (README.md, "Limits of the configuration file"): each bounds what reading
// a mistaken or hostile file can cost, and none is below what the dataplane can hold.

/// Bytes in the file. A file of 65,535 services, each with one real server, weighs 11 MB
/// written one key a line, 22 MB with every optional key but the health checks' (which YAML
/// aliases repeat for 1 MB more): this leaves room for comments.
constexpr size_t kMaxFileBytes = size_t{32} << 20;
/// Real servers in all services together: each gets a 16-bit id, and a reload needs one free.
constexpr uint32_t kMaxRealServers = 65535;
/// Services: each needs a real server, and service ids are 16 bits too.
constexpr uint32_t kMaxServices = kMaxRealServers;
/// Static neighbors: the neighbor table the workers read holds 4096 entries
/// (NeighborResolver's dp::NeighborTable).
constexpr uint32_t kMaxNeighbors = 4096;
/// Interfaces: vsnatd drives at most 8 DPDK ports (dp::kMaxPorts).
constexpr uint32_t kMaxInterfaces = 8;
/// Floating addresses on one interface: the real servers' gateway is one; 16 is far more than a
/// pair of directors uses.
constexpr uint32_t kMaxFloating = 16;
/// Unicast sync peers: a pair of directors needs one.
constexpr uint32_t kMaxSyncPeers = 16;
/// EAL arguments: far more than any EAL command line needs.
constexpr uint32_t kMaxEalArguments = 256;
/// Bytes in a service name: vsnatctl reads names over DPDK 22.11 telemetry, which cuts strings
/// at RTE_TEL_MAX_STRING_LEN (128) bytes with their NUL.
constexpr size_t kMaxServiceNameBytes = 127;
/// Arguments in a health check's `command`, the program included: far more than a check needs.
constexpr uint32_t kMaxCheckArguments = 32;
/// Bytes in a udp check's `payload`: one datagram, unfragmented on a 1500-byte link.
constexpr size_t kMaxCheckPayloadBytes = 1400;
/// Nodes under a `health_check` mapping at most: an exec check's 9 keys with their values and
/// its command's arguments (the largest check: an http one has 10 keys and no list).
constexpr uint64_t kMaxCheckNodes = 9 * 2 + kMaxCheckArguments;
/// YAML nodes (values, lists and mappings; an alias counts as what it repeats): as many as the
/// largest file the limits above allow has with every optional key written: the file's mapping
/// with its 17 keys and their values, 11 timeouts, 3 table shares, ha's 2 and its sync's 4 (of
/// 5: group or peers, not both) with the peers, and per entry of each list a mapping with its
/// keys and values (an interface 8 with its floating addresses, and its addresses and gateways
/// written as lists, a neighbor 3, a service 13 with its health_check and its sorry_server's 2,
/// a real server 6 with its health_check). config.cpp checks these counts against the keys it
/// reads.
constexpr uint64_t kMaxYamlNodes =
    1 + 17 * 2 + 11 * 2 + 3 * 2 + 2 * 2 + (4 * 2 + kMaxSyncPeers) + kMaxEalArguments +
    kMaxInterfaces * (1 + 8 * 2 + kMaxFloating + kMaxInterfaceAddresses + kMaxInterfaceGateways) +
    kMaxNeighbors * (1 + 3 * 2) + kMaxServices * (1 + 13 * 2 + kMaxCheckNodes + 2 * 2) +
    kMaxRealServers * (1 + 6 * 2 + kMaxCheckNodes);
/// Errors reported for one file; one more line says how many were left out.
constexpr size_t kMaxErrors = 100;

/// Where the Prometheus endpoint listens.
struct MetricsEndpoint {
    Ipv4 address = 0x7f000001;  // 127.0.0.1
    uint16_t port = 9640;

    bool operator==(const MetricsEndpoint&) const = default;
};

struct Config {
    std::vector<std::string> eal;
    uint32_t workers = 1;
    uint32_t max_connections = 1u << 20;
    IdleMode idle = IdleMode::adaptive;
    // Packet buffers in the mbuf pool; 0 = sized from ports and workers. A larger value is for
    // ports that hold many buffers themselves (net_pcap infinite_rx keeps its whole file).
    uint32_t packet_buffers = 0;
    Drain drain = Drain::finish;  // for services that do not say
    ReversePath reverse_path = ReversePath::strict;
    Fragments fragments = Fragments::forward;
    /// Replies per second and per worker to connection attempts on VIP ports without a service:
    /// TCP resets, and ICMP port unreachables, each kind its own budget. 0: none are sent.
    uint32_t reject_rate = 1000;
    TableShares table_shares;
    /// The network namespace that holds the kernel mirrors (created when missing); empty:
    /// vsnatd's own.
    std::string kernel_netns;
    std::optional<MetricsEndpoint> metrics = MetricsEndpoint{};  // nullopt: `metrics: off`
    std::vector<Interface> interfaces;
    HaConfig ha;
    std::vector<Neighbor> neighbors;
    Timeouts timeouts;
    std::vector<Service> services;
};

/// Whether the director does IPv6: some interface has an IPv6 address. Any thread.
inline bool ipv6_configured(const Config& config) {
    return std::any_of(config.interfaces.begin(), config.interfaces.end(),
                       [](const Interface& i) { return !i.addresses6.empty(); });
}

/// What a pair of directors shares, and `ha.addresses` says when this one serves: every VIP and
/// every interface's floating addresses, of both families, each once. Any thread.
std::set<IpAddress> shared_addresses(const Config& config);

/// One problem in a config file, printed as `FILE:LINE:COL: message` (LINE and COL from 1), or
/// as `FILE: message` when it is about the file as a whole (line 0: not a regular file, too big).
struct ConfigError {
    std::string file;
    int line = 0;
    int column = 0;
    std::string message;

    std::string to_string() const;
};

/// Either a complete, valid config, or every error found in the file (never a partial config).
struct LoadResult {
    std::optional<Config> config;
    std::vector<ConfigError> errors;
};

/// Asked now and then while a file is read (at least every 64 KiB of text and every service);
/// true abandons the reading, and the result is one error saying so.
using StopCheck = std::function<bool()>;

/// Whether this machine has vhost-net (kVhostNetPath, readable and writable): the default
/// kernel_type, and whether virtio_user can be had. Tests stand in for the machine.
using VhostNetCheck = std::function<bool()>;
bool vhost_net_present();

/// Reads and validates a config file: a regular file of at most kMaxFileBytes, within the other
/// limits above. Control thread only; never throws. Memory: the file's text and a tree of its
/// YAML nodes (about 70 bytes each) while it is read, then the Config.
LoadResult load_config_file(const std::string& path, const StopCheck& stop = {},
                            const VhostNetCheck& vhost_net = vhost_net_present);

/// Same, from text already in memory; `file_name` is used in error messages.
LoadResult load_config_text(const std::string& text, const std::string& file_name,
                            const StopCheck& stop = {},
                            const VhostNetCheck& vhost_net = vhost_net_present);

/// Names as written in the config file ("wrr", "tcp", "ftp", "adaptive"); any thread.
std::string_view scheduler_name(Scheduler s);
std::string_view protocol_name(Protocol p);
std::string_view helper_name(Helper h);
std::string_view idle_mode_name(IdleMode m);
std::string_view reverse_path_name(ReversePath r);
std::string_view kernel_type_name(KernelType t);
std::string_view check_type_name(CheckType t);
std::string_view on_down_name(OnDown o);
std::string_view address_ownership_name(AddressOwnership a);

/// A check's interval or timeout as the file may write it: "2s", "500ms", "1m", "1h"; any thread.
std::string format_duration_ms(uint32_t milliseconds);

/// Lower-case colon form ("aa:bb:cc:dd:ee:ff"); any thread. (Addresses: cp/address.hpp.)
std::string format_mac(const MacAddress& mac);

}  // namespace vsnat::cp
