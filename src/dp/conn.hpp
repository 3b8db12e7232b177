// A tracked connection and the keys that find it.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dp/tcp_state.hpp"
#include "vsnat/types.hpp"

namespace vsnat::dp {

/// Hash key of one direction of a flow. Addresses and ports exactly as in the packet (network
/// order); padding zeroed so that equal flows hash equally.
struct FlowKey {
    uint32_t src_ip = 0;
    uint32_t dst_ip = 0;
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint8_t protocol = 0;
    uint8_t pad[3] = {};

    /// The key as two 64-bit words, the bytes of its layout on a little-endian machine: the
    /// addresses, then the ports and the protocol (the padding is zero). Two loads.
    std::array<uint64_t, 2> words() const {
        std::array<uint64_t, 2> w;
        std::memcpy(w.data(), this, sizeof(w));
        return w;
    }
    /// The key whose words() are these. A key made in registers (a record's, a header's) is
    /// built with this, its two words stored whole: built field by field, its 8-byte loads
    /// stalled on the narrow stores just made (store forwarding).
    static FlowKey from_words(uint64_t addresses, uint64_t ports_protocol) {
        FlowKey k;
        const std::array<uint64_t, 2> w{addresses, ports_protocol};
        std::memcpy(reinterpret_cast<char*>(&k), w.data(), sizeof(w));
        return k;
    }
    bool operator==(const FlowKey& other) const { return words() == other.words(); }
};
static_assert(sizeof(FlowKey) == 16);
static_assert(std::endian::native == std::endian::little, "FlowKey::words() is its layout");

/// One connection. Both of its keys point here: client->VIP (inbound) and RS->client (reply).
/// Addresses and ports in network order, as in the packet. 32 bytes, aligned: everything a
/// packet of the connection reads and writes (its expiry included) is in one cache line.
struct alignas(32) Conn {
    // In this order so that each key's fields lie side by side, as in FlowKey: the reply key's
    // addresses are rip and client_ip, the inbound key's client_ip and vip; the ports likewise.
    // has_key() reads either key with two loads.
    uint32_t rip;
    uint32_t client_ip;
    uint32_t vip;
    uint16_t rport;
    uint16_t client_port;
    uint16_t vport;
    uint8_t protocol;
    ConnState state;
    uint16_t dest_id;  // the real server: stable across reloads, indexes per-server counters
    /// The application helper's state for this connection (an FTP control connection's entry
    /// in its worker's FtpControlPool), or 0: none.
    uint16_t helper;
    /// The persistence template this connection holds a reference on (PersistenceTable slot),
    /// or PersistenceTable::kNoSlot (UINT32_MAX).
    uint32_t persistence_slot;
    /// When it times out (the worker's millisecond clock). Kept here, not in the timer wheel,
    /// so that refreshing it on every packet touches no memory but this line.
    uint32_t expires_ms;

    FlowKey inbound_key() const {
        return FlowKey::from_words(uint64_t{client_ip} | uint64_t{vip} << 32,
                                   key_ports(client_port, vport));
    }
    FlowKey reply_key() const {
        return FlowKey::from_words(uint64_t{rip} | uint64_t{client_ip} << 32,
                                   key_ports(rport, client_port));
    }
    /// Whether `k` is its reply key (`reply`) or its inbound key. The key's words are read from
    /// the record at an offset chosen by `reply`, not built from its fields (a dozen loads and
    /// shifts, and a branch a port with both directions mispredicts half the time).
    bool has_key(const FlowKey& k, bool reply) const {
        const auto* bytes = reinterpret_cast<const char*>(this);
        const size_t skip = reply ? 0 : 1;  // the inbound key starts one field later
        uint64_t addresses;
        std::memcpy(&addresses, bytes + offsetof(Conn, rip) + skip * sizeof(rip),
                    sizeof(addresses));
        uint32_t ports;
        std::memcpy(&ports, bytes + offsetof(Conn, rport) + skip * sizeof(rport), sizeof(ports));
        const auto want = k.words();
        return ((addresses ^ want[0]) | ((ports | uint64_t{protocol} << 32) ^ want[1])) == 0;
    }

  private:
    uint64_t key_ports(uint16_t src_port, uint16_t dst_port) const {
        return uint64_t{src_port} | uint64_t{dst_port} << 16 | uint64_t{protocol} << 32;
    }
};
static_assert(sizeof(Conn) == 32);
static_assert(offsetof(Conn, rip) == 0 && offsetof(Conn, client_ip) == 4 &&
              offsetof(Conn, vip) == 8);
static_assert(offsetof(Conn, rport) == 12 && offsetof(Conn, client_port) == 14 &&
              offsetof(Conn, vport) == 16);

/// FlowKey's IPv6 twin: one direction of an IPv6 flow, addresses as in the packet.
struct FlowKey6 {
    Ipv6 src_ip{};
    Ipv6 dst_ip{};
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint8_t protocol = 0;
    uint8_t pad[3] = {};
};
static_assert(sizeof(FlowKey6) == 40);

/// An IPv6 connection: Conn's fields with 16-byte addresses. Kept in a table of its own, so
/// that IPv6 costs IPv4 connections neither bytes nor cache lines.
struct alignas(8) Conn6 {
    Ipv6 client_ip;
    Ipv6 vip;
    Ipv6 rip;
    uint16_t client_port;
    uint16_t vport;
    uint16_t rport;
    uint8_t protocol;
    ConnState state;
    uint16_t dest_id;
    uint16_t helper;
    uint32_t persistence_slot;
    uint32_t expires_ms;

    FlowKey6 inbound_key() const {
        FlowKey6 k;
        k.src_ip = client_ip;
        k.dst_ip = vip;
        k.src_port = client_port;
        k.dst_port = vport;
        k.protocol = protocol;
        return k;
    }
    FlowKey6 reply_key() const {
        FlowKey6 k;
        k.src_ip = rip;
        k.dst_ip = client_ip;
        k.src_port = rport;
        k.dst_port = client_port;
        k.protocol = protocol;
        return k;
    }
    /// Whether `k` is its reply key (`reply`) or its inbound key, field by field (a key built on
    /// the stack and compared whole stalls on store forwarding).
    bool has_key(const FlowKey6& k, bool reply) const {
        return reply ? k.src_ip == rip && k.dst_ip == client_ip && k.src_port == rport &&
                           k.dst_port == client_port && k.protocol == protocol
                     : k.src_ip == client_ip && k.dst_ip == vip && k.src_port == client_port &&
                           k.dst_port == vport && k.protocol == protocol;
    }
};
static_assert(sizeof(Conn6) == 72);

}  // namespace vsnat::dp
