// Sync messages put together field by field from the kernel's struct layouts
// (net/netfilter/ipvs/ip_vs_sync.c), for tests: what MessageWriter does not write
// (persistence-engine and unknown options), and messages to break on purpose. Written
// apart from MessageWriter, so a test of one against the other means something.
#pragma once

#include <cstdint>
#include <vector>

#include "dp/sync_wire.hpp"

namespace vsnat::test::sync {

using Bytes = std::vector<uint8_t>;

inline void put8(Bytes& b, uint8_t v) {
    b.push_back(v);
}
inline void put_be16(Bytes& b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}
inline void put_be32(Bytes& b, uint32_t v) {
    put_be16(b, static_cast<uint16_t>(v >> 16));
    put_be16(b, static_cast<uint16_t>(v));
}
// A value kept in network order (an address or a port as vsnat holds it): its bytes as they are.
inline void put_raw(Bytes& b, const void* v, size_t n) {
    const auto* p = static_cast<const uint8_t*>(v);
    b.insert(b.end(), p, p + n);
}

/// An option: type, length of the data, data.
inline Bytes option(uint8_t type, const Bytes& data) {
    Bytes b;
    b.reserve(2 + data.size());
    b.push_back(type);
    b.push_back(static_cast<uint8_t>(data.size()));
    for (uint8_t x : data) {
        b.push_back(x);
    }
    return b;
}

/// struct ip_vs_sync_v4 (Record) or struct ip_vs_sync_v6 (Record6, type 1) for `r`, its
/// IPVS_OPT_SEQ_DATA when r.seq is set, then `more_options`; ver_size is version 0 and the
/// length of it all.
template <class Address>
Bytes record(const dp::sync::BasicRecord<Address>& r, const Bytes& more_options = {}) {
    Bytes b;
    put8(b, dp::sync::BasicRecord<Address>::kInet6 ? 1 : 0);  // type: STYPE_F_INET6 or IPv4
    put8(b, r.protocol);
    put_be16(b, 0);  // ver_size, below
    put_be32(b, r.flags);
    put_be16(b, r.state);
    put_raw(b, &r.client_port, 2);
    put_raw(b, &r.vport, 2);
    put_raw(b, &r.real_port, 2);
    put_be32(b, r.fwmark);
    put_be32(b, r.timeout_s);
    put_raw(b, &r.client_ip, sizeof(Address));
    put_raw(b, &r.vip, sizeof(Address));
    put_raw(b, &r.real_ip, sizeof(Address));
    if (r.seq) {
        Bytes data;
        for (const dp::sync::SeqInfo& s : {r.seq->in_seq, r.seq->out_seq}) {
            put_be32(data, s.init_seq);
            put_be32(data, s.delta);
            put_be32(data, s.previous_delta);
        }
        const Bytes opt = option(1, data);
        b.insert(b.end(), opt.begin(), opt.end());
    }
    b.insert(b.end(), more_options.begin(), more_options.end());
    b[2] = static_cast<uint8_t>(b.size() >> 8);
    b[3] = static_cast<uint8_t>(b.size());
    return b;
}

inline Bytes v4_record(const dp::sync::Record& r, const Bytes& more_options = {}) {
    return record(r, more_options);
}

/// A connection from [2001:2:0:18::`client`]:(40000 + `client`) to [2001:2:0:18::5]:80, given
/// to [2001:2:0:19::3]:8080, TCP ESTABLISHED or UDP, with a 120 s timeout.
inline dp::sync::Record6 v6_connection(uint8_t protocol, uint8_t client = 1) {
    const auto address = [](uint8_t net, uint8_t last) {
        vsnat::Ipv6 a{0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, net};
        a[15] = last;
        return a;
    };
    dp::sync::Record6 r;
    r.protocol = protocol;
    r.state = protocol == 6 ? 1 : 0;
    r.client_ip = address(0x18, client);
    r.vip = address(0x18, 5);
    r.real_ip = address(0x19, 3);
    r.client_port = __builtin_bswap16(static_cast<uint16_t>(40000 + client));
    r.vport = __builtin_bswap16(80);
    r.real_port = __builtin_bswap16(8080);
    r.timeout_s = 120;
    return r;
}

/// struct ip_vs_sync_v6 for v6_connection(protocol), then `options`.
inline Bytes v6_record(uint8_t protocol, const Bytes& options = {}) {
    return record(v6_connection(protocol), options);
}

/// struct ip_vs_sync_mesg and `records`, each on a 4-byte boundary (zeros before it), nr_conns
/// and size to match.
inline Bytes message(uint8_t syncid, const std::vector<Bytes>& records) {
    Bytes b;
    put8(b, 0);  // reserved
    put8(b, syncid);
    put_be16(b, 0);  // size, below
    put8(b, static_cast<uint8_t>(records.size()));
    put8(b, 1);      // version
    put_be16(b, 0);  // spare
    for (const Bytes& r : records) {
        b.resize((b.size() + 3) & ~size_t{3}, 0);
        b.insert(b.end(), r.begin(), r.end());
    }
    b[2] = static_cast<uint8_t>(b.size() >> 8);
    b[3] = static_cast<uint8_t>(b.size());
    return b;
}

/// Sets a message's size field to its length (after a test cut or lengthened it).
inline void fix_size(Bytes& msg) {
    msg[2] = static_cast<uint8_t>(msg.size() >> 8);
    msg[3] = static_cast<uint8_t>(msg.size());
}

}  // namespace vsnat::test::sync
