// Owning handles for what the control thread makes with DPDK's C API: EAL itself, mempools,
// rings and rte_malloc'd memory. Each is released when its handle goes, so no exit path of
// vsnatd leaks one or releases it twice.
#pragma once

#include <memory>
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

/// EAL for the life of the process's daemon: rte_eal_cleanup() when it goes, if init succeeded.
class EalSession {
  public:
    EalSession() = default;
    ~EalSession();
    EalSession(const EalSession&) = delete;
    EalSession& operator=(const EalSession&) = delete;

    /// rte_eal_init with `args` (args[0] is the program name). Main thread, once. False, with
    /// `error` set, when EAL refuses.
    bool init(const std::vector<std::string>& args, std::string& error);

  private:
    bool ready_ = false;
};

}  // namespace vsnat::cp
