#include "cp/kernel_mirrors.hpp"

#include <pthread.h>
#include <rte_bus_vdev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "io/rtnetlink.hpp"

namespace vsnat::cp {
namespace {

constexpr uint16_t kMirrorDescriptors = 512;

std::string dpdk_error(int rc) {
    return rte_strerror(rc < 0 ? -rc : rc);
}

// The DPDK device for a mirror: the TAP PMD makes a TAP interface; virtio-user over vhost-net
// makes one the kernel's vhost thread serves (DPDK's documented replacement for KNI).
std::string vdev_name(KernelType type, size_t index) {
    return (type == KernelType::tap ? "net_tap_vsnat" : "virtio_user_vsnat") +
           std::to_string(index);
}

std::string vdev_args(const KernelMirrors::Mirror& m, const MacAddress& mac) {
    const std::string common = "iface=" + m.name + ",mac=" + format_mac(mac);
    if (m.type == KernelType::tap) {
        return common;
    }
    return "path=" + std::string(kVhostNetPath) +
           ",queues=1,queue_size=" + std::to_string(kMirrorDescriptors) + "," + common;
}

void free_all(rte_ring* ring) {
    rte_mbuf* m;
    while (ring != nullptr && rte_ring_dequeue(ring, reinterpret_cast<void**>(&m)) == 0) {
        rte_pktmbuf_free(m);
    }
}

}  // namespace

KernelMirrors::~KernelMirrors() {
    stop();
    for (const Mirror& m : mirrors_) {
        remove_mirror_port(m);
    }
    for (auto& rings : punt_) {
        for (auto& ring : rings) {
            free_all(ring.get());
        }
    }
    free_all(to_ports_.get());
}

bool KernelMirrors::prepare(const Config& config, std::string& error) {
    const bool wanted = std::any_of(config.interfaces.begin(), config.interfaces.end(),
                                    [](const Interface& in) { return !in.kernel.empty(); });
    if (!wanted) {
        return true;
    }
    netns_ = config.kernel_netns.empty()
                 ? io::NetworkNamespace::current(error)
                 : io::NetworkNamespace::open_or_create(config.kernel_netns, error);
    if (!netns_) {
        error = "kernel_netns '" + config.kernel_netns + "': " + error;
        return false;
    }
    if (netns_->created()) {
        spdlog::info("kernel side: created network namespace {}", config.kernel_netns);
    }
    return true;
}

std::string KernelMirrors::netns_name() const {
    return netns_ ? netns_->name() : std::string();
}

bool KernelMirrors::create(const Config& config, std::span<const io::OpenPort> ports,
                           uint32_t workers, std::string& error) {
    setup_.mirror_of.fill(dp::MirrorSetup::kNoMirror);
    const auto count = std::count_if(config.interfaces.begin(), config.interfaces.end(),
                                     [](const Interface& in) { return !in.kernel.empty(); });
    if (count == 0) {
        return true;
    }
    const auto buffers = static_cast<unsigned>(count) * kBuffersPerMirror;
    // Its own pool, without per-lcore caches (its thread is not an lcore): a kernel that sends
    // faster than the port drains takes no buffer the fast path needs.
    pool_.reset(rte_pktmbuf_pool_create("vsnat_mirror_mbufs", buffers, 0, 0,
                                        RTE_MBUF_DEFAULT_BUF_SIZE,
                                        static_cast<int>(rte_socket_id())));
    if (!pool_) {
        error = "kernel mirrors: cannot allocate " + std::to_string(buffers) +
                " packet buffers: " + rte_strerror(rte_errno) + " (too few hugepages?)";
        return false;
    }
    for (size_t i = 0; i < config.interfaces.size(); ++i) {
        const Interface& in = config.interfaces[i];
        if (!in.kernel.empty() && !create_mirror(in, ports[i], error)) {
            error = "interface '" + in.name + "': kernel mirror '" + in.kernel + "': " + error;
            return false;
        }
    }
    if (!create_rings(workers, error)) {
        return false;
    }
    for (const Mirror& m : mirrors_) {
        setup_.mirror_of[m.port_id] = m.mirror_port_id;
    }
    setup_.to_ports = to_ports_.get();
    setup_.counters = &counters_;
    setup_.stop = &stop_;
    return true;
}

bool KernelMirrors::create_mirror(const Interface& in, const io::OpenPort& port,
                                  std::string& error) {
    Mirror m;
    m.interface = in.name;
    m.name = in.kernel;
    m.type = in.kernel_type;
    m.port_id = port.port_id;
    m.vdev = vdev_name(m.type, mirrors_.size());
    if (m.type == KernelType::virtio_user && access(kVhostNetPath, R_OK | W_OK) != 0) {
        error = std::string("kernel_type virtio_user needs ") + kVhostNetPath + ": " +
                std::strerror(errno) + " (load the vhost_net module, or use kernel_type: tap)";
        return false;
    }
    if (!open_mirror_port(m, port, error)) {
        return false;
    }
    mirrors_.push_back(m);  // removed by the destructor from here on, whatever fails next
    if (!configure_kernel_side(in, m, port, error)) {
        return false;
    }
    spdlog::info("kernel side: interface {} (port {}) mirrored by {} ({}, port {}) in {}", in.name,
                 m.port_id, m.name, kernel_type_name(m.type), m.mirror_port_id,
                 netns_->name().empty() ? "vsnatd's namespace" : "namespace " + netns_->name());
    return true;
}

bool KernelMirrors::open_mirror_port(Mirror& m, const io::OpenPort& port, std::string& error) {
    // The kernel interface is made in vsnatd's namespace, then moved: its name must be free in
    // both.
    std::string ignored;
    auto own = io::NetworkNamespace::current(error);
    auto netlink = own ? io::RtNetlink::open(*own, error) : std::nullopt;
    if (!netlink) {
        return false;
    }
    if (netlink->link_index(m.name, ignored)) {
        error = "an interface of that name exists in vsnatd's network namespace";
        return false;
    }
    if (int rc = rte_vdev_init(m.vdev.c_str(), vdev_args(m, port.mac).c_str()); rc != 0) {
        error = "cannot create " + m.vdev + ": " + dpdk_error(rc) + " (see the log above)";
        return false;
    }
    if (rte_eth_dev_get_port_by_name(m.vdev.c_str(), &m.mirror_port_id) != 0) {
        error = m.vdev + " made no port";
        rte_vdev_uninit(m.vdev.c_str());
        return false;
    }
    rte_eth_conf conf{};
    uint16_t rxd = kMirrorDescriptors, txd = kMirrorDescriptors;
    const int socket = rte_eth_dev_socket_id(m.mirror_port_id);
    int rc = rte_eth_dev_configure(m.mirror_port_id, 1, 1, &conf);
    if (rc == 0) {
        rc = rte_eth_dev_adjust_nb_rx_tx_desc(m.mirror_port_id, &rxd, &txd);
    }
    if (rc == 0) {
        rc = rte_eth_rx_queue_setup(m.mirror_port_id, 0, rxd, socket, nullptr, pool_.get());
    }
    if (rc == 0) {
        rc = rte_eth_tx_queue_setup(m.mirror_port_id, 0, txd, socket, nullptr);
    }
    if (rc == 0) {
        rc = rte_eth_dev_start(m.mirror_port_id);
    }
    if (rc != 0) {
        error = m.vdev + ": setup failed: " + dpdk_error(rc);
        rte_vdev_uninit(m.vdev.c_str());
        return false;
    }
    return true;
}

// Moves the kernel interface into the namespace, then gives it what the port has: MAC, MTU,
// addresses (IPv6 ones without duplicate address detection: the dataplane answers for them
// too); up; the gateways as its default routes (metric: the interface's place in the file, so
// that two gateways do not collide).
bool KernelMirrors::configure_kernel_side(const Interface& in, const Mirror& m,
                                          const io::OpenPort& port, std::string& error) {
    auto own = io::NetworkNamespace::current(error);
    auto here = own ? io::RtNetlink::open(*own, error) : std::nullopt;
    if (!here) {
        return false;
    }
    auto index = here->link_index(m.name, error);
    if (!index) {
        return false;
    }
    std::optional<io::RtNetlink> there;
    if (!netns_->name().empty()) {
        there = io::RtNetlink::open(*netns_, error);
        std::string ignored;
        if (!there) {
            return false;
        }
        if (there->link_index(m.name, ignored)) {
            error = "an interface of that name exists in namespace " + netns_->name();
            return false;
        }
        if (!here->move_link(*index, *netns_, error) ||
            !(index = there->link_index(m.name, error))) {
            return false;
        }
    }
    io::RtNetlink& netlink = there ? *there : *here;
    if (!netlink.set_link(*index, port.mac, port.mtu, error) ||
        !netlink.add_address(*index, in.address, in.prefix_len, error)) {
        return false;
    }
    for (const Prefix6& p : in.addresses6) {
        if (!netlink.add_address(*index, p.address, p.length, error)) {
            return false;
        }
    }
    if (!netlink.set_up(*index, true, error)) {
        return false;
    }
    const auto metric = static_cast<uint32_t>(mirrors_.size() - 1);
    return (!in.gateway || netlink.add_default_route(*index, *in.gateway, metric, error)) &&
           (!in.gateway6 || netlink.add_default_route(*index, *in.gateway6, metric, error));
}

bool KernelMirrors::create_rings(uint32_t workers, std::string& error) {
    constexpr unsigned kOneToOne = RING_F_SP_ENQ | RING_F_SC_DEQ;
    for (uint32_t w = 0; w < workers; ++w) {
        auto& rings = punt_.emplace_back();
        rings[static_cast<size_t>(dp::PuntClass::control)] = create_ring(
            "vsnat_punt_c" + std::to_string(w), sizeof(void*), kPuntRingSize, kOneToOne, error);
        rings[static_cast<size_t>(dp::PuntClass::bulk)] = create_ring(
            "vsnat_punt_b" + std::to_string(w), sizeof(void*), kPuntRingSize, kOneToOne, error);
        if (!rings[0] || !rings[1]) {
            return false;
        }
        setup_.punted.push_back({rings[0].get(), rings[1].get()});
    }
    to_ports_ = create_ring("vsnat_from_kernel", sizeof(void*), kToPortsRingSize, kOneToOne, error);
    return to_ports_ != nullptr;
}

void KernelMirrors::remove_mirror_port(const Mirror& m) {
    rte_eth_dev_stop(m.mirror_port_id);  // may complain: the interface has left its namespace
    rte_eth_dev_close(m.mirror_port_id);
    rte_vdev_uninit(m.vdev.c_str());
}

std::array<rte_ring*, dp::kPuntClasses> KernelMirrors::punt_rings(uint32_t w) const {
    if (w >= punt_.size()) {
        return {};
    }
    return {punt_[w][0].get(), punt_[w][1].get()};
}

MirrorTotals KernelMirrors::totals(uint16_t port_id,
                                   std::span<const dp::WorkerContext* const> workers) const {
    const dp::MirrorCounters& own = counters_[port_id];
    uint64_t dropped = own.refused, control_dropped = 0;
    for (const dp::WorkerContext* w : workers) {
        dropped += w->punt_counters[port_id].dropped;
        control_dropped += w->punt_counters[port_id].control_dropped;
    }
    const uint64_t punted = own.punted, punted_control = own.punted_control;
    const uint64_t punt_dropped = dropped, punt_dropped_control = control_dropped;
    const uint64_t from_kernel = own.from_kernel, from_kernel_dropped = own.from_kernel_dropped;
    return {
#define VSNAT_MIRROR_VALUE(name, help) name,
        VSNAT_MIRROR_COUNTERS(VSNAT_MIRROR_VALUE)
#undef VSNAT_MIRROR_VALUE
    };
}

void KernelMirrors::start() {
    if (mirrors_.empty() || thread_.joinable()) {
        return;
    }
    stop_.store(false);
    thread_ = std::thread([this] { dp::run_mirrors(setup_); });
    pthread_setname_np(thread_.native_handle(), "vsnat-mirrors");
}

void KernelMirrors::stop() {
    stop_.store(true);
    if (thread_.joinable()) {
        thread_.join();
    }
}

}  // namespace vsnat::cp
