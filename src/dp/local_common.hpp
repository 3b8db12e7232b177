// What local.cpp (IPv4) and local6.cpp (IPv6) share for the packets the director answers.
#pragma once

#include <cstdint>
#include <cstring>

#include "dp/bytes.hpp"
#include "vsnat/types.hpp"

namespace vsnat::dp {

/// TTL and hop limit of the packets the director originates (Linux's default).
constexpr uint8_t kDefaultTtl = 64;

/// Replies go back to whoever sent the frame on this link.
inline void reply_l2(uint8_t* frame, const MacAddress& our_mac) {
    std::memcpy(frame + eth::kDst, frame + eth::kSrc, 6);
    std::memcpy(frame + eth::kSrc, our_mac.data(), 6);
}

}  // namespace vsnat::dp
