// DPDK ports: find a configured device, set it up with one RX and one TX queue per worker,
// RSS on the client's fields where the NIC can, start it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vsnat/types.hpp"

struct rte_mempool;

namespace vsnat::io {

/// Which side of the director a link faces decides which fields RSS hashes: the client is the
/// source of packets arriving from clients, the destination of packets arriving from servers.
enum class LinkSide : uint8_t { clients, servers };

struct OpenPort {
    uint16_t port_id = 0;
    MacAddress mac{};
    bool rss = false;  // the NIC delivers each packet to its owner's queue
    bool rx_ip_checksum = false;
    uint16_t mtu = 1500;  // the largest IP datagram the port sends
    std::string driver;
};

/// The DPDK port name of a device string: a PCI address, or a vdev's name before its first
/// comma ("net_af_xdp0,iface=x" -> "net_af_xdp0").
std::string port_name(const std::string& device);

/// Configures and starts the port for `device` with `mtu`. Main thread, after EAL init. On
/// failure returns nullopt and sets `error` to one line.
std::optional<OpenPort> open_port(const std::string& device, uint16_t queues, LinkSide side,
                                  uint16_t mtu, rte_mempool* pool, std::string& error);

/// Stops and closes a port opened by open_port. Main thread, once nothing polls it.
void close_port(uint16_t port_id);

/// The ports a daemon opened: each is stopped and closed when the list goes (its owner makes
/// sure the workers that poll them stopped first).
class OpenPorts {
  public:
    OpenPorts() = default;
    ~OpenPorts();
    OpenPorts(const OpenPorts&) = delete;
    OpenPorts& operator=(const OpenPorts&) = delete;

    void add(const OpenPort& port) { ports_.push_back(port); }
    const std::vector<OpenPort>& list() const { return ports_; }

  private:
    std::vector<OpenPort> ports_;
};

}  // namespace vsnat::io
