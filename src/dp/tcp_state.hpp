// Connection states and their transitions, as LVS tracks them (ip_vs_proto_tcp.c).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace vsnat::dp {

/// LVS's TCP states, in LVS's order; then UDP's. LVS has one UDP state; vsnat tells apart, as
/// Linux conntrack does, a UDP connection nobody answered, one answered once, and one that went
/// on after the answer (assured), because a flood may take the place of the first two only
/// (all three show as "UDP").
enum class ConnState : uint8_t {
    none,
    established,
    syn_sent,
    syn_recv,
    fin_wait,
    time_wait,
    close,
    close_wait,
    last_ack,
    listen,
    synack,
    udp,             // UDP both ways more than once (assured: kept in a flood)
    udp_unanswered,  // UDP the real server has not answered yet
    udp_replied,     // UDP answered once, the client not heard from since (a DNS exchange)
    count_
};
constexpr size_t kConnStateCount = static_cast<size_t>(ConnState::count_);
constexpr size_t kTcpStateCount = static_cast<size_t>(ConnState::udp);

/// Who sent the packet: the client (towards the real server) or the real server (the reply).
enum class Direction : uint8_t { from_client, from_server };

std::string_view conn_state_name(ConnState s);

namespace detail {
// Every transition, by direction, the flag byte's low five bits (FIN, SYN, RST, PSH, ACK) and
// the state (the UDP ones and the padding go to CLOSE): tcp_next_state() is one load, where
// finding the flags' row and the direction's table took a call and a dozen branches a packet.
using TcpTransitions = std::array<std::array<std::array<ConnState, 16>, 32>, 2>;
static_assert(kConnStateCount <= 16);
extern const TcpTransitions kTcpTransitions;
}  // namespace detail

/// The next TCP state after a packet with `tcp_flags` in `direction`. Flag priority
/// RST > SYN > FIN > ACK; a segment with none of them moves the connection to CLOSE, as in LVS.
/// Pure; any thread.
inline ConnState tcp_next_state(ConnState current, Direction direction, uint8_t tcp_flags) {
    return detail::kTcpTransitions[static_cast<size_t>(direction) & 1][tcp_flags & 0x1f]
                                  [static_cast<size_t>(current) & 15];
}

/// Whether LVS counts the state as an active connection (ESTABLISHED) or an inactive one.
constexpr bool conn_state_is_active(ConnState s) {
    return s == ConnState::established;
}

/// Timeouts in milliseconds, one per state (a snapshot of the config's reloadable timeouts).
using StateTimeouts = std::array<uint32_t, kConnStateCount>;

/// The defaults: the seed's for SYN (60 s), ESTABLISHED (15 min), FIN (60 s) and UDP (5 min);
/// LVS's tcp_timeouts for the others.
StateTimeouts default_state_timeouts();

}  // namespace vsnat::dp
