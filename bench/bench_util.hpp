// What the in-process benchmarks (bench_pipeline, bench_sync) share: option values, the machine's
// description, a cheap random generator, fresh client addresses (IPv4 and IPv6), the median of
// rounds and how much of a phase this thread ran on a CPU, and how they start EAL. Header-only.
#pragma once

#include <arpa/inet.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vsnat/types.hpp"

namespace vsnat::bench {

/// A count as options take it: digits, optionally followed by k (x1000) or M (x1000000).
inline std::optional<uint64_t> parse_count(std::string_view text) {
    uint64_t multiplier = 1;
    if (!text.empty() && (text.back() == 'k' || text.back() == 'K')) {
        multiplier = 1000;
        text.remove_suffix(1);
    } else if (!text.empty() && text.back() == 'M') {
        multiplier = 1'000'000;
        text.remove_suffix(1);
    }
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty() ||
        value > UINT64_MAX / multiplier) {
        return std::nullopt;
    }
    return value * multiplier;
}

/// MemAvailable of /proc/meminfo in MB; UINT64_MAX when unknown (let the allocation decide).
inline uint64_t mem_available_mb() {
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    uint64_t kb = 0;
    while (meminfo >> key >> kb) {
        if (key == "MemAvailable:") {
            return kb >> 10;
        }
        meminfo.ignore(64, '\n');
    }
    return UINT64_MAX;
}

/// Free hugepage memory, MB (HugePages_Free of the default size): 0 when none are reserved.
inline uint64_t free_hugepage_mb() {
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    uint64_t value = 0, free_pages = 0, page_kb = 0;
    while (meminfo >> key >> value) {
        if (key == "HugePages_Free:") {
            free_pages = value;
        } else if (key == "Hugepagesize:") {
            page_kb = value;
        }
        meminfo.ignore(64, '\n');
    }
    return free_pages * page_kb >> 10;
}

inline std::string cpu_model() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line);) {
        if (line.rfind("model name", 0) == 0) {
            return line.substr(line.find(':') + 2);
        }
    }
    return "unknown CPU";
}

/// Arguments as a shell line, quoted where they need it.
inline std::string join_quoted(const std::vector<std::string>& args) {
    std::string out;
    for (const std::string& a : args) {
        out += out.empty() ? "" : " ";
        out += a.find_first_of(" \t'\"") == std::string::npos ? a : "'" + a + "'";
    }
    return out;
}

/// Starts EAL for an in-process benchmark named `program`: `memory_mb` of ordinary memory unless
/// `huge`, no PCI, no shared files, a --file-prefix of its own (`prefix` and the PID), lcore 0
/// unless `extra` (the user's arguments, appended) names cores. Returns the arguments as a shell
/// line, for the report; nullopt, with why on stderr, when EAL refuses.
inline std::optional<std::string> init_eal(const char* program, bool huge, uint64_t memory_mb,
                                           const std::string& prefix,
                                           const std::vector<std::string>& extra) {
    std::vector<std::string> eal = {program};
    if (!huge) {
        eal.insert(eal.end(), {"--no-huge", "-m", std::to_string(memory_mb)});
    }
    eal.insert(eal.end(),
               {"--no-pci", "--no-shconf", "--file-prefix", prefix + std::to_string(getpid()),
                "--log-level", "lib.eal:error", "--no-telemetry"});
    const bool cores_given = std::any_of(extra.begin(), extra.end(), [](const std::string& a) {
        return a.starts_with("-l") || a.starts_with("-c") || a.starts_with("--lcores");
    });
    if (!cores_given) {
        eal.insert(eal.end(), {"-l", "0"});
    }
    eal.insert(eal.end(), extra.begin(), extra.end());
    std::vector<char*> eal_argv;
    for (std::string& a : eal) {
        eal_argv.push_back(a.data());
    }
    const std::string line = join_quoted({eal.begin() + 1, eal.end()});
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "EAL init failed: %s\nEAL arguments: %s\n", rte_strerror(rte_errno),
                     line.c_str());
        return std::nullopt;
    }
    return line;
}

/// splitmix64: cheap, and good enough to pick connections and directions.
class Rng {
  public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }

  private:
    uint64_t state_;
};

/// The clients' network, 198.18.0.0/15 (RFC 2544's benchmarking range), host order.
constexpr uint32_t kClientNet = 0xc6120000;

/// One end of a client: address and port in network order.
struct Client {
    uint32_t ip;
    uint16_t port;
};

/// Clients never seen before: a bijection (murmur3's finalizer) of a 32-bit counter onto
/// 2^17 addresses of 198.18.0.0/15 times 2^15 ports 32768..65535, so none repeats for 2^32 draws.
class FreshClients {
  public:
    explicit FreshClients(uint32_t seed) : counter_(seed) {}
    Client next() { return at(counter_++); }
    /// The client draw number `n` gives.
    static Client at(uint32_t n) {
        uint32_t h = n;
        h ^= h >> 16;
        h *= 0x85ebca6bU;
        h ^= h >> 13;
        h *= 0xc2b2ae35U;
        h ^= h >> 16;
        return {htonl(kClientNet | (h >> 15)), htons(static_cast<uint16_t>(0x8000 | (h & 0x7fff)))};
    }

  private:
    uint32_t counter_;
};

/// One end of an IPv6 client: address and port in network order.
struct Client6 {
    Ipv6 ip;
    uint16_t port;
};

/// FreshClients over IPv6: draw n is IPv4's draw n moved into 2001:2:0:1000::/55, in RFC 5180's
/// benchmarking range 2001:2::/48. The 17 address bits become a /64 (2001:2:0:1000::/64 to
/// 2001:2:0:11ff::/64, 256 clients each) and the interface id (::100 to ::1ff); the port stays.
/// None is on a link of tests/dp's dual-stack fixture (2001:2:0:18::/64, 2001:2:0:19::/64): the
/// director reaches them all through the outside gateway.
class FreshClients6 {
  public:
    explicit FreshClients6(uint32_t seed) : counter_(seed) {}
    Client6 next() { return at(counter_++); }
    /// The client draw number `n` gives.
    static Client6 at(uint32_t n) {
        const Client c = FreshClients::at(n);
        const uint32_t host = ntohl(c.ip) & 0x1ffff;
        return {
            {0x20, 0x01, 0x00, 0x02, 0x00, 0x00, static_cast<uint8_t>(0x10 | (host >> 16)),
             static_cast<uint8_t>(host >> 8), 0, 0, 0, 0, 0, 0, 0x01, static_cast<uint8_t>(host)},
            c.port};
    }

  private:
    uint32_t counter_;
};

/// The median of `values` (0 when there are none).
inline double median(std::vector<double> values) {
    if (values.empty()) {
        return 0;
    }
    std::sort(values.begin(), values.end());
    const size_t mid = values.size() / 2;
    return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

/// How much of the wall time since construction this thread spent on a CPU. Well below 100%,
/// something else ran on this core and the figures are suspect.
class CpuShare {
  public:
    CpuShare() : wall_(seconds(CLOCK_MONOTONIC)), cpu_(seconds(CLOCK_THREAD_CPUTIME_ID)) {}
    double percent() const {
        const double wall = seconds(CLOCK_MONOTONIC) - wall_;
        return wall > 0 ? 100 * (seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_) / wall : 0;
    }

  private:
    static double seconds(clockid_t clock) {
        timespec ts{};
        clock_gettime(clock, &ts);
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    }
    double wall_, cpu_;
};

}  // namespace vsnat::bench
