#include "lab_fixture.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

#include "dp/bytes.hpp"
#include "dp/owner.hpp"
#include "dp/parse.hpp"

namespace vsnat::test {

std::vector<uint8_t> arp_frame(uint16_t op, const std::string& sender, MacAddress sender_mac,
                               const std::string& target, MacAddress dst_mac) {
    std::vector<uint8_t> f(60, 0);
    std::memcpy(&f[0], dst_mac.data(), 6);
    std::memcpy(&f[6], sender_mac.data(), 6);
    dp::store_be16(&f[12], 0x0806);
    dp::store_be16(&f[14], 1);
    dp::store_be16(&f[16], 0x0800);
    f[18] = 6;
    f[19] = 4;
    dp::store_be16(&f[20], op);
    std::memcpy(&f[22], sender_mac.data(), 6);
    dp::store_u32_raw(&f[28], ip_raw(sender));
    dp::store_u32_raw(&f[38], ip_raw(target));
    return f;
}

std::unique_ptr<dp::Snapshot> seed_snapshot(uint32_t workers, uint32_t rs1_weight) {
    auto snap = std::make_unique<dp::Snapshot>();
    dp::InterfaceEntry outside{kOutsidePort, ip_raw("202.103.106.1"), ip_raw("255.255.255.0"),
                               ip_raw("202.103.106.254"), kOutsideMac};
    dp::InterfaceEntry inside{kInsidePort, ip_raw("172.16.0.1"), ip_raw("255.255.0.0"), 0,
                              kInsideMac};
    outside.addresses6 = {{ip6_raw(kOutsideIp6), 64}};
    outside.link_local = dp::link_local_of(kOutsideMac);
    outside.has_gateway6 = true;
    outside.gateway6 = ip6_raw(kGateway6);
    inside.addresses6 = {{ip6_raw(kInsideIp6), 64}};
    inside.link_local = dp::link_local_of(kInsideMac);
    snap->interfaces = {outside, inside};
    const uint32_t vip = ip_raw("202.103.106.5");
    dp::ServiceEntry web{0,
                         6,
                         vip,
                         port_raw(80),
                         dp::SchedulerKind::wrr,
                         {{ip_raw("172.16.0.2"), port_raw(80), 0, rs1_weight},
                          {ip_raw("172.16.0.3"), port_raw(8000), 1, 2}}};
    dp::ServiceEntry ftp{1,
                         6,
                         vip,
                         port_raw(21),
                         dp::SchedulerKind::wrr,
                         {{ip_raw("172.16.0.3"), port_raw(21), 2, 1}}};
    ftp.helper = dp::AppHelper::ftp;
    dp::ServiceEntry dns{
        2,
        17,
        vip,
        port_raw(53),
        dp::SchedulerKind::rr,
        {{ip_raw("172.16.0.2"), port_raw(53), 3, 1}, {ip_raw("172.16.0.3"), port_raw(53), 4, 1}}};
    dp::ServiceEntry web6 = web;
    web6.service_id = 3;
    web6.ipv6 = true;
    web6.vip = 0;
    web6.vip6 = ip6_raw(kVip6);
    web6.servers = {{0, port_raw(80), 5, rs1_weight}, {0, port_raw(8000), 6, 2}};
    web6.servers[0].ip6 = ip6_raw(kRs1Ip6);
    web6.servers[1].ip6 = ip6_raw(kRs2Ip6);
    dp::ServiceEntry dns6 = dns;
    dns6.service_id = 4;
    dns6.ipv6 = true;
    dns6.vip = 0;
    dns6.vip6 = ip6_raw(kVip6);
    dns6.servers = {{0, port_raw(53), 7, 1}, {0, port_raw(53), 8, 1}};
    dns6.servers[0].ip6 = ip6_raw(kRs1Ip6);
    dns6.servers[1].ip6 = ip6_raw(kRs2Ip6);
    snap->services = {web, ftp, dns, web6, dns6};
    snap->finalize(workers);
    return snap;
}

void add_ftp6_service(dp::Snapshot& snap) {
    dp::ServiceEntry ftp6 = snap.services[1];
    ftp6.service_id = 5;
    ftp6.ipv6 = true;
    ftp6.vip = 0;
    ftp6.vip6 = ip6_raw(kVip6);
    ftp6.servers = {{0, port_raw(21), 9, 1}};
    ftp6.servers[0].ip6 = ip6_raw(kRs2Ip6);
    snap.services.push_back(ftp6);
}

PacketSpec client_packet(uint8_t protocol, uint8_t flags, uint16_t vport, uint16_t client_port) {
    PacketSpec s;
    s.src_ip = "202.100.1.2";
    s.dst_ip = "202.103.106.5";
    s.src_port = client_port;
    s.dst_port = vport;
    s.protocol = protocol;
    s.tcp_flags = flags;
    s.src_mac = kGatewayMac;
    s.dst_mac = kOutsideMac;
    return s;
}

PacketSpec server_packet(uint8_t protocol, const std::string& rip, uint16_t rport, uint8_t flags,
                         uint16_t client_port) {
    PacketSpec s;
    s.src_ip = rip;
    s.dst_ip = "202.100.1.2";
    s.src_port = rport;
    s.dst_port = client_port;
    s.protocol = protocol;
    s.tcp_flags = flags;
    s.src_mac = rip == "172.16.0.2" ? kRs1Mac : kRs2Mac;
    s.dst_mac = kInsideMac;
    return s;
}

PacketSpec client_packet6(uint8_t protocol, uint8_t flags, uint16_t vport, uint16_t client_port) {
    PacketSpec s = client_packet(protocol, flags, vport, client_port);
    s.src_ip = kClient6;
    s.dst_ip = kVip6;
    return s;
}

PacketSpec server_packet6(uint8_t protocol, const std::string& rip, uint16_t rport, uint8_t flags,
                          uint16_t client_port) {
    PacketSpec s = server_packet(protocol, rip == kRs1Ip6 ? "172.16.0.2" : "172.16.0.3", rport,
                                 flags, client_port);
    s.src_ip = rip;
    s.dst_ip = kClient6;
    return s;
}

std::vector<uint8_t> expected(PacketSpec s, const std::string& src_ip, uint16_t src_port,
                              const std::string& dst_ip, uint16_t dst_port, MacAddress src_mac,
                              MacAddress dst_mac) {
    s.src_ip = src_ip;
    s.src_port = src_port;
    s.dst_ip = dst_ip;
    s.dst_port = dst_port;
    s.ttl = static_cast<uint8_t>(s.ttl - 1);
    s.src_mac = src_mac;
    s.dst_mac = dst_mac;
    return build_packet(s);
}

PipelineHarness::PipelineHarness(uint32_t capacity, uint32_t rs1_weight)
    : snapshot(seed_snapshot(1, rs1_weight)) {
    init(capacity);
    ctx.snapshot = snapshot.get();
    ctx.expectations = &own_expectations_;
    ctx.expectations6 = &own_expectations6_;
    all_dest_counters = {dest_counters.data()};
    ctx.all_dest_counters = all_dest_counters;
}

PipelineHarness::PipelineHarness(uint32_t capacity, const dp::Snapshot& shared,
                                 uint32_t worker_id) {
    init(capacity);
    ctx.worker_id = worker_id;
    ctx.snapshot = &shared;
}

void PipelineHarness::init(uint32_t capacity) {
    dest_counters.resize(dp::kMaxDestinations);
    static std::atomic<int> instance{0};
    const std::string name = "harness" + std::to_string(instance++);
    std::string error;
    table = dp::ConnTable::create(name, capacity, SOCKET_ID_ANY, 0, &error);
    table6 = dp::ConnTable6::create(name + "v6", capacity, SOCKET_ID_ANY, 0, &error);
    if (!table || !table6) {
        throw std::runtime_error(error);
    }
    pool = rte_pktmbuf_pool_create(("pool" + name).c_str(), 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   SOCKET_ID_ANY);
    if (pool == nullptr) {
        throw std::runtime_error("mbuf pool");
    }
    neighbors.set(kOutsidePort, ip_raw("202.103.106.254"), kGatewayMac);
    neighbors.set(kInsidePort, ip_raw("172.16.0.2"), kRs1Mac);
    neighbors.set(kInsidePort, ip_raw("172.16.0.3"), kRs2Mac);
    neighbors6.set(kOutsidePort, ip6_raw(kGateway6), kGatewayMac);
    neighbors6.set(kInsidePort, ip6_raw(kRs1Ip6), kRs1Mac);
    neighbors6.set(kInsidePort, ip6_raw(kRs2Ip6), kRs2Mac);
    ftp_controls = std::make_unique<dp::FtpControlPool>(capacity);
    ctx.table = table.get();
    ctx.table6 = table6.get();
    ctx.neighbors6 = &neighbors6;
    ctx.ftp_controls = ftp_controls.get();
    ctx.unanswered = &unanswered;
    ctx.unanswered6 = &unanswered6;
    ctx.neighbors = &neighbors;
    ctx.dest_counters = dest_counters.data();
    ctx.pool = pool;
}

PipelineHarness::~PipelineHarness() {
    for (uint16_t i = 0; i < ctx.held.count; ++i) {
        rte_pktmbuf_free(ctx.held.items[i].mbuf);
    }
    table.reset();
    table6.reset();
    rte_mempool_free(pool);
}

namespace {

std::vector<uint8_t> bytes_of(const rte_mbuf* m) {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    return {p, p + rte_pktmbuf_data_len(m)};
}

}  // namespace

void PipelineHarness::run(const std::vector<std::vector<uint8_t>>& frames, uint32_t now_ms) {
    if (frames.size() > dp::kMaxBurst) {
        // The pipeline's per-burst arrays hold kMaxBurst packets: more would overrun them.
        throw std::invalid_argument("PipelineHarness::run: " + std::to_string(frames.size()) +
                                    " frames, a burst is at most " + std::to_string(dp::kMaxBurst));
    }
    std::vector<rte_mbuf*> mbufs;
    for (const auto& f : frames) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        if (m == nullptr) {
            throw std::runtime_error("out of mbufs");
        }
        char* data = rte_pktmbuf_append(m, static_cast<uint16_t>(f.size()));
        std::copy(f.begin(), f.end(), data);
        // Received on the link whose MAC it is addressed to (broadcasts, and frames too short
        // to have a destination: the outside link).
        MacAddress dst{};
        std::copy_n(f.begin(), std::min(f.size(), dst.size()), dst.begin());
        m->port = dst == kInsideMac ? kInsidePort : kOutsidePort;
        mbufs.push_back(m);
    }
    if (!mbufs.empty()) {
        dp::process_burst(ctx, mbufs.data(), static_cast<uint16_t>(mbufs.size()), now_ms);
    }
    for (uint16_t port = 0; port < dp::kMaxPorts; ++port) {
        dp::PacketBatch& batch = ctx.tx[port];
        for (uint16_t i = 0; i < batch.count; ++i) {
            sent.push_back({port, bytes_of(batch.packets[i])});
            rte_pktmbuf_free(batch.packets[i]);
        }
        batch.count = 0;
    }
    for (size_t cls = 0; cls < dp::kPuntClasses; ++cls) {
        dp::PacketBatch& batch = ctx.punt[cls];
        for (uint16_t i = 0; i < batch.count; ++i) {
            rte_mbuf* m = batch.packets[i];
            punted.push_back({m->port, static_cast<dp::PuntClass>(cls), bytes_of(m)});
            rte_pktmbuf_free(m);
        }
        batch.count = 0;
    }
    sightings.insert(sightings.end(), ctx.sightings.begin(),
                     ctx.sightings.begin() + ctx.sighting_count);
    ctx.sighting_count = 0;
}

WorkerGroup::WorkerGroup(std::unique_ptr<dp::Snapshot> snapshot, uint32_t count,
                         uint32_t capacity) {
    snapshot->finalize(count);
    snapshots_.push_back(std::move(snapshot));
    std::string error;
    persistence = dp::PersistenceTable::create(capacity, &error);
    persistence6 = dp::PersistenceTable6::create(capacity, &error);
    if (!persistence || !persistence6) {
        throw std::runtime_error(error);
    }
    for (uint32_t w = 0; w < count; ++w) {
        workers.push_back(std::make_unique<PipelineHarness>(capacity, *snapshots_.back(), w));
        all_dest_counters_.push_back(workers.back()->dest_counters.data());
    }
    for (auto& w : workers) {
        w->ctx.all_dest_counters = all_dest_counters_;
        w->ctx.persistence = persistence.get();
        w->ctx.persistence6 = persistence6.get();
        w->ctx.expectations = &expectations;
        w->ctx.expectations6 = &expectations6;
    }
}

void WorkerGroup::run(const std::vector<std::vector<uint8_t>>& frames, uint32_t now_ms) {
    const auto count = static_cast<uint32_t>(workers.size());
    for (const auto& f : frames) {
        const dp::ParsedFrame parsed = dp::parse_frame(f.data(), f.size());
        const uint32_t owner = dp::owner_of_frame(f.data(), parsed, snapshot(), count, 0);
        PipelineHarness& w = *workers[owner];
        w.run({f}, now_ms);
        sent.insert(sent.end(), w.sent.begin(), w.sent.end());
        w.sent.clear();
        handled_by.push_back(owner);
    }
}

void WorkerGroup::publish(std::unique_ptr<dp::Snapshot> next) {
    next->finalize(static_cast<uint32_t>(workers.size()));
    snapshots_.push_back(std::move(next));
    for (auto& w : workers) {
        w->ctx.snapshot = snapshots_.back().get();
    }
}

void WorkerGroup::expire(uint32_t now_ms) {
    for (auto& w : workers) {
        dp::expire_connections(w->ctx, now_ms, UINT32_MAX);
    }
}

dp::DestCounters WorkerGroup::dest(uint16_t dest_id) const {
    dp::DestCounters total;
    for (const auto& w : workers) {
        const dp::DestCounters& d = w->dest_counters[dest_id];
        total.connections += d.connections;
        total.active += d.active;
        total.inactive += d.inactive;
    }
    return total;
}

uint64_t WorkerGroup::counter(uint64_t dp::WorkerCounters::*field) const {
    uint64_t total = 0;
    for (const auto& w : workers) {
        total += w->ctx.counters.*field;
    }
    return total;
}

}  // namespace vsnat::test
