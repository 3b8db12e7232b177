// The IPVS sync protocol's wire format (version 1): messages written byte for byte as Linux's
// ip_vs_sync_conn writes them (the expected bytes below are spelt out from the kernel's struct
// layouts, not from the writer), read with the kernel's checks, and the state numbering.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "dp/sync_wire.hpp"
#include "support/packet_builder.hpp"
#include "support/sync_builder.hpp"

using namespace vsnat::dp;
using namespace vsnat::dp::sync;
using vsnat::test::ip_raw;
using vsnat::test::port_raw;
namespace build = vsnat::test::sync;
using Bytes = std::vector<uint8_t>;

namespace {

// The seed's connection: 202.100.1.2:3456 -> VIP 202.103.106.5:80 -> 172.16.0.3:8000.
Record seed_tcp() {
    Record r;
    r.protocol = 6;
    r.flags = kConnMasq;
    r.state = ipvs_state_of(ConnState::established);
    r.client_ip = ip_raw("202.100.1.2");
    r.vip = ip_raw("202.103.106.5");
    r.real_ip = ip_raw("172.16.0.3");
    r.client_port = port_raw(3456);
    r.vport = port_raw(80);
    r.real_port = port_raw(8000);
    r.timeout_s = 900;
    return r;
}

// A DNS query over the seed's UDP service: 202.100.1.2:5353 -> 202.103.106.5:53 -> 172.16.0.2:53.
Record seed_udp() {
    Record r;
    r.protocol = 17;
    r.flags = kConnMasq | kConnInactive;  // IPVS never counts a UDP connection active
    r.state = kIpvsUdpStateNormal;
    r.client_ip = ip_raw("202.100.1.2");
    r.vip = ip_raw("202.103.106.5");
    r.real_ip = ip_raw("172.16.0.2");
    r.client_port = port_raw(5353);
    r.vport = port_raw(53);
    r.real_port = port_raw(53);
    r.timeout_s = 300;
    return r;
}

// An FTP control connection after the helper rewrote a 227 reply 3 bytes longer: the replies'
// sequence numbers are shifted (IP_VS_CONN_F_OUT_SEQ), the client's are not.
Record seed_ftp() {
    Record r = seed_tcp();
    r.vport = port_raw(21);
    r.real_port = port_raw(21);
    r.flags = kConnMasq | kConnOutSeq;
    r.seq = SeqOptions{{}, {0x12345678, 3, 0}};
    return r;
}

Bytes bytes_of(std::span<const uint8_t> s) {
    return {s.begin(), s.end()};
}

DecodeError decode_bytes(const Bytes& b, Decoded& out, uint8_t want_syncid = 0) {
    return decode(std::span<const uint8_t>(b.data(), b.size()), want_syncid, out);
}

void randomize(std::mt19937& rng, uint32_t& address) {
    address = static_cast<uint32_t>(rng());
}

void randomize(std::mt19937& rng, vsnat::Ipv6& address) {
    for (uint8_t& b : address) {
        b = static_cast<uint8_t>(rng());
    }
}

template <class Address = uint32_t>
BasicRecord<Address> random_record(std::mt19937& rng) {
    std::uniform_int_distribution<uint32_t> u32;
    BasicRecord<Address> r;
    const bool tcp = rng() % 2 == 0;
    r.protocol = tcp ? 6 : 17;
    r.state = tcp ? static_cast<uint16_t>(rng() % kIpvsTcpStateCount) : kIpvsUdpStateNormal;
    r.flags = kConnMasq | (r.state == 1 ? 0 : kConnInactive);
    randomize(rng, r.client_ip);
    randomize(rng, r.vip);
    randomize(rng, r.real_ip);
    r.client_port = static_cast<uint16_t>(u32(rng));
    r.vport = static_cast<uint16_t>(u32(rng));
    r.real_port = static_cast<uint16_t>(u32(rng));
    r.fwmark = rng() % 4 == 0 ? u32(rng) : 0;
    r.timeout_s = u32(rng) % 100000;
    if (tcp && rng() % 3 == 0) {
        r.flags |= kConnSeqMask;
        r.seq = SeqOptions{{u32(rng), u32(rng), u32(rng)}, {u32(rng), u32(rng), u32(rng)}};
    }
    return r;
}

}  // namespace

TEST_CASE("sync: one TCP ESTABLISHED connection, byte for byte", "[sync]") {
    MessageWriter w;
    w.begin(7);
    REQUIRE(w.add(seed_tcp()));
    const Bytes expected = {
        // struct ip_vs_sync_mesg
        0x00,        // reserved: 0 in version 1
        0x07,        // syncid
        0x00, 0x2c,  // size: 8 + 36 = 44
        0x01,        // nr_conns
        0x01,        // version: SYNC_PROTO_VER
        0x00, 0x00,  // spare
        // struct ip_vs_sync_v4
        0x00,                    // type: IPv4
        0x06,                    // protocol: TCP
        0x00, 0x24,              // ver_size: version 0, size 36
        0x00, 0x00, 0x00, 0x00,  // flags: IP_VS_CONN_F_MASQ
        0x00, 0x01,              // state: IP_VS_TCP_S_ESTABLISHED
        0x0d, 0x80,              // cport 3456
        0x00, 0x50,              // vport 80
        0x1f, 0x40,              // dport 8000
        0x00, 0x00, 0x00, 0x00,  // fwmark
        0x00, 0x00, 0x03, 0x84,  // timeout: 900 s
        202, 100, 1, 2,          // caddr
        202, 103, 106, 5,        // vaddr
        172, 16, 0, 3,           // daddr
    };
    CHECK(bytes_of(w.finish()) == expected);
    CHECK(w.size() == 44);
    CHECK(w.count() == 1);
}

TEST_CASE("sync: one UDP connection, byte for byte", "[sync]") {
    MessageWriter w;
    w.begin(255);
    REQUIRE(w.add(seed_udp()));
    const Bytes expected = {
        0x00, 0xff, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x00,  // header: syncid 255, size 44, 1 record
        0x00,                                            // type: IPv4
        0x11,                                            // protocol: UDP
        0x00, 0x24,                                      // ver_size: version 0, size 36
        0x00, 0x00, 0x01, 0x00,                          // flags: MASQ | INACTIVE
        0x00, 0x00,                                      // state: IP_VS_UDP_S_NORMAL
        0x14, 0xe9,                                      // cport 5353
        0x00, 0x35,                                      // vport 53
        0x00, 0x35,                                      // dport 53
        0x00, 0x00, 0x00, 0x00,                          // fwmark
        0x00, 0x00, 0x01, 0x2c,                          // timeout: 300 s
        202,  100,  1,    2,                             // caddr
        202,  103,  106,  5,                             // vaddr
        172,  16,   0,    2,                             // daddr
    };
    CHECK(bytes_of(w.finish()) == expected);
}

TEST_CASE("sync: sequence options (FTP), then a record padded to 4 bytes", "[sync]") {
    MessageWriter w;
    w.begin(1);
    REQUIRE(w.add(seed_ftp()));
    REQUIRE(w.add(seed_udp()));
    const Bytes expected = {
        0x00, 0x01, 0x00, 0x6c, 0x02, 0x01, 0x00, 0x00,  // header: size 8 + 62 + 2 + 36 = 108
        // the FTP control connection
        0x00, 0x06,                          // IPv4, TCP
        0x00, 0x3e,                          // ver_size: version 0, size 36 + 2 + 24 = 62
        0x00, 0x00, 0x02, 0x00,              // flags: MASQ | OUT_SEQ
        0x00, 0x01,                          // state: ESTABLISHED
        0x0d, 0x80, 0x00, 0x15, 0x00, 0x15,  // ports 3456, 21, 21
        0x00, 0x00, 0x00, 0x00,              // fwmark
        0x00, 0x00, 0x03, 0x84,              // timeout 900 s
        202, 100, 1, 2, 202, 103, 106, 5, 172, 16, 0, 3,  // caddr, vaddr, daddr
        0x01,                                             // option: IPVS_OPT_SEQ_DATA
        0x18,                                             // its length: 24
        0x00, 0x00, 0x00, 0x00,                           // in_seq.init_seq
        0x00, 0x00, 0x00, 0x00,                           // in_seq.delta
        0x00, 0x00, 0x00, 0x00,                           // in_seq.previous_delta
        0x12, 0x34, 0x56, 0x78,                           // out_seq.init_seq
        0x00, 0x00, 0x00, 0x03,                           // out_seq.delta
        0x00, 0x00, 0x00, 0x00,                           // out_seq.previous_delta
        0x00, 0x00,  // padding: the next record starts at 72, a multiple of 4
        // the UDP connection
        0x00, 0x11, 0x00, 0x24, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x14, 0xe9, 0x00, 0x35, 0x00,
        0x35, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x2c, 202, 100, 1, 2, 202, 103, 106, 5, 172,
        16, 0, 2,
        // no padding after the last record
    };
    CHECK(bytes_of(w.finish()) == expected);

    Decoded d;
    REQUIRE(decode_bytes(expected, d) == DecodeError::none);
    CHECK(d.syncid == 1);
    REQUIRE(d.records.size() == 2);
    CHECK(d.records[0] == seed_ftp());
    CHECK(d.records[1] == seed_udp());
    CHECK(d.skipped() == 0);
}

TEST_CASE("sync: the writer against the builder written from the kernel's structs", "[sync]") {
    MessageWriter w;
    w.begin(42);
    REQUIRE(w.add(seed_ftp()));
    REQUIRE(w.add(seed_tcp()));
    REQUIRE(w.add(seed_ftp()));
    REQUIRE(w.add(seed_udp()));
    const Bytes expected =
        build::message(42, {build::v4_record(seed_ftp()), build::v4_record(seed_tcp()),
                            build::v4_record(seed_ftp()), build::v4_record(seed_udp())});
    CHECK(bytes_of(w.finish()) == expected);
}

TEST_CASE("sync: random records round-trip", "[sync]") {
    std::mt19937 rng(20240607);
    MessageWriter w;
    size_t records = 0;
    size_t with_seq = 0;
    for (int message = 0; message < 500; ++message) {
        const auto syncid = static_cast<uint8_t>(rng());
        w.begin(syncid);
        std::vector<Record> sent;
        const size_t want = 1 + rng() % 50;
        while (sent.size() < want) {
            const Record r = random_record(rng);
            if (!w.add(r)) {
                break;
            }
            sent.push_back(r);
            with_seq += r.seq.has_value();
        }
        records += sent.size();
        Decoded d;
        REQUIRE(decode(w.finish(), syncid, d) == DecodeError::none);
        CHECK(d.syncid == syncid);
        CHECK(d.skipped() == 0);
        REQUIRE(d.records == sent);
    }
    CHECK(records > 5000);
    CHECK(with_seq > 500);
}

TEST_CASE("sync: an IPv6 connection, byte for byte (struct ip_vs_sync_v6)", "[sync]") {
    Record6 r = build::v6_connection(6, 7);
    r.flags = kConnOutSeq;
    r.seq = SeqOptions{{}, {0x12345678, 3, 0}};
    MessageWriter w;
    w.begin(2);
    REQUIRE(w.add(r));
    REQUIRE(w.add(seed_udp()));
    const Bytes expected = {
        0x00, 0x02, 0x00, 0x90, 0x02, 0x01, 0x00, 0x00,  // header: size 8 + 98 + 2 + 36 = 144
        0x01, 0x06,                                      // IPv6 (STYPE_F_INET6), TCP
        0x00, 0x62,                                      // ver_size: version 0, 72 + 2 + 24 = 98
        0x00, 0x00, 0x02, 0x00,                          // flags: MASQ | OUT_SEQ
        0x00, 0x01,                                      // state: ESTABLISHED
        0x9c, 0x47, 0x00, 0x50, 0x1f, 0x90,              // ports 40007, 80, 8080
        0x00, 0x00, 0x00, 0x00,                          // fwmark
        0x00, 0x00, 0x00, 0x78,                          // timeout 120 s
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x18, 0, 0, 0, 0, 0, 0, 0, 7,  // caddr
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x18, 0, 0, 0, 0, 0, 0, 0, 5,  // vaddr
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x19, 0, 0, 0, 0, 0, 0, 0, 3,  // daddr
        0x01, 0x18,                                      // IPVS_OPT_SEQ_DATA, 24 bytes
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,              // in_seq
        0x12, 0x34, 0x56, 0x78, 0, 0, 0, 3, 0, 0, 0, 0,  // out_seq
        0x00, 0x00,  // padding: the next record starts at 108, a multiple of 4
        // the IPv4 UDP connection
        0x00, 0x11, 0x00, 0x24, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x14, 0xe9, 0x00, 0x35, 0x00,
        0x35, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x2c, 202, 100, 1, 2, 202, 103, 106, 5, 172,
        16, 0, 2,
        // no padding after the last record
    };
    CHECK(bytes_of(w.finish()) == expected);
    CHECK(expected == build::message(2, {build::record(r), build::v4_record(seed_udp())}));

    Decoded d;
    REQUIRE(decode_bytes(expected, d) == DecodeError::none);
    REQUIRE(d.records6.size() == 1);
    CHECK(d.records6[0] == r);
    REQUIRE(d.records.size() == 1);
    CHECK(d.records[0] == seed_udp());
    CHECK(d.skipped() == 0);
}

TEST_CASE("sync: random records of both families round-trip", "[sync]") {
    std::mt19937 rng(20261206);
    MessageWriter w;
    size_t sent4 = 0;
    size_t sent6 = 0;
    for (int message = 0; message < 300; ++message) {
        const auto syncid = static_cast<uint8_t>(rng());
        w.begin(syncid);
        std::vector<Record> v4;
        std::vector<Record6> v6;
        const size_t want = 1 + rng() % 40;
        for (bool room = true; room && v4.size() + v6.size() < want;) {
            if (rng() % 2 == 0) {
                const Record r = random_record(rng);
                room = w.add(r);
                if (room) {
                    v4.push_back(r);
                }
            } else {
                const Record6 r = random_record<vsnat::Ipv6>(rng);
                room = w.add(AnyRecord{r});
                if (room) {
                    v6.push_back(r);
                }
            }
        }
        sent4 += v4.size();
        sent6 += v6.size();
        Decoded d;
        REQUIRE(decode(w.finish(), syncid, d) == DecodeError::none);
        CHECK(d.skipped() == 0);
        REQUIRE(d.records == v4);
        REQUIRE(d.records6 == v6);
    }
    CHECK(sent4 > 1000);
    CHECK(sent6 > 1000);
}

TEST_CASE("sync: a message is filled up to its maximum size, then refuses", "[sync]") {
    SECTION("the default, 1472 bytes: 40 plain records") {
        MessageWriter w;
        CHECK(w.max_size() == 1472);
        size_t n = 0;
        while (w.add(seed_tcp())) {
            ++n;
        }
        CHECK(n == 40);  // 8 + 40 * 36 = 1448; one more would be 1484
        CHECK(w.size() == 1448);
        CHECK(w.count() == 40);
    }
    SECTION("records with options, 64 bytes each once padded: 22") {
        MessageWriter w;
        size_t n = 0;
        while (w.add(seed_ftp())) {
            ++n;
        }
        CHECK(n == 22);  // 8 + 62 + 21 * 64 = 1414; one more would be 1478
        CHECK(w.size() == 1414);
        // A record without options still fits: 1414 + 2 of padding + 36 = 1452.
        CHECK(w.add(seed_tcp()));
        CHECK(w.size() == 1452);
    }
    SECTION("an exact fit, and the refused record leaves the message as it was") {
        MessageWriter w(kHeaderLen + 3 * kRecordV4Len);
        w.begin(3);
        REQUIRE(w.add(seed_tcp()));
        REQUIRE(w.add(seed_udp()));
        REQUIRE(w.add(seed_tcp()));
        const Bytes full = bytes_of(w.finish());
        CHECK(full.size() == 116);
        CHECK_FALSE(w.add(seed_udp()));
        CHECK(bytes_of(w.finish()) == full);
        Decoded d;
        REQUIRE(decode_bytes(full, d) == DecodeError::none);
        CHECK(d.records.size() == 3);
    }
    SECTION("at most 255 records, whatever the size") {
        MessageWriter w(kMaxMessageSize);
        size_t n = 0;
        while (w.add(seed_udp())) {
            ++n;
        }
        CHECK(n == kMaxRecords);
        CHECK(w.size() == 8 + 255 * 36);
        Decoded d;
        REQUIRE(decode(w.finish(), 0, d) == DecodeError::none);
        CHECK(d.records.size() == 255);
    }
    SECTION("begin() starts over") {
        MessageWriter w(100);
        REQUIRE(w.add(seed_tcp()));
        REQUIRE(w.add(seed_tcp()));
        CHECK_FALSE(w.add(seed_tcp()));
        w.begin(9);
        CHECK(w.empty());
        CHECK(w.size() == kHeaderLen);
        CHECK(bytes_of(w.finish()) == Bytes{0, 9, 0, 8, 0, 1, 0, 0});
        CHECK(w.add(seed_tcp()));
    }
    SECTION("the maximum size is clamped to what the header and the size field allow") {
        CHECK(MessageWriter(0).max_size() == kHeaderLen);
        CHECK_FALSE(MessageWriter(0).add(seed_tcp()));
        CHECK(MessageWriter(100000).max_size() == kMaxMessageSize);
    }
}

TEST_CASE("sync: malformed messages are refused with their reason", "[sync]") {
    const Bytes good = build::message(7, {build::v4_record(seed_tcp())});
    Decoded d;
    REQUIRE(decode_bytes(good, d) == DecodeError::none);
    REQUIRE(d.records.size() == 1);

    SECTION("shorter than a header") {
        for (size_t n = 0; n < kHeaderV0Len; ++n) {
            CHECK(decode_bytes(Bytes(good.begin(), good.begin() + static_cast<long>(n)), d) ==
                  DecodeError::too_short);
        }
        // 4 to 7 bytes, the size field right: a version 0 header would do, a version 1 not.
        for (size_t n = kHeaderV0Len; n < kHeaderLen; ++n) {
            Bytes b(good.begin(), good.begin() + static_cast<long>(n));
            build::fix_size(b);
            CHECK(decode_bytes(b, d) == DecodeError::too_short);
        }
    }
    SECTION("the size field larger or smaller than the datagram") {
        Bytes b = good;
        b[3] = static_cast<uint8_t>(b[3] + 1);
        CHECK(decode_bytes(b, d) == DecodeError::bad_size);
        b[3] = static_cast<uint8_t>(b[3] - 2);
        CHECK(decode_bytes(b, d) == DecodeError::bad_size);
        // The datagram cut, the field left as it was.
        CHECK(decode_bytes(Bytes(good.begin(), good.end() - 1), d) == DecodeError::bad_size);
    }
    SECTION("nr_conns beyond the data") {
        Bytes b = good;
        b[4] = 2;
        CHECK(decode_bytes(b, d) == DecodeError::truncated);
        CHECK(d.records.size() == 1);  // the first one was read, as the kernel applies it
        // A second record cut short: fewer bytes left than a record's fixed part.
        b.resize(b.size() + 20, 0);
        build::fix_size(b);
        CHECK(decode_bytes(b, d) == DecodeError::truncated);
        // No records at all.
        Bytes header(good.begin(), good.begin() + kHeaderLen);
        header[4] = 1;
        build::fix_size(header);
        CHECK(decode_bytes(header, d) == DecodeError::truncated);
        CHECK(d.records.empty());
    }
    SECTION("a record's size below the fixed part, or past the message") {
        Bytes b = good;
        b[kHeaderLen + 3] = kRecordV4Len - 1;
        CHECK(decode_bytes(b, d) == DecodeError::bad_record);
        b[kHeaderLen + 3] = 0;
        CHECK(decode_bytes(b, d) == DecodeError::bad_record);
        b[kHeaderLen + 3] = kRecordV4Len + 1;
        CHECK(decode_bytes(b, d) == DecodeError::bad_record);
        b[kHeaderLen + 2] = 0x0f;  // 0xf00 + 37: only the low 12 bits are the size
        CHECK(decode_bytes(b, d) == DecodeError::bad_record);
        // An IPv6 record (72 bytes of fixed part) that says it is 36.
        Bytes v6 = build::v6_record(6);
        v6.resize(kRecordV4Len);
        v6[3] = kRecordV4Len;
        CHECK(decode_bytes(build::message(7, {v6}), d) == DecodeError::bad_record);
    }
    SECTION("a record of another version or an unknown type") {
        Bytes b = good;
        b[kHeaderLen + 2] = 0x10;  // version 1, size 36
        CHECK(decode_bytes(b, d) == DecodeError::bad_record_version);
        b = good;
        b[kHeaderLen] = 2;  // neither IPv4 (0) nor with the IPv6 bit
        CHECK(decode_bytes(b, d) == DecodeError::bad_record);
    }
    SECTION("options with bad lengths") {
        const auto with = [](const Bytes& options) {
            return build::message(7, {build::v4_record(seed_tcp(), options)});
        };
        // The sequence option one byte short, and one byte long (the record ends with it).
        CHECK(decode_bytes(with(build::option(kOptSeqData, Bytes(23, 0))), d) ==
              DecodeError::bad_option);
        CHECK(decode_bytes(with(build::option(kOptSeqData, Bytes(25, 0))), d) ==
              DecodeError::bad_option);
        // Length 0.
        CHECK(decode_bytes(with({kOptPeData, 0}), d) == DecodeError::bad_option);
        // Length past the record's end.
        CHECK(decode_bytes(with({kOptPeData, 5, 1, 2, 3, 4}), d) == DecodeError::bad_option);
        // One byte left: no room for type and length.
        CHECK(decode_bytes(with({kOptOptional | 9}), d) == DecodeError::bad_option);
        // Twice the same.
        const Bytes seq = build::option(kOptSeqData, Bytes(24, 0));
        Bytes twice = seq;
        twice.insert(twice.end(), seq.begin(), seq.end());
        CHECK(decode_bytes(with(twice), d) == DecodeError::bad_option);
        const Bytes name = build::option(kOptPeName, {'s', 'i', 'p'});
        Bytes names = name;
        names.insert(names.end(), name.begin(), name.end());
        CHECK(decode_bytes(with(names), d) == DecodeError::bad_option);
        // A persistence engine's name longer than IP_VS_PENAME_MAXLEN.
        CHECK(decode_bytes(with(build::option(kOptPeName, Bytes(17, 'x'))), d) ==
              DecodeError::bad_option);
        // The optional bit does not spare a known option its checks.
        CHECK(decode_bytes(with(build::option(kOptOptional | kOptSeqData, Bytes(23, 0))), d) ==
              DecodeError::bad_option);
    }
    SECTION("a version 0 message") {
        // struct ip_vs_sync_mesg_v0 {nr_conns 1, syncid 7, size 4 + 24} and one
        // struct ip_vs_sync_conn_v0.
        const Bytes v0 = {
            0x01, 0x07, 0x00, 0x1c,                                     // nr_conns, syncid, size 28
            0x00, 0x06,                                                 // reserved, protocol TCP
            0x0d, 0x80, 0x00, 0x50, 0x1f, 0x40,                         // cport, vport, dport
            202,  100,  1,    2,    202,  103,  106, 5, 172, 16, 0, 3,  // caddr, vaddr, daddr
            0x00, 0x00,  // flags (16 bits in version 0)
            0x00, 0x01,  // state
        };
        CHECK(decode_bytes(v0, d) == DecodeError::version0);
        CHECK(d.records.empty());
        CHECK(d.syncid == 7);
        // The size and syncid checks come first, as both versions have them in one place.
        CHECK(decode_bytes(v0, d, 8) == DecodeError::foreign_syncid);
    }
    SECTION("first byte 0 but not version 1") {
        Bytes b = good;
        b[5] = 0;
        CHECK(decode_bytes(b, d) == DecodeError::bad_version);
        b[5] = 2;
        CHECK(decode_bytes(b, d) == DecodeError::bad_version);
        b[5] = 0xff;  // -1: the field is signed
        CHECK(decode_bytes(b, d) == DecodeError::bad_version);
        b = good;
        b[7] = 1;  // spare
        CHECK(decode_bytes(b, d) == DecodeError::bad_version);
    }
    SECTION("another sync group's message") {
        CHECK(decode_bytes(good, d, 8) == DecodeError::foreign_syncid);
        CHECK(d.records.empty());
        CHECK(decode_bytes(good, d, 7) == DecodeError::none);
        CHECK(decode_bytes(good, d, 0) == DecodeError::none);  // 0: any group, as the kernel
    }
    SECTION("an error keeps the records before it, and the next decode forgets them") {
        Bytes second = build::v4_record(seed_udp());
        second[2] = 0x20;  // record version 2
        CHECK(decode_bytes(build::message(7, {build::v4_record(seed_tcp()), second}), d) ==
              DecodeError::bad_record_version);
        REQUIRE(d.records.size() == 1);
        CHECK(d.records[0] == seed_tcp());
        CHECK(decode_bytes(Bytes{1, 2}, d) == DecodeError::too_short);
        CHECK(d.records.empty());
    }
    SECTION("every error has its own name") {
        CHECK(decode_error_name(DecodeError::none) == "none");
        CHECK(decode_error_name(DecodeError::version0) == "version0");
        CHECK(decode_error_name(DecodeError::bad_option) == "bad_option");
        CHECK(decode_error_name(DecodeError::count_) == "unknown");
    }
}

TEST_CASE("sync: records the kernel would drop alone are skipped and counted", "[sync]") {
    Decoded d;
    SECTION("an IPv6 record's options are checked like any record's") {
        const Bytes bad = build::message(
            7, {build::v4_record(seed_tcp()), build::v6_record(6, {kOptSeqData, 0})});
        CHECK(decode_bytes(bad, d) == DecodeError::bad_option);
        REQUIRE(d.records.size() == 1);
        CHECK(d.records6.empty());
    }
    SECTION("persistence-engine options and optional unknown ones are read past") {
        Bytes options = build::option(kOptPeData, {'c', 'a', 'l', 'l', '-', 'i', 'd'});
        const Bytes name = build::option(kOptPeName, {'s', 'i', 'p'});
        const Bytes unknown = build::option(kOptOptional | 5, {1, 2, 3});
        options.insert(options.end(), name.begin(), name.end());
        options.insert(options.end(), unknown.begin(), unknown.end());
        const Record ftp = seed_ftp();
        REQUIRE(decode_bytes(build::message(7, {build::v4_record(ftp, options)}), d) ==
                DecodeError::none);
        REQUIRE(d.records.size() == 1);
        CHECK(d.records[0] == ftp);
        CHECK(d.skipped() == 0);
    }
    SECTION("an unknown option the receiver must know drops its record only") {
        const Bytes msg =
            build::message(7, {build::v4_record(seed_tcp(), build::option(5, {1, 2, 3})),
                               build::v4_record(seed_udp())});
        REQUIRE(decode_bytes(msg, d) == DecodeError::none);
        CHECK(d.skipped_option == 1);
        REQUIRE(d.records.size() == 1);
        CHECK(d.records[0] == seed_udp());
    }
    SECTION("protocols other than TCP and UDP, and states out of range") {
        Record sctp = seed_tcp();
        sctp.protocol = 132;
        Record tcp_bad = seed_tcp();
        tcp_bad.state = kIpvsTcpStateCount;
        Record udp_bad = seed_udp();
        udp_bad.state = 1;
        Record tcp_last = seed_tcp();
        tcp_last.state = kIpvsTcpStateCount - 1;  // SYNACK
        Record udp_template = seed_udp();         // a template's state is not checked
        udp_template.flags |= kConnTemplate;
        udp_template.state = 5;
        const Bytes msg = build::message(
            7, {build::v4_record(sctp), build::v4_record(tcp_bad), build::v4_record(udp_bad),
                build::v4_record(tcp_last), build::v4_record(udp_template)});
        REQUIRE(decode_bytes(msg, d) == DecodeError::none);
        CHECK(d.skipped_protocol == 1);
        CHECK(d.skipped_state == 2);
        REQUIRE(d.records.size() == 2);
        CHECK(d.records[0] == tcp_last);
        CHECK(d.records[1] == udp_template);
    }
    SECTION("bytes after the last record and in the padding are not looked at") {
        Bytes msg = build::message(7, {build::v4_record(seed_ftp()), build::v4_record(seed_tcp())});
        msg[kHeaderLen + 62] = 0xaa;  // the padding after the first record
        msg.insert(msg.end(), {0xde, 0xad, 0xbe, 0xef, 0x01});
        build::fix_size(msg);
        REQUIRE(decode_bytes(msg, d) == DecodeError::none);
        CHECK(d.records.size() == 2);
    }
}

TEST_CASE("sync: IPVS state numbers and vsnat's states", "[sync]") {
    // include/net/ip_vs.h, enum ip_vs_tcp_states.
    CHECK(ipvs_state_of(ConnState::none) == 0);
    CHECK(ipvs_state_of(ConnState::established) == 1);
    CHECK(ipvs_state_of(ConnState::syn_sent) == 2);
    CHECK(ipvs_state_of(ConnState::syn_recv) == 3);
    CHECK(ipvs_state_of(ConnState::fin_wait) == 4);
    CHECK(ipvs_state_of(ConnState::time_wait) == 5);
    CHECK(ipvs_state_of(ConnState::close) == 6);
    CHECK(ipvs_state_of(ConnState::close_wait) == 7);
    CHECK(ipvs_state_of(ConnState::last_ack) == 8);
    CHECK(ipvs_state_of(ConnState::listen) == 9);
    CHECK(ipvs_state_of(ConnState::synack) == 10);
    // IP_VS_UDP_S_NORMAL for all three of vsnat's UDP states.
    CHECK(ipvs_state_of(ConnState::udp) == 0);
    CHECK(ipvs_state_of(ConnState::udp_unanswered) == 0);
    CHECK(ipvs_state_of(ConnState::udp_replied) == 0);

    for (uint16_t n = 0; n < kIpvsTcpStateCount; ++n) {
        const auto s = conn_state_of(6, n);
        REQUIRE(s);
        CHECK(ipvs_state_of(*s) == n);
    }
    CHECK_FALSE(conn_state_of(6, kIpvsTcpStateCount));
    CHECK(conn_state_of(17, 0) == ConnState::udp);
    CHECK_FALSE(conn_state_of(17, 1));
    CHECK_FALSE(conn_state_of(132, 0));
    CHECK(conn_state_name(*conn_state_of(6, 4)) == conn_state_name(ConnState::fin_wait));
}
