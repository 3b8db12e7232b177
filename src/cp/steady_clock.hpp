// The control plane's clock (the control loop's and the sync daemon's threads).
#pragma once

#include <chrono>
#include <cstdint>

namespace vsnat::cp {

/// Milliseconds of std::chrono::steady_clock: what the control loop and the sync daemon time
/// their periodic work in.
inline uint64_t steady_ms() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

}  // namespace vsnat::cp
