#include "dp/checksum.hpp"

#include "dp/bytes.hpp"

namespace vsnat::dp {

uint64_t csum_partial(const uint8_t* data, size_t len, uint64_t sum) {
    while (len >= 4) {
        sum += load_u32_raw(data);
        data += 4;
        len -= 4;
    }
    if (len >= 2) {
        sum += load_u16_raw(data);
        data += 2;
        len -= 2;
    }
    if (len == 1) {
        const uint8_t last[2] = {data[0], 0};
        sum += load_u16_raw(last);
    }
    return sum;
}

uint64_t csum_pseudo_header(uint32_t src_raw, uint32_t dst_raw, uint8_t protocol,
                            uint16_t l4_length) {
    uint64_t sum = src_raw;
    sum += dst_raw;
    sum += __builtin_bswap16(protocol);
    sum += __builtin_bswap16(l4_length);
    return sum;
}

uint64_t csum_pseudo_header6(const Ipv6& src, const Ipv6& dst, uint32_t upper_length,
                             uint8_t next_header) {
    uint64_t sum = csum_partial(src.data(), src.size());
    sum = csum_partial(dst.data(), dst.size(), sum);
    sum += __builtin_bswap32(upper_length);
    sum += __builtin_bswap16(next_header);  // three zero bytes, then the next header
    return sum;
}

}  // namespace vsnat::dp
