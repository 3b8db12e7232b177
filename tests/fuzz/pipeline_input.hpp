// The input format of fuzz_pipeline, shared with make_corpus, which writes its seeds: records
// [control][length, 2 bytes big endian][frame]; a last record cut short takes what is left.
#pragma once

#include <cstdint>

namespace vsnat::fuzz {

// The control byte.
constexpr uint8_t kFromInside = 1 << 0;    // arrives on the inside port (else the outside one)
constexpr uint8_t kEndBurst = 1 << 1;      // the burst ends after this frame
constexpr uint8_t kFixChecksums = 1 << 2;  // checksums recomputed first, so that mutations get
                                           // past the checksum check to the stages behind it
constexpr unsigned kClockShift = 3;        // bits 3..5: index into kClockSteps

/// How far the clock moves (milliseconds) before a frame: none, a tick of the timer wheel, the
/// ARP hold time, past the NONE, CLOSE, SYN and TIME_WAIT timeouts, past ESTABLISHED.
constexpr uint32_t kClockSteps[8] = {0, 64, 1'001, 2'100, 10'100, 60'100, 120'100, 900'100};

constexpr uint8_t clock_step(unsigned index) {
    return static_cast<uint8_t>(index << kClockShift);
}

}  // namespace vsnat::fuzz
