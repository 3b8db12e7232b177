#include "dp/tcp_state.hpp"

#include "dp/bytes.hpp"

namespace vsnat::dp {
namespace {

constexpr auto sNO = ConnState::none, sES = ConnState::established, sSS = ConnState::syn_sent,
               sSR = ConnState::syn_recv, sFW = ConnState::fin_wait, sTW = ConnState::time_wait,
               sCL = ConnState::close, sCW = ConnState::close_wait, sLA = ConnState::last_ack,
               sLI = ConnState::listen, sSA = ConnState::synack;

// The tables' columns are the states in the enum's order, sNO first and sSA last.
static_assert(static_cast<size_t>(sNO) == 0 && static_cast<size_t>(sSA) == kTcpStateCount - 1);

using Row = std::array<ConnState, kTcpStateCount>;
enum FlagIndex { kSyn, kFin, kAck, kRst, kFlagRows };
using Table = std::array<Row, kFlagRows>;

// Linux net/netfilter/ipvs/ip_vs_proto_tcp.c, tcp_states[] "INPUT": packets from the client.
// The INPUT-ONLY table is for DR/TUN, where replies bypass the director; VS/NAT sees both.
constexpr Table kFromClient = {{
    //  sNO  sES  sSS  sSR  sFW  sTW  sCL  sCW  sLA  sLI  sSA
    {{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR}},  // syn
    {{sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW}},  // fin
    {{sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES}},  // ack
    {{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR}},  // rst
}};

// Same file, tcp_states[] "OUTPUT": packets from the real server.
constexpr Table kFromServer = {{
    //  sNO  sES  sSS  sSR  sFW  sTW  sCL  sCW  sLA  sLI  sSA
    {{sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR}},  // syn
    {{sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW}},  // fin
    {{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES}},  // ack
    {{sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL}},  // rst
}};

constexpr int flag_index(uint8_t flags) {
    if (flags & l4::kTcpRst) {
        return kRst;
    }
    if (flags & l4::kTcpSyn) {
        return kSyn;
    }
    if (flags & l4::kTcpFin) {
        return kFin;
    }
    if (flags & l4::kTcpAckFlag) {
        return kAck;
    }
    return -1;
}

constexpr detail::TcpTransitions make_transitions() {
    detail::TcpTransitions all{};
    for (size_t dir = 0; dir < all.size(); ++dir) {
        const Table& table =
            dir == static_cast<size_t>(Direction::from_client) ? kFromClient : kFromServer;
        for (size_t flags = 0; flags < all[dir].size(); ++flags) {
            const int row = flag_index(static_cast<uint8_t>(flags));
            for (size_t state = 0; state < all[dir][flags].size(); ++state) {
                all[dir][flags][state] = row < 0 || state >= kTcpStateCount
                                             ? ConnState::close
                                             : table[static_cast<size_t>(row)][state];
            }
        }
    }
    return all;
}

}  // namespace

constexpr detail::TcpTransitions detail::kTcpTransitions = make_transitions();

std::string_view conn_state_name(ConnState s) {
    constexpr std::array<std::string_view, kConnStateCount> names = {
        "NONE",       "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT", "CLOSE",
        "CLOSE_WAIT", "LAST_ACK",    "LISTEN",   "SYNACK",   "UDP",      "UDP",       "UDP"};
    return names[static_cast<size_t>(s)];
}

StateTimeouts default_state_timeouts() {
    constexpr uint32_t kSecond = 1000;
    StateTimeouts t{};
    auto set = [&t](ConnState s, uint32_t seconds) {
        t[static_cast<size_t>(s)] = seconds * kSecond;
    };
    set(ConnState::none, 2);
    set(ConnState::established, 15 * 60);
    set(ConnState::syn_sent, 60);
    set(ConnState::syn_recv, 60);
    set(ConnState::fin_wait, 60);
    set(ConnState::time_wait, 120);
    set(ConnState::close, 10);
    set(ConnState::close_wait, 60);
    set(ConnState::last_ack, 30);
    set(ConnState::listen, 120);
    set(ConnState::synack, 120);
    set(ConnState::udp, 5 * 60);
    set(ConnState::udp_unanswered, 5 * 60);
    set(ConnState::udp_replied, 5 * 60);
    return t;
}

}  // namespace vsnat::dp
