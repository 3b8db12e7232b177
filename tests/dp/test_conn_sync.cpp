// Connection sync on the packet path: when a worker queues records of its connections, and how a
// record from another director lands in a worker's table and carries the connection on.
#include <catch2/catch.hpp>

#include <algorithm>

#include "dp/bytes.hpp"
#include "dp/conn_sync.hpp"
#include "lab_fixture.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using namespace vsnat::test;

namespace {

constexpr uint8_t FIN = 0x01, PSH = 0x08;
const std::string kVip = "202.103.106.5";
const std::string kClient = "202.100.1.2";

// A PipelineHarness with sync on, as a director with `ha.sync` runs its workers.
struct SyncHarness {
    SyncHarness() : sync(h.table->capacity(), h.table6->capacity()) { h.ctx.sync = &sync; }
    /// The records queued since the last take(), which must all be of family `R`'s.
    template <class R = sync::Record>
    std::vector<R> take() {
        std::vector<R> out;
        for (const sync::AnyRecord& r : std::span(sync.outbox).first(sync.outbox_count)) {
            REQUIRE(std::holds_alternative<R>(r));
            out.push_back(std::get<R>(r));
        }
        sync.outbox_count = 0;
        return out;
    }
    PipelineHarness h;
    ConnSync sync;
};

// A connection through `s` to web (rs2, 172.16.0.3:8000 with the seed's wrr) from client port
// `port`: SYN, SYN-ACK, ACK.
void handshake(SyncHarness& s, uint16_t port) {
    s.h.run({build_packet(from_client(port, SYN))});
    s.h.run({build_packet(from_server("172.16.0.3", 8000, port, SYN | ACK))});
    s.h.run({build_packet(from_client(port, ACK))});
}

sync::Record web_record(uint16_t client_port, ConnState state,
                        const std::string& rip = "172.16.0.3", uint16_t rport = 8000) {
    sync::Record r;
    r.protocol = 6;
    r.flags = sync::kConnMasq | (state == ConnState::established ? 0 : sync::kConnInactive);
    r.state = sync::ipvs_state_of(state);
    r.client_ip = ip_raw(kClient);
    r.vip = ip_raw(kVip);
    r.real_ip = ip_raw(rip);
    r.client_port = port_raw(client_port);
    r.vport = port_raw(80);
    r.real_port = port_raw(rport);
    r.timeout_s = 900;
    return r;
}

// web_record() for the IPv6 web service: [kClient6]:`client_port` -> [kVip6]:80 -> `rip`.
sync::Record6 web_record6(uint16_t client_port, ConnState state, const std::string& rip = kRs2Ip6,
                          uint16_t rport = 8000) {
    sync::Record6 r;
    r.protocol = 6;
    r.flags = sync::kConnMasq | (state == ConnState::established ? 0 : sync::kConnInactive);
    r.state = sync::ipvs_state_of(state);
    r.client_ip = ip6_raw(kClient6);
    r.vip = ip6_raw(kVip6);
    r.real_ip = ip6_raw(rip);
    r.client_port = port_raw(client_port);
    r.vport = port_raw(80);
    r.real_port = port_raw(rport);
    r.timeout_s = 900;
    return r;
}

// The counters of the IPv6 web service's real server at `rip`.
const DestCounters& counters6(const SyncHarness& s, const std::string& rip) {
    const ServiceEntry* web = s.h.snapshot->find_service6(6, ip6_raw(kVip6), port_raw(80));
    REQUIRE(web != nullptr);
    for (const Destination& d : web->servers) {
        if (d.ip6 == ip6_raw(rip)) {
            return s.h.dest_counters[d.dest_id];
        }
    }
    FAIL("no IPv6 real server " << rip);
    return s.h.dest_counters[0];
}

}  // namespace

TEST_CASE("sync: a TCP connection is sent on the 3rd packet from the client, and then every 50th") {
    SyncHarness s;
    handshake(s, 5000);
    CHECK(s.take().empty());  // SYN_RECV is not synced, and two packets are not three
    s.h.run({build_packet(from_client(5000, ACK | PSH))});
    std::vector<sync::Record> sent = s.take();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0] == web_record(5000, ConnState::established));

    for (int i = 0; i < 49; ++i) {
        s.h.run({build_packet(from_client(5000, ACK))});
        s.h.run({build_packet(from_server("172.16.0.3", 8000, 5000, ACK))});
    }
    CHECK(s.take().empty());
    s.h.run({build_packet(from_client(5000, ACK))});  // the 53rd
    CHECK(s.take().size() == 1);
}

TEST_CASE("sync: entering FIN_WAIT, CLOSE_WAIT, TIME_WAIT or CLOSE is sent at once") {
    SyncHarness s;
    handshake(s, 5001);
    s.h.run({build_packet(from_client(5001, ACK | FIN))});  // LVS: the client's FIN, CLOSE_WAIT
    std::vector<sync::Record> sent = s.take();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].state == sync::ipvs_state_of(ConnState::close_wait));
    CHECK((sent[0].flags & sync::kConnInactive) != 0);
    const uint32_t timeout_ms = s.h.snapshot->timeouts[static_cast<size_t>(ConnState::close_wait)];
    CHECK(sent[0].timeout_s == timeout_ms / 1000);
    s.h.run({build_packet(from_server("172.16.0.3", 8000, 5001, ACK | FIN))});
    sent = s.take();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].state == sync::ipvs_state_of(ConnState::time_wait));
}

TEST_CASE("sync: UDP on the 3rd datagram from the client") {
    SyncHarness s;
    for (int i = 0; i < 2; ++i) {
        s.h.run({build_packet(client_packet(17, 0, 53, 7000))});
    }
    CHECK(s.take().empty());
    s.h.run({build_packet(client_packet(17, 0, 53, 7000))});
    std::vector<sync::Record> sent = s.take();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].protocol == 17);
    CHECK(sent[0].state == sync::kIpvsUdpStateNormal);
}

TEST_CASE(
    "sync: a record makes the connection on the backup, which forwards it without scheduling") {
    SyncHarness s;
    // rs1 (172.16.0.2:80) is what the record says, whatever the backup's scheduler would pick.
    const sync::Record r = web_record(6000, ConnState::established, "172.16.0.2", 80);
    CHECK(apply_sync_record(s.h.ctx, r, 0) == SyncApplied::inserted);
    CHECK(s.h.table->size() == 1);
    CHECK(s.h.ctx.counters.sync_applied == 1);
    CHECK(s.h.dest_counters[0].active == 1);
    CHECK(s.h.ctx.counters.connections_created == 0);

    s.h.run({build_packet(from_client(6000, ACK | PSH))});
    REQUIRE(s.h.sent.size() == 1);
    PacketFields to_rs = read_fields(s.h.sent[0].bytes);
    CHECK(format_ip(to_rs.dst_ip) == "172.16.0.2");
    CHECK(to_rs.dst_port == 80);
    s.h.run({build_packet(from_server("172.16.0.2", 80, 6000, ACK | PSH))});
    REQUIRE(s.h.sent.size() == 2);
    CHECK(format_ip(read_fields(s.h.sent[1].bytes).src_ip) == kVip);
    CHECK(s.h.ctx.counters.connections_created == 0);

    // The same connection again, further on: its state moves, nothing is added.
    CHECK(apply_sync_record(s.h.ctx, web_record(6000, ConnState::fin_wait, "172.16.0.2", 80), 0) ==
          SyncApplied::updated);
    CHECK(s.h.table->size() == 1);
    CHECK(s.h.dest_counters[0].active == 0);
    CHECK(s.h.dest_counters[0].inactive == 1);
    // The client reused its port on the master for a connection to the other server.
    CHECK(apply_sync_record(s.h.ctx, web_record(6000, ConnState::established), 0) ==
          SyncApplied::replaced);
    CHECK(s.h.table->size() == 1);
    CHECK(s.h.dest_counters[0].inactive == 0);
    CHECK(s.h.dest_counters[1].active == 1);
}

TEST_CASE("sync: the backup's copy lives the record's timeout and a margin") {
    SyncHarness s;
    sync::Record r = web_record(6001, ConnState::established);
    r.timeout_s = 10;
    apply_sync_record(s.h.ctx, r, 1000);
    expire_connections(s.h.ctx, 1000 + 10000 + ConnSync::kMarginMs - 100, UINT32_MAX);
    CHECK(s.h.table->size() == 1);
    expire_connections(s.h.ctx, 1000 + 10000 + ConnSync::kMarginMs + 100, UINT32_MAX);
    CHECK(s.h.table->size() == 0);
    CHECK(s.h.ctx.counters.connections_expired == 1);
}

TEST_CASE("sync: records that match nothing here are refused and counted") {
    SyncHarness s;
    sync::Record other_vip = web_record(6002, ConnState::established);
    other_vip.vip = ip_raw("202.103.106.9");
    CHECK(apply_sync_record(s.h.ctx, other_vip, 0) == SyncApplied::refused);
    CHECK(apply_sync_record(s.h.ctx, web_record(6002, ConnState::established, "172.16.0.9"), 0) ==
          SyncApplied::refused);
    sync::Record tunnel = web_record(6002, ConnState::established);
    tunnel.flags |= sync::kConnTunnel;
    CHECK(apply_sync_record(s.h.ctx, tunnel, 0) == SyncApplied::refused);
    sync::Record bad_state = web_record(6002, ConnState::established);
    bad_state.state = 11;
    CHECK(apply_sync_record(s.h.ctx, bad_state, 0) == SyncApplied::refused);
    CHECK(s.h.ctx.counters.sync_refused == 4);
    CHECK(s.h.table->size() == 0);
}

TEST_CASE("sync: the wheel refreshes this worker's long-lived connections, not a peer's copies") {
    SyncHarness s;
    handshake(s, 5002);
    s.h.run({build_packet(from_client(5002, ACK | PSH))});
    s.take();
    apply_sync_record(s.h.ctx, web_record(6003, ConnState::established), 0);
    // A turn of the wheel later both are still live (15 minutes' timeout): each was visited, at
    // its first deadline and again a turn on.
    const uint32_t turn = TimerWheel::kDefaultSlots * TimerWheel::kDefaultTickMs;
    expire_connections(s.h.ctx, turn + 1000, UINT32_MAX);
    std::vector<sync::Record> sent = s.take();
    REQUIRE(!sent.empty());
    for (const sync::Record& r : sent) {
        CHECK(r.client_port == port_raw(5002));
    }
    // Once this director forwards the copy, it is its own.
    s.h.run({build_packet(from_client(6003, ACK))}, turn + 2000);
    expire_connections(s.h.ctx, 2 * turn + 3000, UINT32_MAX);
    sent = s.take();
    CHECK(std::any_of(sent.begin(), sent.end(),
                      [](const sync::Record& r) { return r.client_port == port_raw(6003); }));
}

TEST_CASE("sync: an FTP control connection carries its sequence shift both ways") {
    SyncHarness master;
    master.h.run({build_packet(from_client(4000, SYN, 21))});
    const std::string k227 = "227 Entering Passive Mode (172,16,0,3,117,48).\r\n";
    PacketSpec pasv = from_server("172.16.0.3", 21, 4000, ACK | PSH);
    pasv.payload.assign(k227.begin(), k227.end());
    pasv.seq = 5000;
    pasv.ack = 100;
    master.h.run({build_packet(pasv)});
    std::vector<sync::Record> sent = master.take();
    REQUIRE(sent.size() == 1);  // the rewrite moved the server's numbers: sent at once
    REQUIRE(sent[0].seq.has_value());
    CHECK(sent[0].flags == (sync::kConnMasq | sync::kConnOutSeq));  // ESTABLISHED: active
    CHECK(sent[0].seq->out_seq.init_seq == 5000);
    CHECK(sent[0].seq->out_seq.delta == 3);

    // The backup continues the connection with the same shift.
    SyncHarness backup;
    CHECK(apply_sync_record(backup.h.ctx, sent[0], 0) == SyncApplied::inserted);
    const uint32_t after = 5000 + static_cast<uint32_t>(k227.size());
    PacketSpec done = from_server("172.16.0.3", 21, 4000, ACK | PSH);
    done.payload = {'2', '2', '6', '\r', '\n'};
    done.seq = after;
    done.ack = 100;
    backup.h.run({build_packet(done)});
    REQUIRE(backup.h.sent.size() == 1);
    constexpr size_t kTcpSeqAt = 14 + 20 + 4;  // Ethernet, IPv4 without options
    CHECK(load_be32(backup.h.sent[0].bytes.data() + kTcpSeqAt) == after + 3);
    CHECK(checksums_valid(backup.h.sent[0].bytes));
}

TEST_CASE("sync: a passive FTP data connection lands on the backup under the FTP server") {
    SyncHarness s;
    sync::Record data = web_record(4001, ConnState::established, "172.16.0.3", 30000);
    data.vport = port_raw(30000);
    CHECK(apply_sync_record(s.h.ctx, data, 0) == SyncApplied::inserted);
    s.h.run({build_packet(from_client(4001, ACK, 30000))});
    REQUIRE(s.h.sent.size() == 1);
    CHECK(read_fields(s.h.sent[0].bytes).dst_port == 30000);
}

TEST_CASE("sync: a resend queues every live connection, copies too, a piece at a time") {
    SyncHarness s;
    handshake(s, 5003);
    for (uint16_t port = 6100; port < 6110; ++port) {
        apply_sync_record(s.h.ctx, web_record(port, ConnState::established), 0);
    }
    s.take();
    s.sync.resend_cursor = 0;
    size_t records = 0;
    bool going = true;
    for (int round = 0; going && round < 100; ++round) {
        going = sync_resend_some(s.h.ctx, 100);
        records += s.take().size();
    }
    CHECK_FALSE(going);
    CHECK(records == 11);
    CHECK(s.sync.resend_cursor == ConnSync::kNoResend);
    CHECK_FALSE(sync_resend_some(s.h.ctx, 100));  // none going on: nothing queued
    CHECK(s.take().empty());
}

TEST_CASE("sync: an IPv6 connection is sent as an IPv6 record, by the same rules") {
    SyncHarness s;
    s.h.run({build_packet(client_packet6(6, SYN, 80, 5000))});
    s.h.run({build_packet(server_packet6(6, kRs2Ip6, 8000, SYN | ACK, 5000))});
    s.h.run({build_packet(client_packet6(6, ACK, 80, 5000))});
    CHECK(s.take<sync::Record6>().empty());
    s.h.run({build_packet(client_packet6(6, ACK | PSH, 80, 5000))});
    std::vector<sync::Record6> sent = s.take<sync::Record6>();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0] == web_record6(5000, ConnState::established));
    s.h.run({build_packet(client_packet6(6, ACK | FIN, 80, 5000))});
    sent = s.take<sync::Record6>();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].state == sync::ipvs_state_of(ConnState::close_wait));
}

TEST_CASE("sync: an IPv6 record makes the connection on the backup, forwarded as the record says") {
    SyncHarness s;
    // rs1 ([::2]:80) is what the record says, whatever the backup's scheduler would pick.
    CHECK(apply_sync_record(s.h.ctx, web_record6(6000, ConnState::established, kRs1Ip6, 80), 0) ==
          SyncApplied::inserted);
    CHECK(s.h.table6->size() == 1);
    CHECK(s.h.table->size() == 0);
    CHECK(counters6(s, kRs1Ip6).active == 1);

    s.h.run({build_packet(client_packet6(6, ACK | PSH, 80, 6000))});
    REQUIRE(s.h.sent.size() == 1);
    PacketFields to_rs = read_fields(s.h.sent[0].bytes);
    CHECK(format_ip(to_rs.dst_ip6) == kRs1Ip6);
    CHECK(to_rs.dst_port == 80);
    CHECK(checksums_valid(s.h.sent[0].bytes));
    s.h.run({build_packet(server_packet6(6, kRs1Ip6, 80, ACK | PSH, 6000))});
    REQUIRE(s.h.sent.size() == 2);
    CHECK(format_ip(read_fields(s.h.sent[1].bytes).src_ip6) == kVip6);
    CHECK(s.h.ctx.counters.connections_created == 0);

    CHECK(apply_sync_record(s.h.ctx, web_record6(6000, ConnState::fin_wait, kRs1Ip6, 80), 0) ==
          SyncApplied::updated);
    CHECK(counters6(s, kRs1Ip6).inactive == 1);
    CHECK(apply_sync_record(s.h.ctx, web_record6(6000, ConnState::established), 0) ==
          SyncApplied::replaced);
    CHECK(s.h.table6->size() == 1);
    CHECK(counters6(s, kRs1Ip6).inactive == 0);
    CHECK(counters6(s, kRs2Ip6).active == 1);
    // Its copy expires one timeout (and the margin) after the record.
    expire_connections(s.h.ctx, 900 * 1000 + ConnSync::kMarginMs + 100, UINT32_MAX);
    CHECK(s.h.table6->size() == 0);
}

TEST_CASE("sync: IPv6 records that match nothing here, or with no IPv6 table, are refused") {
    SyncHarness s;
    sync::Record6 other_vip = web_record6(6002, ConnState::established);
    other_vip.vip = ip6_raw("2001:2:0:18::9");
    CHECK(apply_sync_record(s.h.ctx, other_vip, 0) == SyncApplied::refused);
    CHECK(apply_sync_record(s.h.ctx, web_record6(6002, ConnState::established, "2001:2:0:19::9"),
                            0) == SyncApplied::refused);
    s.h.ctx.table6 = nullptr;  // a director without IPv6 addresses
    CHECK(apply_sync_record(s.h.ctx, web_record6(6002, ConnState::established), 0) ==
          SyncApplied::refused);
    CHECK(s.h.ctx.counters.sync_refused == 3);
    CHECK(s.h.table6->size() == 0);
}

TEST_CASE("sync: a resend and the wheel cover the IPv6 table too") {
    SyncHarness s;
    handshake(s, 5003);
    for (uint16_t port = 6100; port < 6105; ++port) {
        apply_sync_record(s.h.ctx, web_record6(port, ConnState::established), 0);
    }
    s.take();
    s.sync.resend_cursor = 0;
    size_t v4 = 0;
    size_t v6 = 0;
    const auto tally = [&] {
        for (const sync::AnyRecord& r : std::span(s.sync.outbox).first(s.sync.outbox_count)) {
            ++(std::holds_alternative<sync::Record6>(r) ? v6 : v4);
        }
        s.sync.outbox_count = 0;
    };
    bool going = true;
    for (int round = 0; going && round < 1000; ++round) {
        going = sync_resend_some(s.h.ctx, 1000);
        tally();
    }
    CHECK_FALSE(going);
    CHECK(v4 == 1);
    CHECK(v6 == 5);

    // This worker's own IPv6 connection is refreshed by the wheel; the peer's copies are not.
    s.h.run({build_packet(client_packet6(6, SYN, 80, 5004))});
    s.h.run({build_packet(server_packet6(6, kRs2Ip6, 8000, SYN | ACK, 5004))});
    s.h.run({build_packet(client_packet6(6, ACK, 80, 5004))});
    s.take<sync::Record6>();
    const uint32_t turn = TimerWheel::kDefaultSlots * TimerWheel::kDefaultTickMs;
    expire_connections(s.h.ctx, turn + 1000, UINT32_MAX);
    size_t own6 = 0;
    for (const sync::AnyRecord& r : std::span(s.sync.outbox).first(s.sync.outbox_count)) {
        if (const auto* r6 = std::get_if<sync::Record6>(&r)) {
            CHECK(r6->client_port == port_raw(5004));
            ++own6;
        }
    }
    CHECK(own6 > 0);
}

TEST_CASE("sync: an IPv6 record of a persistent service pins its client on the backup") {
    SyncHarness s;
    auto table6 = PersistenceTable6::create(64);
    REQUIRE(table6);
    s.h.ctx.persistence6 = table6.get();
    for (ServiceEntry& svc : s.h.snapshot->services) {
        if (svc.ipv6 && svc.protocol == 6) {
            svc.persistence_ms = 300000;
            svc.scheduler = SchedulerKind::rr;
        }
    }
    // The master sent the client to rs1; the backup's own pick for a new client would be rs1
    // then rs2 (rr), so five new connections all on rs1 say the template decided.
    CHECK(apply_sync_record(s.h.ctx, web_record6(6000, ConnState::established, kRs1Ip6, 80), 0) ==
          SyncApplied::inserted);
    CHECK(table6->live(0) == 1);
    for (uint16_t port = 6001; port < 6006; ++port) {
        s.h.run({build_packet(client_packet6(6, SYN, 80, port))});
    }
    REQUIRE(s.h.sent.size() == 5);
    for (const auto& sent : s.h.sent) {
        CHECK(format_ip(read_fields(sent.bytes).dst_ip6) == kRs1Ip6);
    }
    CHECK(s.h.ctx.counters.persistence_hits == 5);
}

TEST_CASE("sync: an IPv6 FTP control connection from a peer takes the helper here, as IPv4's") {
    SyncHarness s;
    add_ftp6_service(*s.h.snapshot);
    s.h.snapshot->finalize(1);
    sync::Record6 control = web_record6(4000, ConnState::established, kRs2Ip6, 21);
    control.vport = port_raw(21);
    CHECK(apply_sync_record(s.h.ctx, control, 0) == SyncApplied::inserted);
    CHECK(s.h.ftp_controls->in_use() == 1);
    // The backup's helper watches what follows: an EPSV reply opens the client's data connection.
    PacketSpec epsv = server_packet6(6, kRs2Ip6, 21, ACK | PSH, 4000);
    const std::string k229 = "229 Entering Extended Passive Mode (|||6446|)\r\n";
    epsv.payload.assign(k229.begin(), k229.end());
    s.h.run({build_packet(epsv), build_packet(client_packet6(6, SYN, 6446, 4100))});
    REQUIRE(s.h.sent.size() == 2);
    CHECK(read_fields(s.h.sent[1].bytes).dst_port == 6446);
    CHECK(s.h.ctx.counters.ftp_data_connections == 1);

    // A data connection synced from the peer (to a VIP port no service names) lands under the
    // FTP server.
    sync::Record6 data = web_record6(4001, ConnState::established, kRs2Ip6, 30000);
    data.vport = port_raw(30000);
    CHECK(apply_sync_record(s.h.ctx, data, 0) == SyncApplied::inserted);
    s.h.run({build_packet(client_packet6(6, ACK, 30000, 4001))});
    REQUIRE(s.h.sent.size() == 3);
    CHECK(format_ip(read_fields(s.h.sent[2].bytes).dst_ip6) == kRs2Ip6);

    // Without the IPv6 expectation table there is no helper state for another one.
    s.h.ctx.expectations6 = nullptr;
    control.client_port = port_raw(4002);
    CHECK(apply_sync_record(s.h.ctx, control, 0) == SyncApplied::refused);
    CHECK(s.h.ftp_controls->in_use() == 1);
}
