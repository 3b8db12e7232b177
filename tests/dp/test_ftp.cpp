// The FTP helper through the real pipeline, on the seed's ftp service (VIP 202.103.106.5:21 ->
// 172.16.0.3:21) and its IPv6 twin ([2001:2:0:18::5]:21 -> [2001:2:0:19::3]:21): packets in,
// packets out, byte for byte.
#include <catch2/catch.hpp>

#include <string>

#include "dp/alg/ftp_helper.hpp"
#include "dp/owner.hpp"
#include "lab_fixture.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using namespace vsnat::test;

namespace {

constexpr uint8_t PSH = 0x08;
const std::string kRip = "172.16.0.3";
const std::string kVip = "202.103.106.5";
const std::string kClient = "202.100.1.2";

std::vector<uint8_t> bytes(const std::string& s) {
    return {s.begin(), s.end()};
}

// A control-connection segment from the client, and one from the real server.
PacketSpec command(uint16_t client_port, const std::string& text, uint32_t seq, uint32_t ack) {
    PacketSpec s = from_client(client_port, ACK | PSH, 21);
    s.payload = bytes(text);
    s.seq = seq;
    s.ack = ack;
    return s;
}
PacketSpec reply(uint16_t client_port, const std::string& text, uint32_t seq, uint32_t ack,
                 const std::string& rip = kRip) {
    PacketSpec s = from_server(rip, 21, client_port, ACK | PSH);
    s.payload = bytes(text);
    s.seq = seq;
    s.ack = ack;
    return s;
}

// How the client must receive a server segment, and the server a client segment.
std::vector<uint8_t> to_client(const PacketSpec& s, uint16_t vport = 21) {
    return expected(s, kVip, vport, kClient, s.dst_port, kOutsideMac, kGatewayMac);
}
std::vector<uint8_t> to_server(const PacketSpec& s, uint16_t rport, const std::string& rip = kRip,
                               MacAddress rs_mac = kRs2Mac) {
    return expected(s, kClient, s.src_port, rip, rport, kInsideMac, rs_mac);
}

void open_control(PipelineHarness& h, uint16_t client_port, uint32_t now_ms = 0) {
    const size_t before = h.sent.size();
    h.run({build_packet(from_client(client_port, SYN, 21))}, now_ms);
    REQUIRE(h.sent.size() == before + 1);
}

const std::string k227 = "227 Entering Passive Mode (172,16,0,3,117,48).\r\n";
const std::string k227AsVip = "227 Entering Passive Mode (202,103,106,5,117,48).\r\n";

}  // namespace

TEST_CASE("ftp: a 227 reply leaves with the VIP; sequence numbers after it move; acks back") {
    PipelineHarness h;
    open_control(h, 4000);
    const auto grown = static_cast<uint32_t>(k227AsVip.size() - k227.size());
    REQUIRE(grown == 3);

    const PacketSpec pasv = reply(4000, k227, 5000, 100);
    h.run({build_packet(pasv)});
    REQUIRE(h.sent.size() == 2);
    PacketSpec want = pasv;
    want.payload = bytes(k227AsVip);
    CHECK(h.sent[1].bytes == to_client(want));
    CHECK(checksums_valid(h.sent[1].bytes));

    // The next reply starts where the 227 ended at the server, 3 bytes later at the client.
    const uint32_t after = 5000 + static_cast<uint32_t>(k227.size());
    const PacketSpec done = reply(4000, "226 Transfer complete.\r\n", after, 100);
    h.run({build_packet(done)});
    PacketSpec done_out = done;
    done_out.seq = after + grown;
    CHECK(h.sent[2].bytes == to_client(done_out));

    // The client acknowledges in its numbering; the server sees its own.
    const PacketSpec ack = command(4000, "", 100, after + grown + 24);
    h.run({build_packet(ack)});
    PacketSpec ack_out = ack;
    ack_out.ack = after + 24;
    CHECK(h.sent[3].bytes == to_server(ack_out, 21));
    // An ack of data before the rewritten segment is not shifted.
    h.run({build_packet(command(4000, "", 100, 5000))});
    CHECK(h.sent[4].bytes == to_server(command(4000, "", 100, 5000), 21));

    // A retransmission of the 227 is rewritten again, identically, and moves nothing further.
    h.run({build_packet(pasv)});
    CHECK(h.sent[5].bytes == h.sent[1].bytes);
    h.run({build_packet(done)});
    CHECK(h.sent[6].bytes == to_client(done_out));

    // A second 227 further on: it starts 3 bytes on; what follows it 6.
    const uint32_t second = after + 24;
    const PacketSpec pasv2 =
        reply(4000, "227 Entering Passive Mode (172,16,0,3,117,49)\r\n", second, 100);
    h.run({build_packet(pasv2)});
    PacketSpec pasv2_out = pasv2;
    pasv2_out.seq = second + grown;
    pasv2_out.payload = bytes("227 Entering Passive Mode (202,103,106,5,117,49)\r\n");
    CHECK(h.sent[7].bytes == to_client(pasv2_out));
    const uint32_t after2 = second + static_cast<uint32_t>(pasv2.payload.size());
    h.run({build_packet(reply(4000, "150 Ok\r\n", after2, 100))});
    PacketSpec tail = reply(4000, "150 Ok\r\n", after2, 100);
    tail.seq = after2 + 2 * grown;
    CHECK(h.sent[8].bytes == to_client(tail));
    h.run({build_packet(command(4000, "", 100, after2 + 2 * grown + 8))});
    CHECK(h.sent[9].bytes == to_server(command(4000, "", 100, after2 + 8), 21));

    CHECK(h.ctx.counters.ftp_rewrites == 3);
    CHECK(h.ctx.counters.ftp_expectations == 3);
}

TEST_CASE("ftp: the client's passive data connection goes to the same real server and port") {
    PipelineHarness h;
    open_control(h, 4000);
    h.run({build_packet(reply(4000, k227, 5000, 100))});
    const PacketSpec syn = from_client(4100, SYN, 30000);
    h.run({build_packet(syn)});
    REQUIRE(h.sent.size() == 3);
    CHECK(h.sent[2].bytes == to_server(syn, 30000));
    const PacketSpec synack = from_server(kRip, 30000, 4100, SYN | ACK);
    h.run({build_packet(synack)});
    CHECK(h.sent[3].bytes == to_client(synack, 30000));
    CHECK(h.ctx.counters.ftp_data_connections == 1);
    CHECK(h.table->size() == 2);
    // Claimed once: another client port to the same VIP port is not a data connection.
    h.run({build_packet(from_client(4101, SYN, 30000))});
    CHECK(dropped(h, DropReason::no_service) == 1);
    // The data connection needs no helper: its payload is not looked at.
    PacketSpec data = synack;
    data.tcp_flags = ACK;
    data.payload = bytes(k227);
    h.run({build_packet(data)});
    CHECK(h.sent.back().bytes == to_client(data, 30000));
}

TEST_CASE("ftp: a 227 shorter at the VIP shrinks the segment and moves what follows back") {
    auto snap = seed_snapshot();
    snap->services[1].servers[0].ip = ip_raw("172.16.100.200");
    WorkerGroup g(std::move(snap), 1);
    PipelineHarness& w = *g.workers[0];
    w.neighbors.set(kInsidePort, ip_raw("172.16.100.200"), kRs1Mac);
    g.run({build_packet(from_client(4000, SYN, 21))});
    const std::string text = "227 Entering Passive Mode (172,16,100,200,4,1)\r\n";
    const PacketSpec pasv = reply(4000, text, 7000, 1, "172.16.100.200");
    g.run({build_packet(pasv)});
    REQUIRE(g.sent.size() == 2);
    PacketSpec want = pasv;
    want.payload = bytes("227 Entering Passive Mode (202,103,106,5,4,1)\r\n");
    CHECK(g.sent[1].bytes == to_client(want));
    const uint32_t after = 7000 + static_cast<uint32_t>(text.size());
    g.run({build_packet(reply(4000, "x\r\n", after, 1, "172.16.100.200"))});
    PacketSpec next = reply(4000, "x\r\n", after, 1, "172.16.100.200");
    next.seq = after - 1;
    CHECK(g.sent[2].bytes == to_client(next));
    const PacketSpec syn = from_client(4100, SYN, 1025);
    g.run({build_packet(syn)});
    CHECK(g.sent[3].bytes == to_server(syn, 1025, "172.16.100.200", kRs1Mac));
}

TEST_CASE("ftp: 229 needs no rewrite; the data connection still follows the control") {
    PipelineHarness h;
    open_control(h, 4000);
    const PacketSpec epsv =
        reply(4000, "229 Entering Extended Passive Mode (|||6446|)\r\n", 5000, 100);
    h.run({build_packet(epsv)});
    CHECK(h.sent[1].bytes == to_client(epsv));
    const PacketSpec syn = from_client(4100, SYN, 6446);
    h.run({build_packet(syn)});
    CHECK(h.sent[2].bytes == to_server(syn, 6446));
    CHECK(h.ctx.counters.ftp_rewrites == 0);
    CHECK(h.ctx.counters.ftp_data_connections == 1);
}

TEST_CASE("ftp: PORT and EPRT: the real server's connection reaches the client from VIP:20") {
    for (const std::string& cmd : {std::string("PORT 202,100,1,2,195,80\r\n"),
                                   std::string("EPRT |1|202.100.1.2|50000|\r\n")}) {
        PipelineHarness h;
        open_control(h, 4000);
        const PacketSpec port = command(4000, cmd, 100, 5000);
        h.run({build_packet(port)});
        CHECK(h.sent[1].bytes == to_server(port, 21));  // not rewritten under VS/NAT
        const PacketSpec syn = from_server(kRip, 20, 50000, SYN);
        h.run({build_packet(syn)});
        REQUIRE(h.sent.size() == 3);
        CHECK(h.sent[2].bytes == to_client(syn, 20));
        const PacketSpec synack = from_client(50000, SYN | ACK, 20);
        h.run({build_packet(synack)});
        CHECK(h.sent[3].bytes == to_server(synack, 20));
        CHECK(h.ctx.counters.ftp_data_connections == 1);
        // The server may pick another source port: the expectation fixes only the client's.
        h.run({build_packet(command(4000, "PORT 202,100,1,2,195,81\r\n", 100, 5000))});
        const PacketSpec other = from_server(kRip, 40000, 50001, SYN);
        h.run({build_packet(other)});
        CHECK(h.sent.back().bytes == to_client(other, 20));
    }
}

TEST_CASE("ftp: addresses that are not the connection's open nothing and are not rewritten") {
    PipelineHarness h;
    open_control(h, 4000);
    const PacketSpec bounce = command(4000, "PORT 10,0,0,9,195,80\r\n", 100, 5000);
    h.run({build_packet(bounce)});
    CHECK(h.sent[1].bytes == to_server(bounce, 21));
    PacketSpec syn = from_server(kRip, 20, 50000, SYN);
    syn.dst_ip = "10.0.0.9";
    h.run({build_packet(syn)});
    CHECK(h.sent.size() == 2);
    CHECK(dropped(h, DropReason::not_for_us) == 1);

    const PacketSpec other =
        reply(4000, "227 Entering Passive Mode (1,2,3,4,117,48)\r\n", 5000, 100);
    h.run({build_packet(other)});
    CHECK(h.sent[2].bytes == to_client(other));
    // An EPRT of the other family names no host of an IPv4 connection.
    const PacketSpec v6 = command(4000, "EPRT |2|2001:2:0:1::2|50000|\r\n", 100, 5000);
    h.run({build_packet(v6)});
    CHECK(h.sent[3].bytes == to_server(v6, 21));
    CHECK(h.ctx.counters.ftp_foreign_addresses == 3);
    CHECK(h.ctx.counters.ftp_expectations == 0);
}

TEST_CASE("ftp: split, malformed and corrupt lines") {
    PipelineHarness h;
    open_control(h, 4000);
    const PacketSpec split = reply(4000, "227 Entering Passive Mode (172,16,0,3,", 5000, 100);
    h.run({build_packet(split)});
    CHECK(h.sent[1].bytes == to_client(split));
    CHECK(h.ctx.counters.ftp_split_lines == 1);

    const PacketSpec huge =
        reply(4000, "227 Entering Passive Mode (172,16,0,3,999,1)\r\n", 6000, 100);
    h.run({build_packet(huge)});
    CHECK(h.sent[2].bytes == to_client(huge));
    CHECK(h.ctx.counters.ftp_malformed_lines == 1);

    // A 227 to rewrite must be intact: its checksum is computed afresh.
    std::vector<uint8_t> corrupt = build_packet(reply(4000, k227, 7000, 100));
    corrupt[14 + 20 + 20 + 4] ^= 0x20;  // "227 entering": still a 227 line
    h.run({corrupt});
    CHECK(h.sent.size() == 3);
    CHECK(dropped(h, DropReason::bad_l4_checksum) == 1);
    CHECK(h.ctx.counters.ftp_expectations == 0);
}

TEST_CASE("ftp: expectations are bounded per control connection and expire") {
    PipelineHarness h;
    open_control(h, 4000);
    uint32_t seq = 5000;
    for (uint16_t p = 1; p <= FtpControl::kMaxPending + 1; ++p) {
        const std::string text =
            "227 Entering Passive Mode (172,16,0,3,117," + std::to_string(p) + ")\r\n";
        h.run({build_packet(reply(4000, text, seq, 100))});
        seq += static_cast<uint32_t>(text.size());
    }
    CHECK(h.ctx.expectations->pending() == FtpControl::kMaxPending);
    h.run({build_packet(from_client(4101, SYN, 117 * 256 + 1))});  // the oldest: revoked
    CHECK(dropped(h, DropReason::no_service) == 1);
    h.run({build_packet(from_client(4102, SYN, 117 * 256 + 2))}, kFtpExpectationTimeoutMs - 1);
    CHECK(h.ctx.counters.ftp_data_connections == 1);
    h.run({build_packet(from_client(4103, SYN, 117 * 256 + 3))}, kFtpExpectationTimeoutMs);
    CHECK(dropped(h, DropReason::no_service) == 2);
    CHECK(h.ctx.counters.ftp_data_connections == 1);
    for (uint32_t i = 0; i < ExpectationTable::kSlots; ++i) {
        expire_connections(h.ctx, kFtpExpectationTimeoutMs, 0);
    }
    CHECK(h.ctx.expectations->pending() == 0);
}

TEST_CASE("ftp: a control connection that ends takes its helper state and expectations along") {
    PipelineHarness h;
    for (auto& t : h.snapshot->timeouts) {
        t = 1000;
    }
    open_control(h, 4000);
    CHECK(h.ftp_controls->in_use() == 1);
    h.run({build_packet(reply(4000, k227, 5000, 100))});
    CHECK(h.ctx.expectations->pending() == 1);
    expire_connections(h.ctx, 2000, UINT32_MAX);
    CHECK(h.table->size() == 0);
    CHECK(h.ftp_controls->in_use() == 0);
    CHECK(h.ctx.expectations->pending() == 0);
    h.run({build_packet(from_client(4100, SYN, 30000))}, 2000);
    CHECK(dropped(h, DropReason::no_service) == 1);
}

TEST_CASE("ftp: no helper state left refuses new control connections only") {
    PipelineHarness h;
    while (h.ftp_controls->acquire() != FtpControlPool::kNone) {
    }
    h.run({build_packet(from_client(4000, SYN, 21))});
    CHECK(h.sent.empty());
    CHECK(dropped(h, DropReason::helper_full) == 1);
    h.run({build_packet(from_client(4001, SYN, 80))});
    CHECK(h.sent.size() == 1);
}

TEST_CASE("ftp: data connections owned by another worker than their control connection") {
    WorkerGroup g(seed_snapshot(2), 2);
    const uint32_t client = ip_raw(kClient);
    auto port_owned_by = [&](uint32_t worker, uint16_t from) {
        uint16_t p = from;
        while (owner_of_client(client, port_raw(p), 2) != worker) {
            ++p;
        }
        return p;
    };
    const uint16_t control = port_owned_by(0, 4000);
    const uint16_t passive_data = port_owned_by(1, 5000);
    const uint16_t active_data = port_owned_by(1, 50000);

    g.run({build_packet(from_client(control, SYN, 21))});
    g.run({build_packet(reply(control, k227, 5000, 100))});
    const PacketSpec syn = from_client(passive_data, SYN, 30000);
    g.run({build_packet(syn)});
    CHECK(g.handled_by == std::vector<uint32_t>{0, 0, 1});
    REQUIRE(g.sent.size() == 3);
    CHECK(g.sent[2].bytes == to_server(syn, 30000));

    const std::string port_cmd = "PORT 202,100,1,2," + std::to_string(active_data >> 8) + "," +
                                 std::to_string(active_data & 0xff) + "\r\n";
    g.run({build_packet(command(control, port_cmd, 100, 5000 + 3))});
    const PacketSpec active = from_server(kRip, 20, active_data, SYN);
    g.run({build_packet(active)});
    CHECK(g.handled_by.back() == 1);
    CHECK(g.sent.back().bytes == to_client(active, 20));
    CHECK(g.counter(&WorkerCounters::ftp_data_connections) == 2);
    CHECK(g.workers[1]->ctx.counters.ftp_data_connections == 2);
    CHECK(g.workers[1]->table->size() == 2);
}

// ---- IPv6 --------------------------------------------------------------------------------------

namespace {

// The seed's scenario with its FTP service's IPv6 twin (add_ftp6_service).
std::unique_ptr<Snapshot> ftp6_snapshot(uint32_t workers = 1) {
    auto snap = seed_snapshot(workers);
    add_ftp6_service(*snap);
    return snap;
}

PacketSpec command6(uint16_t client_port, const std::string& text, uint32_t seq = 100,
                    uint32_t ack = 5000) {
    PacketSpec s = client_packet6(6, ACK | PSH, 21, client_port);
    s.payload = bytes(text);
    s.seq = seq;
    s.ack = ack;
    return s;
}
PacketSpec reply6(uint16_t client_port, const std::string& text, uint32_t seq = 5000,
                  uint32_t ack = 100) {
    PacketSpec s = server_packet6(6, kRs2Ip6, 21, ACK | PSH, client_port);
    s.payload = bytes(text);
    s.seq = seq;
    s.ack = ack;
    return s;
}
std::vector<uint8_t> to_client6(const PacketSpec& s, uint16_t vport = 21) {
    return expected(s, kVip6, vport, kClient6, s.dst_port, kOutsideMac, kGatewayMac);
}
std::vector<uint8_t> to_server6(const PacketSpec& s, uint16_t rport) {
    return expected(s, kClient6, s.src_port, kRs2Ip6, rport, kInsideMac, kRs2Mac);
}

// One worker on ftp6_snapshot() with the control connection from client port 4000 open.
struct Ftp6 {
    WorkerGroup g{ftp6_snapshot(), 1};
    PipelineHarness& h = *g.workers[0];

    explicit Ftp6(uint32_t now_ms = 0) {
        g.run({build_packet(client_packet6(6, SYN, 21, 4000))}, now_ms);
        REQUIRE(g.sent.size() == 1);
        REQUIRE(h.ftp_controls->in_use() == 1);
    }
};

const std::string k229 = "229 Entering Extended Passive Mode (|||6446|)\r\n";
const std::string kEprt6 = "EPRT |2|2001:2:0:1::2|50000|\r\n";

}  // namespace

TEST_CASE("ftp over IPv6: EPSV: the client's data connection goes to the same server and port") {
    Ftp6 t;
    const PacketSpec epsv = reply6(4000, k229);
    t.g.run({build_packet(epsv)});
    REQUIRE(t.g.sent.size() == 2);
    CHECK(t.g.sent[1].bytes == to_client6(epsv));  // no address in it: nothing to rewrite

    const PacketSpec syn = client_packet6(6, SYN, 6446, 4100);
    t.g.run({build_packet(syn)});
    REQUIRE(t.g.sent.size() == 3);
    CHECK(t.g.sent[2].bytes == to_server6(syn, 6446));
    PacketSpec synack = server_packet6(6, kRs2Ip6, 6446, SYN | ACK, 4100);
    synack.payload = bytes("data from the server");
    t.g.run({build_packet(synack)});
    REQUIRE(t.g.sent.size() == 4);
    CHECK(t.g.sent[3].bytes == to_client6(synack, 6446));
    CHECK(checksums_valid(t.g.sent[3].bytes));
    PacketSpec data = client_packet6(6, ACK, 6446, 4100);
    data.payload = bytes(k229);  // a data connection's payload is not looked at
    t.g.run({build_packet(data)});
    CHECK(t.g.sent.back().bytes == to_server6(data, 6446));

    const WorkerCounters& n = t.h.ctx.counters;
    CHECK(n.ftp_expectations == 1);
    CHECK(n.ftp_data_connections == 1);
    CHECK(n.ftp_rewrites == 0);
    CHECK(t.h.table6->size() == 2);
    CHECK(t.h.table->size() == 0);
    CHECK(t.h.dest_counters[9].connections == 2);
    CHECK(t.g.expectations6.pending() == 0);
    // Claimed once: another client port to the same VIP port is no data connection.
    t.g.run({build_packet(client_packet6(6, SYN, 6446, 4101))});
    CHECK(dropped(t.h, DropReason::no_service) == 1);
}

TEST_CASE("ftp over IPv6: EPRT |2|: the real server's connection reaches the client from VIP:20") {
    Ftp6 t;
    const PacketSpec eprt = command6(4000, kEprt6);
    t.g.run({build_packet(eprt)});
    REQUIRE(t.g.sent.size() == 2);
    CHECK(t.g.sent[1].bytes == to_server6(eprt, 21));  // not rewritten under VS/NAT

    const PacketSpec syn = server_packet6(6, kRs2Ip6, 20, SYN, 50000);
    t.g.run({build_packet(syn)});
    REQUIRE(t.g.sent.size() == 3);
    CHECK(t.g.sent[2].bytes == to_client6(syn, 20));
    const PacketSpec synack = client_packet6(6, SYN | ACK, 20, 50000);
    t.g.run({build_packet(synack)});
    REQUIRE(t.g.sent.size() == 4);
    CHECK(t.g.sent[3].bytes == to_server6(synack, 20));
    CHECK(t.h.ctx.counters.ftp_data_connections == 1);

    // The server may pick another source port: the expectation fixes only the client's.
    t.g.run({build_packet(command6(4000, "EPRT |2|2001:2:0:1:0:0:0:2|50001|\r\n"))});
    const PacketSpec other = server_packet6(6, kRs2Ip6, 40000, SYN, 50001);
    t.g.run({build_packet(other)});
    CHECK(t.g.sent.back().bytes == to_client6(other, 20));
    CHECK(t.h.ctx.counters.ftp_data_connections == 2);
    CHECK(t.h.table6->size() == 3);
}

TEST_CASE("ftp over IPv6: PASV, PORT, another family or host: forwarded as they are, counted") {
    Ftp6 t;
    // A 227 carries an IPv4 address (RFC 2428: PASV is IPv4's), never the IPv6 server's.
    const PacketSpec pasv = reply6(4000, "227 Entering Passive Mode (172,16,0,3,117,48).\r\n");
    const PacketSpec port = command6(4000, "PORT 202,100,1,2,195,80\r\n");
    const PacketSpec eprt4 = command6(4000, "EPRT |1|202.100.1.2|50000|\r\n", 125);
    const PacketSpec bounce = command6(4000, "EPRT |2|2001:2:0:1::9|50000|\r\n", 156);
    t.g.run({build_packet(pasv), build_packet(port), build_packet(eprt4), build_packet(bounce)});
    REQUIRE(t.g.sent.size() == 5);
    CHECK(t.g.sent[1].bytes == to_client6(pasv));
    CHECK(t.g.sent[2].bytes == to_server6(port, 21));
    CHECK(t.g.sent[3].bytes == to_server6(eprt4, 21));
    CHECK(t.g.sent[4].bytes == to_server6(bounce, 21));
    const WorkerCounters& n = t.h.ctx.counters;
    CHECK(n.ftp_foreign_addresses == 4);
    CHECK(n.ftp_expectations == 0);
    CHECK(n.ftp_rewrites == 0);
    // Nothing changed length: what follows keeps its sequence numbers.
    const PacketSpec next = reply6(4000, "200 Ok\r\n", 5000 + 50);
    t.g.run({build_packet(next)});
    CHECK(t.g.sent.back().bytes == to_client6(next));
    // Nothing was expected: the real server's SYN to the client's port is no connection.
    t.g.run({build_packet(server_packet6(6, kRs2Ip6, 20, SYN, 50000))});
    CHECK(dropped(t.h, DropReason::not_for_us) == 1);
}

TEST_CASE("ftp over IPv6: split and malformed lines are counted and forwarded") {
    Ftp6 t;
    const PacketSpec split = reply6(4000, "229 Entering Extended Passive Mode (|||64");
    const PacketSpec bad = command6(4000, "EPRT |2|2001:2::1::2|50000|\r\n");
    t.g.run({build_packet(split), build_packet(bad)});
    REQUIRE(t.g.sent.size() == 3);
    CHECK(t.g.sent[1].bytes == to_client6(split));
    CHECK(t.g.sent[2].bytes == to_server6(bad, 21));
    CHECK(t.h.ctx.counters.ftp_split_lines == 1);
    CHECK(t.h.ctx.counters.ftp_malformed_lines == 1);
    CHECK(t.g.expectations6.pending() == 0);
}

TEST_CASE("ftp over IPv6: the control connection's end revokes what nobody opened") {
    auto snap = ftp6_snapshot();
    for (auto& timeout : snap->timeouts) {
        timeout = 1000;
    }
    WorkerGroup g(std::move(snap), 1);
    PipelineHarness& h = *g.workers[0];
    g.run({build_packet(client_packet6(6, SYN, 21, 4000))});
    g.run({build_packet(reply6(4000, k229)), build_packet(command6(4000, kEprt6))});
    CHECK(g.expectations6.pending() == 2);
    CHECK(g.expectations.pending() == 0);
    CHECK(h.ftp_controls->in_use() == 1);
    g.expire(2000);
    CHECK(h.table6->size() == 0);
    CHECK(h.ftp_controls->in_use() == 0);
    CHECK(g.expectations6.pending() == 0);
    g.run({build_packet(client_packet6(6, SYN, 6446, 4100)),
           build_packet(server_packet6(6, kRs2Ip6, 20, SYN, 50000))},
          2000);
    CHECK(dropped(h, DropReason::no_service) == 1);
    CHECK(dropped(h, DropReason::not_for_us) == 1);
    CHECK(h.ctx.counters.ftp_data_connections == 0);
}

TEST_CASE("ftp over IPv6: no helper state, or no IPv6 expectation table: control refused") {
    Ftp6 t;
    while (t.h.ftp_controls->acquire() != FtpControlPool::kNone) {
    }
    t.g.run({build_packet(client_packet6(6, SYN, 21, 4001))});
    CHECK(dropped(t.h, DropReason::helper_full) == 1);

    WorkerGroup g(ftp6_snapshot(), 1);
    g.workers[0]->ctx.expectations6 = nullptr;
    g.run(
        {build_packet(client_packet6(6, SYN, 21, 4000)), build_packet(client_packet(6, SYN, 21))});
    CHECK(dropped(*g.workers[0], DropReason::helper_full) == 1);
    CHECK(g.sent.size() == 1);  // IPv4's control connection still opens
}

TEST_CASE("ftp over IPv6: data connections owned by another worker than their control one") {
    WorkerGroup g(ftp6_snapshot(2), 2);
    const Ipv6 client = ip6_raw(kClient6);
    auto port_owned_by = [&](uint32_t worker, uint16_t from) {
        uint16_t p = from;
        while (owner_of_client(client, port_raw(p), 2) != worker) {
            ++p;
        }
        return p;
    };
    const uint16_t control = port_owned_by(0, 4000);
    const uint16_t passive_data = port_owned_by(1, 5000);
    const uint16_t active_data = port_owned_by(1, 50000);

    g.run({build_packet(client_packet6(6, SYN, 21, control))});
    g.run({build_packet(reply6(control, k229))});
    const PacketSpec syn = client_packet6(6, SYN, 6446, passive_data);
    g.run({build_packet(syn)});
    CHECK(g.handled_by == std::vector<uint32_t>{0, 0, 1});
    REQUIRE(g.sent.size() == 3);
    CHECK(g.sent[2].bytes == to_server6(syn, 6446));

    g.run({build_packet(
        command6(control, "EPRT |2|2001:2:0:1::2|" + std::to_string(active_data) + "|\r\n"))});
    const PacketSpec active = server_packet6(6, kRs2Ip6, 20, SYN, active_data);
    g.run({build_packet(active)});
    CHECK(g.handled_by.back() == 1);
    CHECK(g.sent.back().bytes == to_client6(active, 20));
    CHECK(g.workers[1]->ctx.counters.ftp_data_connections == 2);
    CHECK(g.workers[1]->table6->size() == 2);
}
