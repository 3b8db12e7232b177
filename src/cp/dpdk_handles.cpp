#include "cp/dpdk_handles.hpp"

#include <fcntl.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

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

std::optional<std::string> eal_config_path(const std::vector<std::string>& args) {
    std::string prefix = "rte";
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--in-memory" || a == "--no-shconf") {
            return std::nullopt;
        }
        if (a == "--file-prefix" && i + 1 < args.size()) {
            prefix = args[++i];
        } else if (a.rfind("--file-prefix=", 0) == 0) {
            prefix = a.substr(std::string("--file-prefix=").size());
        }
    }
    // As EAL's eal_create_runtime_dir.
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    const std::string base = getuid() == 0 ? "/var/run" : (xdg != nullptr ? xdg : "/tmp");
    return base + "/dpdk/" + prefix + "/config";
}

std::optional<pid_t> eal_config_holder(const std::string& config_path) {
    const int fd = ::open(config_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return std::nullopt;
    }
    struct flock lock {};
    lock.l_type = F_WRLCK;  // would a write lock anywhere in the file conflict, and with whom?
    lock.l_whence = SEEK_SET;
    const bool held = ::fcntl(fd, F_GETLK, &lock) == 0 && lock.l_type != F_UNLCK;
    ::close(fd);
    return held ? std::optional<pid_t>(lock.l_pid) : std::nullopt;
}

bool EalSession::init(const std::vector<std::string>& args, std::string& error) {
    std::vector<std::string> copies = args;  // EAL may permute argv
    std::vector<char*> argv;
    for (std::string& a : copies) {
        argv.push_back(a.data());
    }
    rte_errno = 0;
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        // EAL does not always set rte_errno (a taken file prefix leaves it 0: "Success").
        const int reason = rte_errno;
        const std::optional<std::string> config = eal_config_path(args);
        const std::optional<pid_t> holder =
            config ? eal_config_holder(*config) : std::optional<pid_t>();
        error = "cannot initialise DPDK (EAL): ";
        if (holder) {
            const std::string prefix = config->substr(0, config->rfind('/'));
            error += "its file prefix '" + prefix.substr(prefix.rfind('/') + 1) +
                     "' is in use by another DPDK process (pid " + std::to_string(*holder) +
                     " holds " + *config +
                     "): stop that process (another vsnatd?), or give this one another "
                     "--file-prefix in 'eal'";
        } else if (reason != 0) {
            error += std::string(rte_strerror(reason)) +
                     " (are hugepages reserved? scripts/hugepages.sh reserves them)";
        } else {
            error += "EAL gave no reason; its own lines above (EAL: ...) say what failed";
        }
        return false;
    }
    ready_ = true;
    return true;
}

}  // namespace vsnat::cp
