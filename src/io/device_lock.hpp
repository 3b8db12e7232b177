// One vsnatd per device. DPDK keeps processes with different --file-prefix apart, so two vsnatd
// could attach to the same NIC or kernel interface and both forward; a lock file per device,
// held for the life of the process, refuses the second.
#pragma once

#include <string>
#include <vector>

namespace vsnat::io {

/// Where vsnatd keeps its device locks (created, mode 0755, when missing).
inline constexpr const char* kDeviceLockDirectory = "/run/vsnat";

/// The lock names of what `device` (an `interfaces[].device` string) attaches to that another
/// process could attach to as well: "pci-0000:3b:00.0" for a PCI address (any form DPDK takes:
/// "3b:00.0", upper case, devargs after a comma), "iface-NAME" for each kernel interface a vdev
/// names (iface=, rx_iface=, tx_iface=, rx_iface_in=), none for a vdev that names none
/// (net_null, net_ring: each process has its own). Characters other than letters, digits and
/// `.-_:` are written %XX. Any thread.
std::vector<std::string> device_lock_names(const std::string& device);

/// Locks held until this object goes; the kernel drops them when the process ends, however it
/// ends (kill -9 leaves nothing stale). Each is an fcntl() write lock on DIRECTORY/NAME.lock,
/// which, unlike flock(), tells a refused process which process holds it.
class DeviceLocks {
  public:
    explicit DeviceLocks(std::string directory = kDeviceLockDirectory)
        : directory_(std::move(directory)) {}
    /// Releases every lock.
    ~DeviceLocks();
    DeviceLocks(const DeviceLocks&) = delete;
    DeviceLocks& operator=(const DeviceLocks&) = delete;

    /// Takes the lock `name` (a no-op when this object holds it already: fcntl locks belong to
    /// the process, and closing a second descriptor of the file would drop the first's) and
    /// writes this process's PID into its file. Main thread. False, with `error` naming the
    /// holder ("held by pid 4242 (vsnatd -c /etc/vsnat/vsnat.yaml)") and the file, when
    /// another process holds it, or with the system's reason when the file cannot be locked.
    bool lock(const std::string& name, std::string& error);

  private:
    struct Held {
        std::string name;
        int fd;
    };
    std::string directory_;
    std::vector<Held> held_;
};

}  // namespace vsnat::io
