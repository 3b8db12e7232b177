// Catch2 main for dataplane tests: EAL once per binary, without hugepages or PCI, with a unique
// file prefix and no shared config so test binaries can run side by side. (The Catch2
// implementation is tests/support/catch_session.cpp.)
#include <rte_eal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "support/catch_session.hpp"

int main(int argc, char** argv) {
    std::string prefix = "vsnat-test-" + std::to_string(getpid());
    std::vector<std::string> args = {
        argv[0], "--no-huge",   "--no-pci",      "--no-shconf",    "-m", "1024", "--file-prefix",
        prefix,  "--log-level", "lib.eal:error", "--no-telemetry", "-l", "0"};
    std::vector<char*> eal_argv;
    for (auto& a : args) {
        eal_argv.push_back(a.data());
    }
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "EAL init failed\n");
        return 1;
    }
    int result = run_catch_session(argc, argv);
    rte_eal_cleanup();
    return result;
}
