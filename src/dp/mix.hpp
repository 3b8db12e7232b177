// One 64-bit mixing function for the dataplane's own hash tables.
#pragma once

#include <cstdint>

namespace vsnat::dp {

/// splitmix64's finalizer: a bijection that spreads every input bit over the output. The same
/// in every process and on every run (Maglev tables depend on that).
constexpr uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

}  // namespace vsnat::dp
