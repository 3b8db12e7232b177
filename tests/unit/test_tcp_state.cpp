// Every transition of LVS's VS/NAT TCP state tables (ip_vs_proto_tcp.c, INPUT and OUTPUT), from
// a table written out independently of the implementation's.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "dp/bytes.hpp"
#include "dp/tcp_state.hpp"

using namespace vsnat::dp;

namespace {

const std::map<std::string, ConnState> kByName = {
    {"NO", ConnState::none},     {"ES", ConnState::established}, {"SS", ConnState::syn_sent},
    {"SR", ConnState::syn_recv}, {"FW", ConnState::fin_wait},    {"TW", ConnState::time_wait},
    {"CL", ConnState::close},    {"CW", ConnState::close_wait},  {"LA", ConnState::last_ack},
    {"LI", ConnState::listen},   {"SA", ConnState::synack},
};
const char* const kStates[] = {"NO", "ES", "SS", "SR", "FW", "TW", "CL", "CW", "LA", "LI", "SA"};

struct Row {
    Direction dir;
    uint8_t flags;
    const char* flag_name;
    const char* next[11];  // next state for current = NO, ES, SS, SR, FW, TW, CL, CW, LA, LI, SA
};

constexpr uint8_t SYN = l4::kTcpSyn, FIN = l4::kTcpFin, ACK = l4::kTcpAckFlag, RST = l4::kTcpRst;

// Client -> server is LVS's INPUT table, server -> client its OUTPUT table.
const Row kRows[] = {
    {Direction::from_client,
     SYN,
     "syn",
     {"SR", "ES", "ES", "SR", "SR", "SR", "SR", "SR", "SR", "SR", "SR"}},
    {Direction::from_client,
     FIN,
     "fin",
     {"CL", "CW", "SS", "TW", "TW", "TW", "CL", "CW", "LA", "LI", "TW"}},
    {Direction::from_client,
     ACK,
     "ack",
     {"CL", "ES", "SS", "ES", "FW", "TW", "CL", "CW", "CL", "LI", "ES"}},
    {Direction::from_client,
     RST,
     "rst",
     {"CL", "CL", "CL", "SR", "CL", "CL", "CL", "CL", "LA", "LI", "SR"}},
    {Direction::from_server,
     SYN,
     "syn",
     {"SS", "ES", "SS", "SR", "SS", "SS", "SS", "SS", "SS", "LI", "SR"}},
    {Direction::from_server,
     FIN,
     "fin",
     {"TW", "FW", "SS", "TW", "FW", "TW", "CL", "TW", "LA", "LI", "TW"}},
    {Direction::from_server,
     ACK,
     "ack",
     {"ES", "ES", "SS", "ES", "FW", "TW", "CL", "CW", "LA", "ES", "ES"}},
    {Direction::from_server,
     RST,
     "rst",
     {"CL", "CL", "SS", "CL", "CL", "TW", "CL", "CL", "CL", "CL", "CL"}},
};

}  // namespace

TEST_CASE("all 88 transitions of the client and server tables") {
    int checked = 0;
    for (const Row& row : kRows) {
        for (size_t s = 0; s < 11; ++s) {
            const ConnState from = kByName.at(kStates[s]);
            INFO((row.dir == Direction::from_client ? "client " : "server ")
                 << row.flag_name << " in " << kStates[s]);
            CHECK(tcp_next_state(from, row.dir, row.flags) == kByName.at(row.next[s]));
            ++checked;
        }
    }
    CHECK(checked == 88);
}

TEST_CASE("flag priority is RST > SYN > FIN > ACK") {
    // In ESTABLISHED from the client: RST -> CLOSE, SYN -> ES, FIN -> CLOSE_WAIT, ACK -> ES.
    const ConnState es = ConnState::established;
    const auto client = Direction::from_client;
    CHECK(tcp_next_state(es, client, RST | SYN | FIN | ACK) == ConnState::close);
    CHECK(tcp_next_state(ConnState::syn_recv, Direction::from_server, SYN | FIN | ACK) ==
          ConnState::syn_recv);
    CHECK(tcp_next_state(es, client, FIN | ACK) == ConnState::close_wait);
    CHECK(tcp_next_state(ConnState::syn_recv, client, FIN | ACK) == ConnState::time_wait);
}

TEST_CASE("a segment with none of SYN, FIN, ACK, RST closes the connection, as in LVS") {
    CHECK(tcp_next_state(ConnState::established, Direction::from_client, 0x08 /* PSH */) ==
          ConnState::close);
}

TEST_CASE("the flags LVS does not look at (PSH, URG, ECE, CWR) change no transition") {
    const uint8_t ignored[] = {0x08, 0x20, 0x40, 0x80, 0xe8};
    for (const Direction dir : {Direction::from_client, Direction::from_server}) {
        for (size_t s = 0; s < kConnStateCount; ++s) {
            const auto from = static_cast<ConnState>(s);
            for (const int flags : {0, 0x01, 0x02, 0x04, 0x10, 0x11, 0x12, 0x14, 0x17}) {
                const ConnState plain = tcp_next_state(from, dir, static_cast<uint8_t>(flags));
                for (const uint8_t extra : ignored) {
                    INFO("state " << s << " flags " << flags << " extra " << int{extra});
                    CHECK(tcp_next_state(from, dir, static_cast<uint8_t>(flags | extra)) == plain);
                }
            }
        }
    }
}

TEST_CASE("a TCP segment on a UDP state closes, as any state past LVS's tables") {
    for (const ConnState s : {ConnState::udp, ConnState::udp_unanswered, ConnState::udp_replied}) {
        CHECK(tcp_next_state(s, Direction::from_client, ACK) == ConnState::close);
        CHECK(tcp_next_state(s, Direction::from_server, SYN | ACK) == ConnState::close);
    }
}

TEST_CASE("a whole connection walks the states LVS shows") {
    ConnState s = ConnState::none;
    s = tcp_next_state(s, Direction::from_client, SYN);
    CHECK(s == ConnState::syn_recv);
    s = tcp_next_state(s, Direction::from_server, SYN | ACK);
    CHECK(s == ConnState::syn_recv);
    s = tcp_next_state(s, Direction::from_client, ACK);
    CHECK(s == ConnState::established);
    s = tcp_next_state(s, Direction::from_client, FIN | ACK);
    CHECK(s == ConnState::close_wait);
    s = tcp_next_state(s, Direction::from_server, FIN | ACK);
    CHECK(s == ConnState::time_wait);
    s = tcp_next_state(s, Direction::from_client, ACK);
    CHECK(s == ConnState::time_wait);
}

TEST_CASE("default timeouts: the seed's and LVS's") {
    const StateTimeouts t = default_state_timeouts();
    auto seconds = [&t](ConnState s) { return t[static_cast<size_t>(s)] / 1000; };
    CHECK(seconds(ConnState::syn_recv) == 60);
    CHECK(seconds(ConnState::syn_sent) == 60);
    CHECK(seconds(ConnState::established) == 900);
    CHECK(seconds(ConnState::fin_wait) == 60);
    CHECK(seconds(ConnState::udp) == 300);
    CHECK(seconds(ConnState::time_wait) == 120);
    CHECK(seconds(ConnState::close) == 10);
    CHECK(seconds(ConnState::close_wait) == 60);
    CHECK(seconds(ConnState::last_ack) == 30);
    CHECK(seconds(ConnState::listen) == 120);
    CHECK(seconds(ConnState::synack) == 120);
    CHECK(seconds(ConnState::none) == 2);
    CHECK(conn_state_name(ConnState::established) == "ESTABLISHED");
}
