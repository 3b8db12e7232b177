#include "cp/dpdk_handles.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

namespace vsnat::cp {

void RingDeleter::operator()(rte_ring* ring) const noexcept {
    rte_ring_free(ring);
}

void MempoolDeleter::operator()(rte_mempool* pool) const noexcept {
    rte_mempool_free(pool);
}

void RteFreeDeleter::operator()(void* memory) const noexcept {
    rte_free(memory);
}

UniqueRing create_ring(const std::string& name, unsigned element_size, unsigned count,
                       unsigned flags, std::string& error) {
    UniqueRing ring(rte_ring_create_elem(name.c_str(), element_size, count,
                                         static_cast<int>(rte_socket_id()), flags));
    if (!ring) {
        error = "cannot create ring " + name + ": " + rte_strerror(rte_errno);
    }
    return ring;
}

EalSession::~EalSession() {
    if (ready_) {
        rte_eal_cleanup();
    }
}

bool EalSession::init(const std::vector<std::string>& args, std::string& error) {
    std::vector<std::string> copies = args;  // EAL may permute argv
    std::vector<char*> argv;
    for (std::string& a : copies) {
        argv.push_back(a.data());
    }
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        error = std::string("cannot initialise DPDK (EAL): ") + rte_strerror(rte_errno) +
                " (are hugepages reserved? scripts/hugepages.sh reserves them)";
        return false;
    }
    ready_ = true;
    return true;
}

}  // namespace vsnat::cp
