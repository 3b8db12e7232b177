// The few rtnetlink requests that set up a kernel mirror interface: find a link, move it into a
// namespace, give it a MAC, an MTU and its addresses (IPv4 and IPv6), bring it up, route the
// default of each family through it.
// Plain linux/rtnetlink.h, one synchronous request at a time, each acknowledged (NLM_F_ACK).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/unique_fd.hpp"
#include "vsnat/types.hpp"

namespace vsnat::io {

class NetworkNamespace;

/// A NETLINK_ROUTE socket in one network namespace. Move-only; the socket closes with it. Not
/// shared between threads: one thread at a time (the control thread, or start-up).
///
/// Every request waits for the kernel's answer. A refusal comes back as one line in `error`:
/// what was being done, the namespace, the system's reason and, when the kernel gives one, its
/// own message: "cannot add 198.18.0.254/24 to interface 7 in network namespace lb: File
/// exists".
class RtNetlink {
  public:
    /// A socket in `ns` (made through ns.open_socket): interface indexes and everything the
    /// requests change are those of `ns`. Returns nullopt with `error` set on failure.
    static std::optional<RtNetlink> open(const NetworkNamespace& ns, std::string& error);

    /// The index of interface `ifname` (RTM_GETLINK), or nullopt with `error` set ("cannot find
    /// interface X in ...: No such device").
    std::optional<int> link_index(const std::string& ifname, std::string& error);

    /// Moves interface `ifindex` into namespace `to` (RTM_SETLINK with IFLA_NET_NS_FD), as `ip
    /// link set dev X netns NS`. Its index there is what link_index in `to` says (the kernel
    /// keeps it unless `to` has it taken). False with `error` set on failure.
    bool move_link(int ifindex, const NetworkNamespace& to, std::string& error);

    /// Sets interface `ifindex`'s MAC address and MTU (IFLA_ADDRESS, IFLA_MTU). False with
    /// `error` set on failure.
    bool set_link(int ifindex, const MacAddress& mac, uint16_t mtu, std::string& error);

    /// Brings interface `ifindex` up or down (IFF_UP). False with `error` set on failure.
    bool set_up(int ifindex, bool up, std::string& error);

    /// Adds `address`/`prefix_len` (host byte order) to interface `ifindex` as `ip addr add
    /// A/N brd + dev X` does: IFA_LOCAL and IFA_ADDRESS both `address`, IFA_BROADCAST the
    /// prefix's last address when `prefix_len` is at most 30. False with `error` set on failure,
    /// "File exists" among it when the interface has the address already.
    bool add_address(int ifindex, Ipv4 address, uint8_t prefix_len, std::string& error);
    /// Adds IPv6 `address`/`prefix_len` to interface `ifindex` as `ip -6 addr add A/N dev X
    /// nodad` does: usable at once, without duplicate address detection (the dataplane beside
    /// the mirror answers for the same address). False with `error` set on failure.
    bool add_address(int ifindex, const Ipv6& address, uint8_t prefix_len, std::string& error);

    /// Adds a default route via `gateway` (host byte order) out of interface `ifindex` with
    /// `metric`: main table, protocol static, scope universe, as `ip route add default via G dev
    /// X metric M`. The gateway must be on a prefix of the interface that is up. False with
    /// `error` set on failure ("File exists" when that route is there already).
    bool add_default_route(int ifindex, Ipv4 gateway, uint32_t metric, std::string& error);
    /// The same for IPv6 (::/0 via `gateway`, which may be link-local), as `ip -6 route add
    /// default via G dev X metric M`.
    bool add_default_route(int ifindex, const Ipv6& gateway, uint32_t metric, std::string& error);

    /// Makes interface `ifname` of link type `kind` ("dummy", "ifb"), as `ip link add NAME type
    /// KIND`. False with `error` set on failure ("Operation not supported" when the kernel has
    /// no such type, "File exists" when the name is taken).
    bool add_link(const std::string& ifname, const std::string& kind, std::string& error);
    /// Removes `address`/`prefix_len` (host byte order) from interface `ifindex`. False with
    /// `error` set on failure ("Cannot assign requested address" when it is not there).
    bool delete_address(int ifindex, Ipv4 address, uint8_t prefix_len, std::string& error);
    /// The same for IPv6 `address`/`prefix_len`, as `ip -6 addr del A/N dev X`.
    bool delete_address(int ifindex, const Ipv6& address, uint8_t prefix_len, std::string& error);
    /// Deletes interface `ifindex` (RTM_DELLINK). False with `error` set on failure.
    bool delete_link(int ifindex, std::string& error);

  private:
    class Request;
    RtNetlink(int fd, std::string where) : fd_(fd), where_(std::move(where)) {}
    // add_default_route() of `family`, `gateway` being its gateway_size bytes (network order).
    bool add_default(uint8_t family, int ifindex, const void* gateway, size_t gateway_size,
                     const std::string& gateway_text, uint32_t metric, std::string& error);
    // delete_address() of `family`, `address` being its address_size bytes (network order).
    bool delete_addr(uint8_t family, int ifindex, const void* address, size_t address_size,
                     const std::string& address_text, uint8_t prefix_len, std::string& error);
    // Sends `request`, waits for its acknowledgement; the first answer that is not the
    // acknowledgement goes into `reply` when given. False with `error` = `doing` + the reason.
    bool transact(Request& request, const std::string& doing, std::string& error,
                  std::vector<uint8_t>* reply = nullptr);

    UniqueFd fd_;
    uint32_t seq_ = 0;
    std::string where_;  // "network namespace NAME", for messages
    std::vector<uint8_t> buffer_;
};

}  // namespace vsnat::io
