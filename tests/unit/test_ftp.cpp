// The FTP helper's pure parts: the line scanner, the 227 text writer, the sequence shift and the
// expectation tables of both families.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "dp/alg/expectation.hpp"
#include "dp/alg/ftp.hpp"
#include "dp/alg/seq_shift.hpp"
#include "support/packet_builder.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using vsnat::test::ip6_raw;
using vsnat::test::ip_raw;
using vsnat::test::port_raw;

namespace {

ftp::Scan scan_text(const std::string& text, Direction d) {
    return ftp::scan(reinterpret_cast<const uint8_t*>(text.data()), text.size(), d);
}
ftp::Scan server(const std::string& text) {
    return scan_text(text, Direction::from_server);
}
ftp::Scan client(const std::string& text) {
    return scan_text(text, Direction::from_client);
}

std::string text_of(const std::string& payload, const ftp::Scan& s) {
    return payload.substr(s.text_offset, s.text_length);
}

}  // namespace

TEST_CASE("ftp: 227 replies give the address, the port and the text to rewrite", "[ftp]") {
    const std::string reply = "227 Entering Passive Mode (198,19,0,3,117,49).\r\n";
    const ftp::Scan s = server(reply);
    CHECK(s.event == ftp::Event::passive);
    CHECK(s.address == ip_raw("198.19.0.3"));
    CHECK(s.port == port_raw(117 * 256 + 49));
    CHECK(text_of(reply, s) == "198,19,0,3,117,49");

    // RFC 1123 4.1.2.6: no parentheses needed; the numbers start at the first digit.
    const std::string bare = "227 =172,16,0,3,4,1\r\n";
    const ftp::Scan b = server(bare);
    CHECK(b.event == ftp::Event::passive);
    CHECK(text_of(bare, b) == "172,16,0,3,4,1");
    CHECK(b.port == port_raw(1025));

    // After other lines of the same segment.
    const std::string later = "200 Switching to Binary mode.\r\n227 Ok (1,2,3,4,0,21)\r\n";
    const ftp::Scan l = server(later);
    CHECK(l.event == ftp::Event::passive);
    CHECK(text_of(later, l) == "1,2,3,4,0,21");
    CHECK(l.address == ip_raw("1.2.3.4"));
}

TEST_CASE("ftp: 229 replies give the port only", "[ftp]") {
    const ftp::Scan s = server("229 Entering Extended Passive Mode (|||6446|)\r\n");
    CHECK(s.event == ftp::Event::extended_passive);
    CHECK(s.port == port_raw(6446));
    CHECK(server("229 Extended (!!!65535!)\r\n").port == port_raw(65535));
    CHECK(server("229 Extended (|||0|)\r\n").event == ftp::Event::malformed);
    CHECK(server("229 Extended (|||65536|)\r\n").event == ftp::Event::malformed);
    CHECK(server("229 Extended (||6446|)\r\n").event == ftp::Event::malformed);
    CHECK(server("229 Extended |||6446|\r\n").event == ftp::Event::malformed);
}

TEST_CASE("ftp: PORT and EPRT commands, any case", "[ftp]") {
    const std::string port = "PORT 198,18,0,1,195,80\r\n";
    const ftp::Scan p = client(port);
    CHECK(p.event == ftp::Event::active);
    CHECK(p.address == ip_raw("198.18.0.1"));
    CHECK(p.port == port_raw(195 * 256 + 80));
    CHECK(text_of(port, p) == "198,18,0,1,195,80");
    CHECK(client("port 198,18,0,1,0,20\r\n").event == ftp::Event::active);

    const ftp::Scan e = client("EPRT |1|198.18.0.1|50000|\r\n");
    CHECK(e.event == ftp::Event::extended_active);
    CHECK(e.address == ip_raw("198.18.0.1"));
    CHECK(e.port == port_raw(50000));
    CHECK_FALSE(e.ipv6);
    CHECK(client("eprt !1!198.18.0.7!21!\r\n").address == ip_raw("198.18.0.7"));
}

TEST_CASE("ftp: EPRT with family 2 gives an IPv6 address, in any of its text forms", "[ftp]") {
    const ftp::Scan e = client("EPRT |2|2001:2:0:18::1|50000|\r\n");
    CHECK(e.event == ftp::Event::extended_active);
    CHECK(e.ipv6);
    CHECK(e.address6 == ip6_raw("2001:2:0:18::1"));
    CHECK(e.port == port_raw(50000));
    CHECK(client("eprt !2!2001:2:0:18:0:0:0:1!21!\r\n").address6 == ip6_raw("2001:2:0:18::1"));
    CHECK(client("EPRT |2|2001:0002:0000:0018::0001|21|\r\n").address6 ==
          ip6_raw("2001:2:0:18::1"));
    CHECK(client("EPRT |2|::ffff:198.18.0.1|21|\r\n").address6 == ip6_raw("::ffff:198.18.0.1"));
    const std::string longest = "EPRT |2|ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255|1|\r\n";
    CHECK(client(longest).address6 == ip6_raw("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"));
    // After other lines of the same segment.
    const ftp::Scan later = client("TYPE I\r\nEPRT |2|2001:2:0:18::1|50001|\r\n");
    CHECK(later.event == ftp::Event::extended_active);
    CHECK(later.port == port_raw(50001));
    CHECK(client("EPRT |2|2001:2:0:18::1").event == ftp::Event::split);
}

TEST_CASE("ftp: malformed EPRT family 2 addresses", "[ftp]") {
    for (const char* line : {
             "EPRT |2|2001:2::18::1|5|",          // two "::"
             "EPRT |2|2001:2:0:18::1g|5|",        // not hexadecimal
             "EPRT |2|2001:2:0:18:0:0:0:0:1|5|",  // nine groups
             "EPRT |2|12345::1|5|",               // a group of five digits
             "EPRT |2|198.18.0.1|5|",             // an IPv4 address under family 2
             "EPRT |1|2001:2:0:18::1|5|",         // and an IPv6 one under family 1
             "EPRT |2||5|",                       // no address
             "EPRT |2|fe80::1%eth0|5|",           // a zone
             "EPRT |2| 2001:2:0:18::1|5|",        // a space
             "EPRT |2|2001:2:0:18::1|0|",         // port 0
             "EPRT |2|2001:2:0:18::1|65536|",     // port too large
             "EPRT |2|2001:2:0:18::1|5",          // no closing delimiter
             "EPRT |2|2001:2:0:18::1",            // no port
             "EPRT |2!2001:2:0:18::1!5!",         // delimiters that differ
             "EPRT :2:2001:2:0:18::1:5:",         // a delimiter the address contains
             "EPRT |3|2001:2:0:18::1|5|",         // no such family
             "EPRT |22|2001:2:0:18::1|5|",
             "EPRT |2|0000000000000000000000000000000000000000000000::1|5|",  // too long
         }) {
        INFO(line);
        CHECK(client(std::string(line) + "\r\n").event == ftp::Event::malformed);
    }
}

TEST_CASE("ftp: lines are watched only in their direction", "[ftp]") {
    CHECK(client("227 Entering Passive Mode (1,2,3,4,5,6)\r\n").event == ftp::Event::none);
    CHECK(server("PORT 1,2,3,4,5,6\r\n").event == ftp::Event::none);
    CHECK(client("PASV\r\n").event == ftp::Event::none);
    CHECK(client("RETR PORT 1,2,3,4,5,6\r\n").event == ftp::Event::none);
    CHECK(server("226 Transfer complete.\r\n").event == ftp::Event::none);
    CHECK(server("").event == ftp::Event::none);
}

TEST_CASE("ftp: garbage, huge numbers and truncated lines", "[ftp]") {
    CHECK(server("227 Entering Passive Mode (256,19,0,3,1,1)\r\n").event == ftp::Event::malformed);
    CHECK(server("227 Entering Passive Mode (1,2,3,4,5,1000)\r\n").event == ftp::Event::malformed);
    CHECK(server("227 Entering Passive Mode (0001,2,3,4,5,6)\r\n").event == ftp::Event::malformed);
    CHECK(server("227 Entering Passive Mode (99999999999999999999,2,3,4,5,6)\r\n").event ==
          ftp::Event::malformed);
    CHECK(server("227 Entering Passive Mode (1,2,3,4,5)\r\n").event == ftp::Event::malformed);
    CHECK(server("227 Entering Passive Mode (1,2,3,4,0,0)\r\n").event == ftp::Event::malformed);
    CHECK(server("227 Entering Passive Mode\r\n").event == ftp::Event::malformed);
    CHECK(client("PORT 1,2,3,4,5,x\r\n").event == ftp::Event::malformed);
    CHECK(client("PORT\r\n").event == ftp::Event::none);  // no space: not a PORT with arguments
    CHECK(client("EPRT |1|198.18.0|5|\r\n").event == ftp::Event::malformed);
    CHECK(client("EPRT |1|198.18.0.1.2|5|\r\n").event == ftp::Event::malformed);
    CHECK(client("EPRT \x01"
                 "1\x01"
                 "1.2.3.4\x01"
                 "5\x01\r\n")
              .event == ftp::Event::malformed);
    const std::string binary(300, '\xff');
    CHECK(server(binary).event == ftp::Event::none);
    CHECK(client(binary).event == ftp::Event::none);
}

TEST_CASE("ftp: a watched line that does not end in its segment is a split", "[ftp]") {
    CHECK(server("227 Entering Passive Mode (198,19,0,3,1").event == ftp::Event::split);
    CHECK(server("22").event == ftp::Event::split);
    CHECK(server("200 OK\r\n227 Entering").event == ftp::Event::split);
    CHECK(client("PORT 198,18,0,1,").event == ftp::Event::split);
    CHECK(client("EP").event == ftp::Event::split);
    CHECK(client("RETR file").event == ftp::Event::none);
    CHECK(server("150 Here comes the").event == ftp::Event::none);
    // The rest of a split line, at the start of the next segment, is not watched.
    CHECK(server("Passive Mode (198,19,0,3,1,1)\r\n").event == ftp::Event::none);
}

TEST_CASE("ftp: 227 text for any address and port, shorter or longer", "[ftp]") {
    char out[ftp::kMaxHostPortText];
    auto text = [&](const std::string& ip, uint16_t port) {
        return std::string(out, ftp::format_host_port(ip_raw(ip), port_raw(port), out));
    };
    CHECK(text("198.18.0.100", 30000) == "198,18,0,100,117,48");
    CHECK(text("1.2.3.4", 256) == "1,2,3,4,1,0");
    CHECK(text("0.0.0.0", 1) == "0,0,0,0,0,1");
    CHECK(text("255.255.255.255", 65535) == "255,255,255,255,255,255");
    CHECK(text("255.255.255.255", 65535).size() == ftp::kMaxHostPortText);
    // What the scanner reads back is what was written.
    const std::string reply = "227 Entering Passive Mode (" + text("10.20.30.40", 4242) + ")\r\n";
    const ftp::Scan s = server(reply);
    CHECK(s.address == ip_raw("10.20.30.40"));
    CHECK(s.port == port_raw(4242));
}

TEST_CASE("seq shift: several length-changing rewrites and retransmissions", "[ftp]") {
    SeqShift s;
    CHECK(s.seq(1000) == 1000);
    CHECK(s.ack(1000) == 1000);

    // Segment [1000, 1050) grows by 2: it keeps its start; everything after moves by 2.
    s.record(1000, +2);
    CHECK(s.seq(1000) == 1000);
    CHECK(s.seq(1050) == 1052);
    CHECK(s.ack(1052) == 1050);  // the whole rewritten segment acknowledged
    CHECK(s.ack(1000) == 1000);  // up to its start

    // Retransmitted: rewritten again, identically, but counted once.
    s.record(1000, +2);
    CHECK(s.delta == 2);
    CHECK(s.seq(1000) == 1000);

    // A later segment [1100, 1150) shrinks by 3.
    s.record(1100, -3);
    CHECK(s.delta == -1);
    CHECK(s.previous_delta == 2);
    CHECK(s.seq(1100) == 1102);  // its start moved by the first rewrite only
    CHECK(s.seq(1150) == 1149);
    CHECK(s.ack(1149) == 1150);
    CHECK(s.ack(1102) == 1100);
    // A retransmission of the earlier segment does not change the record.
    s.record(1000, +2);
    CHECK(s.delta == -1);

    // Across the 2^32 wrap.
    SeqShift w;
    w.record(0xfffffff0u, +5);
    CHECK(w.seq(0xfffffff0u) == 0xfffffff0u);
    CHECK(w.seq(0x10) == 0x15);
    CHECK(w.ack(0x15) == 0x10);
}

namespace {

// The expectation tables of both families, with the lab's addresses of each.
struct Family4 {
    using Table = ExpectationTable;
    static uint32_t address(const char* v4, const char*) { return ip_raw(v4); }
};
struct Family6 {
    using Table = ExpectationTable6;
    static Ipv6 address(const char*, const char* v6) { return ip6_raw(v6); }
};

}  // namespace

TEMPLATE_TEST_CASE("expectations: claimed once by the matching SYN, revoked, expired, bounded",
                   "[ftp]", Family4, Family6) {
    using Table = typename TestType::Table;
    Table t;
    const auto client_ip = TestType::address("198.18.0.1", "2001:2:0:18::1");
    const auto other_ip = TestType::address("198.18.0.2", "2001:2:0:18::2");
    typename Table::Entry passive;
    passive.client_ip = client_ip;
    passive.vip = TestType::address("198.18.0.100", "2001:2:0:18::100");
    passive.rip = TestType::address("198.19.0.3", "2001:2:0:19::3");
    passive.vport = passive.rport = port_raw(30000);
    passive.dest_id = 7;
    passive.expires_ms = 10000;
    CHECK_FALSE(t.any());
    const ExpectationTicket ticket = t.add(passive, 0);
    REQUIRE(ticket.slot != Table::kNoSlot);
    CHECK(t.pending() == 1);

    typename Table::Entry got;
    // The wrong opener, address or port, or too late: not claimed.
    CHECK_FALSE(
        t.claim(Direction::from_server, passive.client_ip, passive.vip, passive.vport, 1, got));
    CHECK_FALSE(t.claim(Direction::from_client, other_ip, passive.vip, passive.vport, 1, got));
    CHECK_FALSE(
        t.claim(Direction::from_client, passive.client_ip, passive.vip, port_raw(30001), 1, got));
    CHECK_FALSE(
        t.claim(Direction::from_client, passive.client_ip, passive.vip, passive.vport, 10000, got));
    REQUIRE(
        t.claim(Direction::from_client, passive.client_ip, passive.vip, passive.vport, 9999, got));
    CHECK(got.client_ip == passive.client_ip);
    CHECK(got.vip == passive.vip);
    CHECK(got.rip == passive.rip);
    CHECK(got.dest_id == 7);
    CHECK_FALSE(t.any());
    CHECK_FALSE(
        t.claim(Direction::from_client, passive.client_ip, passive.vip, passive.vport, 1, got));
    CHECK_FALSE(t.revoke(ticket));  // claimed already

    auto active = passive;
    active.opener = Direction::from_server;
    active.client_port = port_raw(50000);
    active.vport = port_raw(20);
    active.rport = 0;
    const ExpectationTicket a = t.add(active, 0);
    CHECK(t.revoke(a));
    CHECK_FALSE(t.revoke(a));
    CHECK_FALSE(
        t.claim(Direction::from_server, active.rip, active.client_ip, active.client_port, 1, got));

    // One window holds kWindow live expectations for one key; expired ones make room.
    for (uint32_t i = 0; i < Table::kWindow; ++i) {
        CHECK(t.add(active, 0).slot != Table::kNoSlot);
    }
    CHECK(t.add(active, 0).slot == Table::kNoSlot);
    auto later = active;
    later.expires_ms = 30000;
    CHECK(t.add(later, 20000).slot != Table::kNoSlot);
    uint32_t cursor = 0;
    t.sweep(cursor, Table::kSlots, 20000);
    CHECK(t.pending() == 1);
    REQUIRE(t.claim(Direction::from_server, active.rip, active.client_ip, active.client_port, 20001,
                    got));
    CHECK(got.opener == Direction::from_server);
    CHECK(got.client_port == port_raw(50000));
    CHECK(got.vport == port_raw(20));
    CHECK(got.expires_ms == 30000);
    CHECK(t.pending() == 0);
}

TEST_CASE("expectations: IPv6 ones take two cache lines, IPv4 ones still one", "[ftp]") {
    CHECK(ExpectationTable::memory_bytes() == ExpectationTable::kSlots * 64);
    CHECK(ExpectationTable6::memory_bytes() == ExpectationTable6::kSlots * 128);
    // Addresses that differ only in their last bits are told apart (the whole address is
    // compared, not a hash or a fold of it).
    ExpectationTable6 t;
    Expectation6 e;
    e.client_ip = ip6_raw("2001:2:0:18::1");
    e.vip = ip6_raw("2001:2:0:18::100");
    e.vport = port_raw(30000);
    e.expires_ms = 1000;
    REQUIRE(t.add(e, 0).slot != ExpectationTable6::kNoSlot);
    Expectation6 got;
    CHECK_FALSE(
        t.claim(Direction::from_client, ip6_raw("2001:2:0:18:0:1::1"), e.vip, e.vport, 1, got));
    CHECK_FALSE(t.claim(Direction::from_client, ip6_raw("2001:2:0:19::1"), e.vip, e.vport, 1, got));
    CHECK(t.claim(Direction::from_client, e.client_ip, e.vip, e.vport, 1, got));
}

TEMPLATE_TEST_CASE("expectations: workers racing for one expectation, exactly one wins", "[ftp]",
                   Family4, Family6) {
    using Table = typename TestType::Table;
    Table t;
    constexpr int kRounds = 2000;
    std::atomic<int> wins{0}, wrong{0};  // Catch2 assertions are for the main thread only
    for (int round = 0; round < kRounds; ++round) {
        typename Table::Entry e;
        e.client_ip = TestType::address("198.18.0.1", "2001:2:0:18::1");
        e.vip = TestType::address("198.18.0.100", "2001:2:0:18::100");
        e.rip = TestType::address("198.19.0.3", "2001:2:0:19::3");
        e.vport = port_raw(static_cast<uint16_t>(1024 + round));
        e.expires_ms = 1000;
        REQUIRE(t.add(e, 0).slot != Table::kNoSlot);
        std::vector<std::thread> racers;
        for (int w = 0; w < 4; ++w) {
            racers.emplace_back([&] {
                typename Table::Entry got;
                if (t.claim(Direction::from_client, e.client_ip, e.vip, e.vport, 1, got)) {
                    ++wins;
                    wrong += got.vport != e.vport || got.rip != e.rip;
                }
            });
        }
        for (auto& r : racers) {
            r.join();
        }
    }
    CHECK(wins == kRounds);
    CHECK(wrong == 0);
    CHECK(t.pending() == 0);
}
