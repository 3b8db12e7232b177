// The seed's scenario as dataplane state: snapshot, neighbors, a connection table, mbufs.
#pragma once

#include <rte_mbuf.h>

#include <memory>
#include <vector>

#include "dp/pipeline.hpp"
#include "support/packet_builder.hpp"

namespace vsnat::test {

inline const MacAddress kOutsideMac = {0x02, 0x00, 0x00, 0x00, 0x0a, 0x01};
inline const MacAddress kInsideMac = {0x02, 0x00, 0x00, 0x00, 0x0b, 0x01};
inline const MacAddress kGatewayMac = {0x02, 0x00, 0x00, 0x00, 0x0a, 0xfe};
inline const MacAddress kRs1Mac = {0x02, 0x00, 0x00, 0x00, 0x0b, 0x02};
inline const MacAddress kRs2Mac = {0x02, 0x00, 0x00, 0x00, 0x0b, 0x03};
constexpr uint16_t kOutsidePort = 0, kInsidePort = 1;

/// The seed's table (docs/ARCHITECTURE.md, "The seed scenario"): TCP 202.103.106.5:80 ->
/// 172.16.0.2:80 (1), 172.16.0.3:8000 (2); TCP :21 -> 172.16.0.3:21 with the FTP helper; plus
/// UDP :53 -> both servers, 1:1.
/// Outside 202.103.106.1/24 with gateway 202.103.106.254; inside 172.16.0.1/16.
///
/// Dual stack, as the lab: the outside link also 2001:2:0:18::1/64 with gateway ::fe, the inside
/// 2001:2:0:19::1/64; TCP [2001:2:0:18::5]:80 -> [2001:2:0:19::2]:80 (1), [::3]:8000 (2), UDP :53
/// -> both, 1:1 (services 3 and 4, real server ids 5 to 8). The IPv6 client is 2001:2:0:1::2.
std::unique_ptr<dp::Snapshot> seed_snapshot(uint32_t workers = 1, uint32_t rs1_weight = 1);

/// Adds the seed's FTP service's IPv6 twin to `snap` (which the caller finalizes): TCP
/// [2001:2:0:18::5]:21 -> [2001:2:0:19::3]:21 with the FTP helper (service 5, real server id 9).
void add_ftp6_service(dp::Snapshot& snap);

inline const std::string kVip6 = "2001:2:0:18::5", kClient6 = "2001:2:0:1::2",
                         kRs1Ip6 = "2001:2:0:19::2", kRs2Ip6 = "2001:2:0:19::3",
                         kGateway6 = "2001:2:0:18::fe", kOutsideIp6 = "2001:2:0:18::1",
                         kInsideIp6 = "2001:2:0:19::1";

constexpr uint8_t SYN = 0x02, ACK = 0x10;
inline const MacAddress kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/// An Ethernet ARP frame (`op` 1 request, 2 reply) from `sender` at `sender_mac` about `target`,
/// to `dst_mac`.
std::vector<uint8_t> arp_frame(uint16_t op, const std::string& sender, MacAddress sender_mac,
                               const std::string& target, MacAddress dst_mac);

/// A packet of `protocol` from the seed's client 202.100.1.2:`client_port` to VIP:`vport`, as
/// it arrives on the outside link from the gateway.
PacketSpec client_packet(uint8_t protocol = 6, uint8_t flags = SYN, uint16_t vport = 80,
                         uint16_t client_port = 3456);

/// A packet of `protocol` from real server `rip`:`rport` to the seed's client, as it arrives
/// on the inside link.
PacketSpec server_packet(uint8_t protocol, const std::string& rip, uint16_t rport,
                         uint8_t flags = 0, uint16_t client_port = 3456);

/// client_packet and server_packet over IPv6: the IPv6 client, VIP and real servers.
PacketSpec client_packet6(uint8_t protocol = 6, uint8_t flags = SYN, uint16_t vport = 80,
                          uint16_t client_port = 3456);
PacketSpec server_packet6(uint8_t protocol, const std::string& rip, uint16_t rport,
                          uint8_t flags = 0, uint16_t client_port = 3456);

/// The same, TCP.
inline PacketSpec from_client(uint16_t client_port, uint8_t flags, uint16_t vport = 80) {
    return client_packet(6, flags, vport, client_port);
}
inline PacketSpec from_server(const std::string& rip, uint16_t rport, uint16_t client_port,
                              uint8_t flags) {
    return server_packet(6, rip, rport, flags, client_port);
}

/// What the director must send for `s`: the same packet with these addresses and ports, TTL one
/// less, new MACs, every checksum as a full computation gives it.
std::vector<uint8_t> expected(PacketSpec s, const std::string& src_ip, uint16_t src_port,
                              const std::string& dst_ip, uint16_t dst_port, MacAddress src_mac,
                              MacAddress dst_mac);

class PipelineHarness {
  public:
    explicit PipelineHarness(uint32_t capacity = 1024, uint32_t rs1_weight = 1);
    /// Worker `worker_id` of a WorkerGroup: reads `shared`, owns no snapshot.
    PipelineHarness(uint32_t capacity, const dp::Snapshot& shared, uint32_t worker_id);
    ~PipelineHarness();

    /// Runs one burst of frames (at most kMaxBurst: more throw std::invalid_argument), each
    /// received on the link of its destination MAC (broadcasts: outside), through the pipeline
    /// at `now_ms`; the TX batches are emptied into `sent` (copied out as bytes, mbufs freed),
    /// the punt batches into `punted`, neighbor sightings into `sightings`.
    void run(const std::vector<std::vector<uint8_t>>& frames, uint32_t now_ms = 0);

    struct Sent {
        uint16_t port;
        std::vector<uint8_t> bytes;
    };
    std::vector<Sent> sent;
    /// What went to the kernel mirrors (the punt batches), emptied the same way.
    struct Punted {
        uint16_t port;
        dp::PuntClass cls;
        std::vector<uint8_t> bytes;
    };
    std::vector<Punted> punted;
    std::vector<dp::NeighborSighting> sightings;

    dp::WorkerContext ctx;
    std::unique_ptr<dp::Snapshot> snapshot;
    std::unique_ptr<dp::ConnTable> table;
    std::unique_ptr<dp::ConnTable6> table6;
    dp::NeighborTable neighbors;
    dp::NeighborTable6 neighbors6;
    std::vector<dp::DestCounters> dest_counters;
    std::vector<dp::DestCounters*> all_dest_counters;
    std::unique_ptr<dp::FtpControlPool> ftp_controls;
    dp::UnansweredQueues unanswered;
    dp::UnansweredQueues unanswered6;
    rte_mempool* pool = nullptr;

  private:
    void init(uint32_t capacity);
    // A lone worker's; a WorkerGroup shares its own.
    dp::ExpectationTable own_expectations_;
    dp::ExpectationTable6 own_expectations6_;
};

inline uint64_t dropped(const PipelineHarness& h, DropReason r) {
    return h.ctx.counters.dropped(r);
}

/// Several workers on one snapshot, as vsnatd runs them: each with its own connection table and
/// per-server counters, every one reading all workers' counters (ServerLoad), all sharing one
/// persistence table per address family. Each frame goes to the worker that owns its client, as RSS
/// (or the software handover) delivers it.
class WorkerGroup {
  public:
    WorkerGroup(std::unique_ptr<dp::Snapshot> snapshot, uint32_t workers, uint32_t capacity = 1024);

    /// Runs each frame, one burst each, through its owner's pipeline at `now_ms`; what the
    /// workers send is appended to `sent`, and the owner of each frame to `handled_by`.
    void run(const std::vector<std::vector<uint8_t>>& frames, uint32_t now_ms = 0);
    /// Publishes `next` (finalized here for every worker), as a reload does; the replaced
    /// snapshot stays allocated until the group ends, as if after a grace period.
    void publish(std::unique_ptr<dp::Snapshot> next);
    /// Every worker's expire_connections at `now_ms`, unbounded.
    void expire(uint32_t now_ms);
    const dp::Snapshot& snapshot() const { return *snapshots_.back(); }
    /// Summed over workers.
    dp::DestCounters dest(uint16_t dest_id) const;
    uint64_t counter(uint64_t dp::WorkerCounters::*field) const;

    std::vector<std::unique_ptr<PipelineHarness>> workers;
    std::unique_ptr<dp::PersistenceTable> persistence;
    std::unique_ptr<dp::PersistenceTable6> persistence6;
    dp::ExpectationTable expectations;
    dp::ExpectationTable6 expectations6;
    std::vector<PipelineHarness::Sent> sent;
    std::vector<uint32_t> handled_by;

  private:
    std::vector<std::unique_ptr<dp::Snapshot>> snapshots_;
    std::vector<dp::DestCounters*> all_dest_counters_;
};

}  // namespace vsnat::test
