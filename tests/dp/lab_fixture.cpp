#include "lab_fixture.hpp"

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

namespace vsnat::test {

std::unique_ptr<dp::Snapshot> seed_snapshot(uint32_t workers, uint32_t rs1_weight) {
    auto snap = std::make_unique<dp::Snapshot>();
    dp::InterfaceEntry outside{kOutsidePort, ip_raw("202.103.106.1"), ip_raw("255.255.255.0"),
                               ip_raw("202.103.106.254"), kOutsideMac};
    dp::InterfaceEntry inside{kInsidePort, ip_raw("172.16.0.1"), ip_raw("255.255.0.0"), 0,
                              kInsideMac};
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
    dp::ServiceEntry dns{
        2,
        17,
        vip,
        port_raw(53),
        dp::SchedulerKind::rr,
        {{ip_raw("172.16.0.2"), port_raw(53), 3, 1}, {ip_raw("172.16.0.3"), port_raw(53), 4, 1}}};
    snap->services = {web, ftp, dns};
    snap->finalize(workers);
    return snap;
}

PipelineHarness::PipelineHarness(uint32_t capacity, uint32_t rs1_weight)
    : snapshot(seed_snapshot(1, rs1_weight)), dest_counters(dp::kMaxDestinations) {
    static std::atomic<int> instance{0};
    const std::string name = "harness" + std::to_string(instance++);
    std::string error;
    table = dp::ConnTable::create(name, capacity, SOCKET_ID_ANY, 0, &error);
    if (!table) {
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
    ctx.table = table.get();
    ctx.snapshot = snapshot.get();
    ctx.neighbors = &neighbors;
    ctx.dest_counters = dest_counters.data();
    all_dest_counters = {dest_counters.data()};
    ctx.all_dest_counters = all_dest_counters;
    ctx.pool = pool;
}

PipelineHarness::~PipelineHarness() {
    for (uint16_t i = 0; i < ctx.held.count; ++i) {
        rte_pktmbuf_free(ctx.held.items[i].mbuf);
    }
    table.reset();
    rte_mempool_free(pool);
}

namespace {

std::vector<uint8_t> bytes_of(const rte_mbuf* m) {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    return {p, p + rte_pktmbuf_data_len(m)};
}

}  // namespace

void PipelineHarness::run(const std::vector<std::vector<uint8_t>>& frames, uint32_t now_ms) {
    std::vector<rte_mbuf*> mbufs;
    for (const auto& f : frames) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        if (m == nullptr) {
            throw std::runtime_error("out of mbufs");
        }
        char* data = rte_pktmbuf_append(m, static_cast<uint16_t>(f.size()));
        std::memcpy(data, f.data(), f.size());
        // Received on the link whose MAC it is addressed to (broadcasts: the outside link).
        MacAddress dst;
        std::memcpy(dst.data(), f.data(), dst.size());
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
    sightings.insert(sightings.end(), ctx.sightings.begin(),
                     ctx.sightings.begin() + ctx.sighting_count);
    ctx.sighting_count = 0;
}

}  // namespace vsnat::test
