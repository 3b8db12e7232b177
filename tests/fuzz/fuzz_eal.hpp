// EAL for the libFuzzer targets that need mbufs and hugepage-style memory (without hugepages):
// one init per process, with its own --file-prefix and no shared files, so runs in parallel
// never meet.
#pragma once

#include <rte_eal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace vsnat::fuzz {

/// rte_eal_init for `program` with `memory_mb` of ordinary memory; exits on failure.
inline void init_eal(const char* program, unsigned memory_mb) {
    std::vector<std::string> args = {program,
                                     "--no-huge",
                                     "--no-pci",
                                     "--no-shconf",
                                     "-m",
                                     std::to_string(memory_mb),
                                     "--file-prefix",
                                     "vsnat-fuzz-" + std::to_string(getpid()),
                                     "--log-level",
                                     "lib.eal:error",
                                     "--no-telemetry",
                                     "-l",
                                     "0"};
    std::vector<char*> argv;
    for (std::string& a : args) {
        argv.push_back(a.data());
    }
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        std::fprintf(stderr, "%s: EAL init failed\n", program);
        std::exit(1);
    }
}

}  // namespace vsnat::fuzz
