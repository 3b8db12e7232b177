// What the C library's allocator takes for a request: for estimating memory before allocating
// it (cp/memory_budget: what a configuration needs).
#pragma once

#include <algorithm>
#include <cstddef>

namespace vsnat::dp {

/// Bytes glibc's malloc takes for a request of `n` bytes: a chunk with an 8-byte header,
/// 16-byte aligned and at least 32 bytes; from its mmap threshold (128 KiB by default) whole
/// pages of their own. 0 for 0 (an empty vector allocates nothing). Any thread.
constexpr size_t malloc_bytes(size_t n) {
    if (n == 0) {
        return 0;
    }
    if (n >= (size_t{128} << 10)) {
        return (n + 16 + 4095) & ~size_t{4095};
    }
    return std::max<size_t>(32, (n + 8 + 15) & ~size_t{15});
}

}  // namespace vsnat::dp
