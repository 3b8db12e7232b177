// The kernel side of the director (README.md, "The kernel side of the director"): for each
// interface with `kernel:`, a kernel interface that mirrors its port (the TAP PMD, or
// virtio-user over vhost-net) in `kernel_netns`, with the port's MAC, MTU and address, so that
// routing daemons, VRRP, health checks and sshd run there unchanged; and the thread that
// carries packets between the mirrors and the workers.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cp/config.hpp"
#include "cp/dpdk_handles.hpp"
#include "dp/mirror.hpp"
#include "io/netns.hpp"
#include "io/port.hpp"
#include "vsnat/counters.hpp"

namespace vsnat::cp {

/// A mirror's counters in kMirrorCounters' order (vsnat/counters.hpp).
using MirrorTotals = std::array<uint64_t, kMirrorCounterCount>;

class KernelMirrors {
  public:
    /// One port's mirror.
    struct Mirror {
        std::string interface;  // the configuration's name of the port's interface
        std::string name;       // the kernel interface
        KernelType type = KernelType::tap;
        uint16_t port_id = 0;         // the port it mirrors
        uint16_t mirror_port_id = 0;  // its own DPDK port
        std::string vdev;             // the DPDK device made for it
    };

    /// Packets each ring between the workers and the mirrors' thread holds: the packet pools
    /// must have room for them (packet_buffer_count, kBuffersPerMirror).
    static constexpr unsigned kPuntRingSize = 1024;
    static constexpr unsigned kToPortsRingSize = 1024;
    /// Packet buffers of the mirrors' own pool, per mirror: its receive ring, its share of the
    /// ring to the ports and of the ports' transmit rings.
    static constexpr unsigned kBuffersPerMirror = 3072;

    KernelMirrors() = default;
    /// Stops the thread, removes the mirrors' devices (the kernel interfaces go with them)
    /// and the namespace if it made it. Main thread.
    ~KernelMirrors();
    KernelMirrors(const KernelMirrors&) = delete;
    KernelMirrors& operator=(const KernelMirrors&) = delete;

    /// Opens `kernel_netns`, creating it when missing, if any interface has a mirror. Main
    /// thread, before EAL init: creating one forks the process that removes it should vsnatd
    /// end without doing so. False, with `error` set to one line, on failure.
    bool prepare(const Config& config, std::string& error);

    /// Makes every mirror of `config` for the open `ports` (same order as its interfaces), and
    /// the rings to and from `workers` workers. Main thread, after the ports are open and
    /// before the workers are made. False, with `error` set to one line naming the interface.
    bool create(const Config& config, std::span<const io::OpenPort> ports, uint32_t workers,
                std::string& error);

    bool any() const { return !mirrors_.empty(); }
    const std::vector<Mirror>& mirrors() const { return mirrors_; }
    /// The namespace the mirrors are in ("" for vsnatd's own).
    std::string netns_name() const;
    /// The namespace the mirrors are in, open; null when no interface has a mirror.
    const io::NetworkNamespace* netns() const { return netns_ ? &*netns_ : nullptr; }

    /// Worker `w`'s rings to the mirrors, by PuntClass; null without mirrors.
    std::array<rte_ring*, dp::kPuntClasses> punt_rings(uint32_t w) const;
    /// The ring of what the kernels send, for the worker that transmits it; null without
    /// mirrors.
    rte_ring* to_ports() const { return to_ports_.get(); }

    /// Starts the mirrors' thread (nothing without mirrors). Main thread, once the workers run.
    void start();
    /// Ends the thread and waits for it. Main thread; idempotent.
    void stop();

    /// Port `port_id`'s mirror counters: the mirrors' thread's and the `workers`' summed. Any
    /// thread, without locks.
    MirrorTotals totals(uint16_t port_id, std::span<const dp::WorkerContext* const> workers) const;

  private:
    bool create_mirror(const Interface& in, const io::OpenPort& port, std::string& error);
    bool open_mirror_port(Mirror& mirror, const io::OpenPort& port, std::string& error);
    bool configure_kernel_side(const Interface& in, const Mirror& mirror, const io::OpenPort& port,
                               std::string& error);
    bool create_rings(uint32_t workers, std::string& error);
    void remove_mirror_port(const Mirror& mirror);

    std::optional<io::NetworkNamespace> netns_;  // released last: after the interfaces went
    UniqueMempool pool_;
    std::vector<Mirror> mirrors_;
    std::vector<std::array<UniqueRing, dp::kPuntClasses>> punt_;
    UniqueRing to_ports_;
    std::array<dp::MirrorCounters, dp::kMaxPorts> counters_{};
    dp::MirrorSetup setup_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace vsnat::cp
