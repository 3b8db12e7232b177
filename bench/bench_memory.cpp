// vsnat-bench-memory: what an independent random read costs by the span of memory it falls in,
// on 2 MB hugepages and on 4 KB pages; once reading every 64-byte line of the span, once only
// one line of each 4 KB page (few lines, as many pages: what the TLB adds). The connection
// table's figures at 1M connections (about 70 MB) depend on both (bench/README.md, section 10).
//
// usage: vsnat-bench-memory [--reads N]   (2 MB pages: needs 128 free hugepages)
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>

namespace {

constexpr size_t kMaxBytes = size_t{256} << 20;
constexpr size_t kPage = 4096;
constexpr int kRepeats = 7;  // the fastest pass is reported

uint64_t next_random(uint64_t& state) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

// Nanoseconds a read, the fastest of kRepeats passes of `reads` one-byte reads at random in the
// first `bytes` of `memory`: of any line, or of one line a page (a different line in each, so
// that they spread over the cache's sets). The reads do not depend on one another: the CPU
// overlaps as many as it keeps in flight.
double ns_per_read(const uint8_t* memory, size_t bytes, bool line_per_page, uint64_t reads) {
    uint64_t state = 88172645463325252ULL;
    double best = 1e30;
    for (int repeat = 0; repeat < kRepeats; ++repeat) {
        uint64_t sum = 0;
        const auto start = std::chrono::steady_clock::now();
        for (uint64_t i = 0; i < reads; ++i) {
            const uint64_t r = next_random(state);
            const size_t offset = line_per_page
                                      ? (r % (bytes / kPage)) * kPage + (r % (kPage / 64)) * 64
                                      : (r % (bytes / 64)) * 64;
            sum += memory[offset];
        }
        const std::chrono::duration<double, std::nano> took =
            std::chrono::steady_clock::now() - start;
        best = std::min(best, took.count() / static_cast<double>(reads));
        if (sum == 1) {
            std::puts("");  // keeps the reads
        }
    }
    return best;
}

void run(const char* pages, int extra_flags, uint64_t reads) {
    void* p = mmap(nullptr, kMaxBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
    if (p == MAP_FAILED) {
        std::printf("%s: not run: mmap: %s\n", pages, std::strerror(errno));
        return;
    }
    auto* memory = static_cast<uint8_t*>(p);
    std::memset(memory, 1, kMaxBytes);  // every page present before timing
    for (const bool line_per_page : {false, true}) {
        std::printf("%s, %-18s", pages, line_per_page ? "a line a 4 KB page" : "every line");
        for (const size_t mb : {1, 2, 4, 8, 16, 32, 64, 256}) {
            std::printf(" %3zu MB %5.1f", mb, ns_per_read(memory, mb << 20, line_per_page, reads));
        }
        std::printf("  ns a read\n");
    }
    munmap(p, kMaxBytes);
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t reads = 2'000'000;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--reads" && i + 1 < argc) {
            reads = std::strtoull(argv[++i], nullptr, 10);
        } else {
            std::fprintf(stderr, "usage: %s [--reads N]\n", argv[0]);
            return 2;
        }
    }
    if (reads == 0) {
        std::fprintf(stderr, "--reads must be at least 1\n");
        return 2;
    }
    std::printf("independent random reads over a span, fastest of %d passes of %llu reads\n",
                kRepeats, static_cast<unsigned long long>(reads));
    run("2 MB pages", MAP_HUGETLB, reads);
    run("4 KB pages", 0, reads);
    return 0;
}
