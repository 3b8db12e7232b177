// vsnat-bench-memory: what a random 64-byte line costs by the span of memory it falls in, on
// 2 MB hugepages and on 4 KB pages, three ways:
//   - one chain: each read's address is in the line read before it (a random cycle through every
//     line of the span), so the reads cannot overlap: the latency;
//   - 32 chains side by side (the same cycle entered at 32 places): as many misses in flight as
//     the core keeps, the most lines a second the memory gives one core;
//   - bursts of 64 random lines prefetched together and then read, as the connection table's
//     lookups read a burst's buckets and then its records.
// The connection table's figures at 1M connections (about 70 MB) depend on them (bench/README.md,
// section 10).
//
// usage: vsnat-bench-memory [--reads N]   (2 MB pages: needs 128 free hugepages)
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr size_t kMaxBytes = size_t{256} << 20;
constexpr size_t kLine = 64;
constexpr int kRepeats = 5;  // the fastest pass is reported
constexpr size_t kChains = 32;
constexpr size_t kBurst = 64;

// Nanoseconds a line, the fastest of kRepeats passes of `lines` reads made by `pass`.
template <class Pass>
double fastest_ns(uint64_t lines, Pass&& pass) {
    double best = 1e30;
    for (int repeat = 0; repeat < kRepeats; ++repeat) {
        const auto start = std::chrono::steady_clock::now();
        const uint64_t sum = pass();
        const std::chrono::duration<double, std::nano> took =
            std::chrono::steady_clock::now() - start;
        best = std::min(best, took.count() / static_cast<double>(lines));
        if (sum == 1) {
            std::puts("");  // keeps the reads
        }
    }
    return best;
}

// Links every line of the first `bytes` of `memory` into one random cycle: each line's first
// 8 bytes hold the offset of the next. Returns the lines in cycle order.
std::vector<uint64_t> link_cycle(uint8_t* memory, size_t bytes, std::mt19937_64& rng) {
    std::vector<uint64_t> order(bytes / kLine);
    std::iota(order.begin(), order.end(), uint64_t{0});
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i = 0; i < order.size(); ++i) {
        const uint64_t next = order[(i + 1) % order.size()] * kLine;
        std::memcpy(memory + order[i] * kLine, &next, sizeof(next));
    }
    return order;
}

// `chains` walks through the cycle side by side, `reads` reads in all.
uint64_t walk(const uint8_t* memory, const std::vector<uint64_t>& order, size_t chains,
              uint64_t reads) {
    std::array<uint64_t, kChains> at{};
    for (size_t c = 0; c < chains; ++c) {
        at[c] = order[c * order.size() / chains] * kLine;
    }
    for (uint64_t i = 0; i < reads / chains; ++i) {
        for (size_t c = 0; c < chains; ++c) {
            std::memcpy(&at[c], memory + at[c], sizeof(at[c]));
        }
    }
    return std::accumulate(at.begin(), at.begin() + static_cast<std::ptrdiff_t>(chains),
                           uint64_t{0});
}

// Bursts of kBurst lines of `lines` (offsets, random), each burst prefetched and then read.
uint64_t prefetched_bursts(const uint8_t* memory, const std::vector<uint64_t>& lines) {
    uint64_t sum = 0;
    for (size_t b = 0; b + kBurst <= lines.size(); b += kBurst) {
        for (size_t i = b; i < b + kBurst; ++i) {
            __builtin_prefetch(memory + lines[i]);
        }
        for (size_t i = b; i < b + kBurst; ++i) {
            sum += memory[lines[i]];
        }
    }
    return sum;
}

void run(const char* pages, int extra_flags, uint64_t reads) {
    void* p = mmap(nullptr, kMaxBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
    if (p == MAP_FAILED) {
        std::printf("%s: not run: mmap: %s\n", pages, std::strerror(errno));
        return;
    }
    auto* memory = static_cast<uint8_t*>(p);
    std::mt19937_64 rng(1);
    const std::initializer_list<size_t> spans_mb = {1, 4, 16, 64, 256};
    std::array<std::string, 3> rows;
    const char* const labels[] = {"latency (one chain)", "32 chains side by side",
                                  "64 prefetched, then read"};
    for (size_t r = 0; r < rows.size(); ++r) {
        char label[32];
        std::snprintf(label, sizeof(label), "%-25s", labels[r]);
        rows[r] = label;
    }
    for (const size_t mb : spans_mb) {
        const size_t bytes = mb << 20;
        const std::vector<uint64_t> order = link_cycle(memory, bytes, rng);
        const uint64_t latency_reads = std::max<uint64_t>(reads / 8, 1);
        std::vector<uint64_t> random_lines(reads / kBurst * kBurst);
        for (uint64_t& line : random_lines) {
            line = (rng() % (bytes / kLine)) * kLine;
        }
        const double figures[] = {
            fastest_ns(latency_reads, [&] { return walk(memory, order, 1, latency_reads); }),
            fastest_ns(reads, [&] { return walk(memory, order, kChains, reads); }),
            fastest_ns(random_lines.size(),
                       [&] { return prefetched_bursts(memory, random_lines); }),
        };
        for (size_t r = 0; r < rows.size(); ++r) {
            char cell[32];
            std::snprintf(cell, sizeof(cell), " %3zu MB %6.1f", mb, figures[r]);
            rows[r] += cell;
        }
    }
    for (const std::string& row : rows) {
        std::printf("%s, %s  ns a line\n", pages, row.c_str());
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
    if (reads < kChains * kBurst) {
        std::fprintf(stderr, "--reads must be at least %zu\n", kChains * kBurst);
        return 2;
    }
    std::printf("random 64-byte lines over a span, fastest of %d passes of %llu reads\n", kRepeats,
                static_cast<unsigned long long>(reads));
    run("2 MB pages", MAP_HUGETLB, reads);
    run("4 KB pages", 0, reads);
    return 0;
}
