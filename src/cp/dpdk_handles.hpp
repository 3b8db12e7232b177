// Owning handles for what the control thread makes with DPDK's C API: EAL itself, mempools,
// rings and rte_malloc'd memory. Each is released when its handle goes, so no exit path of
// vsnatd leaks one or releases it twice.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

struct rte_mempool;
struct rte_ring;

namespace vsnat::cp {

struct RingDeleter {
    void operator()(rte_ring* ring) const noexcept;
};
using UniqueRing = std::unique_ptr<rte_ring, RingDeleter>;

struct MempoolDeleter {
    void operator()(rte_mempool* pool) const noexcept;
};
using UniqueMempool = std::unique_ptr<rte_mempool, MempoolDeleter>;

struct RteFreeDeleter {
    void operator()(void* memory) const noexcept;
};
template <class T>
using UniqueRte = std::unique_ptr<T, RteFreeDeleter>;

/// A ring of `count` elements of `element_size` bytes (sizeof(void*) for rings of mbufs) on
/// the caller's NUMA socket. Main thread, after EAL init. Null, with `error` set to one line
/// naming the ring, when DPDK refuses.
UniqueRing create_ring(const std::string& name, unsigned element_size, unsigned count,
                       unsigned flags, std::string& error);

/// Where EAL keeps the shared configuration of the process started with EAL arguments `args`
/// (its --file-prefix, "rte" by default): /var/run/dpdk/PREFIX/config for root, else under
/// $XDG_RUNTIME_DIR or /tmp; nullopt with --in-memory or --no-shconf, which keep none. Any
/// thread.
std::optional<std::string> eal_config_path(const std::vector<std::string>& args);

/// The process holding the lock EAL's primary process takes on `config_path` (its
/// "Cannot create lock ... Is another primary process running?"), or nullopt: no file, no
/// lock, or the caller's own. Any thread.
std::optional<pid_t> eal_config_holder(const std::string& config_path);

/// EAL for the life of the process's daemon: rte_eal_cleanup() when it goes, if init succeeded.
class EalSession {
  public:
    EalSession() = default;
    ~EalSession();
    EalSession(const EalSession&) = delete;
    EalSession& operator=(const EalSession&) = delete;

    /// rte_eal_init with `args` (args[0] is the program name). Main thread, once. False, with
    /// `error` set to the reason when EAL refuses: another process on the same --file-prefix,
    /// rte_errno's, or a pointer to EAL's own log lines when it set none.
    bool init(const std::vector<std::string>& args, std::string& error);

  private:
    bool ready_ = false;
};

}  // namespace vsnat::cp
