// Writes sync messages and what each must decode to, for the Python decoder written from the
// kernel's struct layouts (sync_decode.py; check_sync_vectors.py runs both, suite unit):
//
//   sync_vectors DIR     DIR/NN_LABEL.bin (one datagram) and DIR/NN_LABEL.json beside it
//
// The expectations come from how each message was made (the records given to MessageWriter or
// to the builder, and the fault put in on purpose), never from vsnat's decoder: the Python
// decoder reading the same as this file says checks MessageWriter's bytes, and the error and
// skip rules, against an implementation that shares no code with vsnat's.
#include <arpa/inet.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dp/sync_wire.hpp"
#include "support/packet_builder.hpp"
#include "support/sync_builder.hpp"

using namespace vsnat::dp::sync;
using vsnat::test::ip_raw;
using vsnat::test::port_raw;
namespace build = vsnat::test::sync;
using Bytes = std::vector<uint8_t>;

namespace {

struct Expected {
    uint8_t want_syncid = 0;
    uint8_t syncid = 0;
    std::string error = "none";
    std::vector<AnyRecord> records;                // in the message's order
    uint32_t protocol = 0, state = 0, option = 0;  // skipped
};

// An address as the Python decoder prints it: dotted, or RFC 5952's form (inet_ntop's).
std::string address_text(uint32_t raw) {
    char text[INET_ADDRSTRLEN];
    return inet_ntop(AF_INET, &raw, text, sizeof text);
}

std::string address_text(const vsnat::Ipv6& raw) {
    char text[INET6_ADDRSTRLEN];
    return inet_ntop(AF_INET6, raw.data(), text, sizeof text);
}

uint16_t host_port(uint16_t raw) {
    return __builtin_bswap16(raw);
}

std::string seq_json(const SeqInfo& s) {
    return "[" + std::to_string(s.init_seq) + ", " + std::to_string(s.delta) + ", " +
           std::to_string(s.previous_delta) + "]";
}

template <class Address>
std::string record_json(const BasicRecord<Address>& r) {
    std::ostringstream o;
    o << "{\"protocol\": " << unsigned{r.protocol} << ", \"flags\": " << r.flags
      << ", \"state\": " << r.state << ", \"client\": \"" << address_text(r.client_ip)
      << "\", \"client_port\": " << host_port(r.client_port) << ", \"vip\": \""
      << address_text(r.vip) << "\", \"vport\": " << host_port(r.vport) << ", \"real\": \""
      << address_text(r.real_ip) << "\", \"real_port\": " << host_port(r.real_port)
      << ", \"fwmark\": " << r.fwmark << ", \"timeout\": " << r.timeout_s
      << ", \"in_seq\": " << (r.seq ? seq_json(r.seq->in_seq) : "null")
      << ", \"out_seq\": " << (r.seq ? seq_json(r.seq->out_seq) : "null") << "}";
    return o.str();
}

std::string expected_json(const Expected& e) {
    std::ostringstream o;
    o << "{\"want_syncid\": " << unsigned{e.want_syncid} << ", \"syncid\": " << unsigned{e.syncid}
      << ", \"error\": \"" << e.error << "\", \"records\": [";
    for (size_t i = 0; i < e.records.size(); ++i) {
        o << (i ? ",\n  " : "\n  ")
          << std::visit([](const auto& r) { return record_json(r); }, e.records[i]);
    }
    o << "], \"skipped\": {\"protocol\": " << e.protocol << ", \"state\": " << e.state
      << ", \"option\": " << e.option << "}}\n";
    return o.str();
}

class Out {
  public:
    explicit Out(std::string dir) : dir_(std::move(dir)) {}
    bool write(const std::string& label, const Bytes& datagram, const Expected& e) {
        char prefix[8];
        std::snprintf(prefix, sizeof prefix, "%02d_", n_++);
        const std::string base = dir_ + "/" + prefix + label;
        std::ofstream bin(base + ".bin", std::ios::binary);
        bin.write(reinterpret_cast<const char*>(datagram.data()),
                  static_cast<std::streamsize>(datagram.size()));
        std::ofstream json(base + ".json");
        json << expected_json(e);
        return bin.good() && json.good();
    }
    int count() const { return n_; }

  private:
    std::string dir_;
    int n_ = 0;
};

Bytes bytes_of(std::span<const uint8_t> s) {
    return {s.begin(), s.end()};
}

void randomize(std::mt19937& rng, uint32_t& address) {
    address = static_cast<uint32_t>(rng());
}

// An address in 2001:2::/48 with its interface identifier's zero runs of any length, so that
// both decoders' "::" compression is compared.
void randomize(std::mt19937& rng, vsnat::Ipv6& address) {
    address = {0x20, 0x01, 0x00, 0x02};
    for (size_t i = 6; i < address.size(); ++i) {
        address[i] = rng() % 3 == 0 ? static_cast<uint8_t>(rng()) : 0;
    }
}

template <class Address>
BasicRecord<Address> random_record(std::mt19937& rng) {
    std::uniform_int_distribution<uint32_t> u32;
    BasicRecord<Address> r;
    const bool tcp = rng() % 2 == 0;
    r.protocol = tcp ? 6 : 17;
    r.state = tcp ? static_cast<uint16_t>(rng() % kIpvsTcpStateCount) : kIpvsUdpStateNormal;
    r.flags = kConnMasq | (r.state == 1 ? 0 : kConnInactive);
    if (rng() % 10 == 0) {  // a persistence template: its state is not checked
        r.flags = kConnTemplate;
        r.state = static_cast<uint16_t>(rng() % 20);
    }
    randomize(rng, r.client_ip);
    randomize(rng, r.vip);
    randomize(rng, r.real_ip);
    r.client_port = static_cast<uint16_t>(u32(rng));
    r.vport = static_cast<uint16_t>(u32(rng));
    r.real_port = static_cast<uint16_t>(u32(rng));
    r.fwmark = rng() % 4 == 0 ? u32(rng) : 0;
    r.timeout_s = u32(rng);
    if (rng() % 3 == 0) {
        r.flags |= rng() % 2 ? kConnOutSeq : kConnSeqMask;
        r.seq = SeqOptions{{u32(rng), u32(rng), u32(rng)}, {u32(rng), u32(rng), u32(rng)}};
    }
    return r;
}

// A connection from 198.51.100.`client` to 203.0.113.5:80, given to 10.0.0.3:8080.
Record plain(uint8_t protocol, uint16_t state, uint8_t client) {
    Record r;
    r.protocol = protocol;
    r.state = state;
    r.client_ip = ip_raw("198.51.100." + std::to_string(client));
    r.vip = ip_raw("203.0.113.5");
    r.real_ip = ip_raw("10.0.0.3");
    r.client_port = port_raw(static_cast<uint16_t>(40000 + client));
    r.vport = port_raw(80);
    r.real_port = port_raw(8080);
    r.timeout_s = 60;
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: sync_vectors DIR\n";
        return 2;
    }
    Out out(argv[1]);
    bool ok = true;
    std::mt19937 rng(77);

    // Messages from MessageWriter: random records, some messages filled to the maximum size.
    for (int i = 0; i < 60; ++i) {
        const auto syncid = static_cast<uint8_t>(rng());
        MessageWriter w(i % 3 == 0 ? kDefaultMaxMessageSize : 64 + rng() % 1500);
        w.begin(syncid);
        Expected e;
        e.want_syncid = i % 2 ? syncid : 0;
        e.syncid = syncid;
        const size_t want = i % 5 == 0 ? 1000 : 1 + rng() % 8;
        while (e.records.size() < want) {
            const AnyRecord r = rng() % 3 == 0 ? AnyRecord{random_record<vsnat::Ipv6>(rng)}
                                               : AnyRecord{random_record<uint32_t>(rng)};
            if (!w.add(r)) {
                break;
            }
            e.records.push_back(r);
        }
        ok &= out.write(want == 1000 ? "writer_full" : "writer", bytes_of(w.finish()), e);
    }

    // Records a receiver drops one by one, among ones it keeps.
    {
        const Record a = plain(6, 1, 1);
        Record b = plain(17, 0, 2);
        Record c = plain(6, 10, 3);
        c.flags = kConnOutSeq;
        c.seq = SeqOptions{{}, {1000, 4, 0}};
        Record tpl = plain(17, 7, 4);
        tpl.flags = kConnTemplate;
        const Record sctp = plain(132, 1, 5);
        const Record tcp_bad = plain(6, kIpvsTcpStateCount, 6);
        const Record udp_bad = plain(17, 1, 7);
        const Record mandatory = plain(6, 1, 8);
        Record6 v6_udp = build::v6_connection(17, 9);
        v6_udp.seq = SeqOptions{{7, 7, 7}, {7, 7, 7}};

        Bytes pe = build::option(kOptPeData, {'c', 'a', 'l', 'l', '-', '1'});
        const Bytes pe_name = build::option(kOptPeName, {'s', 'i', 'p'});
        pe.insert(pe.end(), pe_name.begin(), pe_name.end());
        Expected e;
        e.syncid = 3;
        e.records = {a, build::v6_connection(6), b, tpl, v6_udp, c};
        e.protocol = 1;
        e.state = 2;
        e.option = 1;
        const Bytes msg = build::message(
            3,
            {build::v4_record(a), build::v6_record(6), build::v4_record(b, pe),
             build::v4_record(sctp), build::v4_record(tcp_bad), build::v4_record(udp_bad),
             build::v4_record(mandatory, build::option(9, {1})), build::v4_record(tpl),
             build::record(v6_udp), build::v4_record(c, build::option(kOptOptional | 9, {1, 2}))});
        ok &= out.write("skipped", msg, e);
    }

    // One message per error, the records before the fault kept.
    const Record first = plain(6, 1, 10);
    const Record second = plain(17, 0, 11);
    const Bytes good = build::message(9, {build::v4_record(first), build::v4_record(second)});
    const auto fault = [&](const std::string& error, const Bytes& msg, uint8_t syncid,
                           std::vector<Record> records, uint8_t want = 0) {
        Expected e;
        e.want_syncid = want;
        e.syncid = syncid;
        e.error = error;
        e.records.assign(records.begin(), records.end());
        ok &= out.write(error, msg, e);
    };
    fault("too_short", Bytes(good.begin(), good.begin() + 3), 0, {});
    {
        Bytes b(good.begin(), good.begin() + 6);
        build::fix_size(b);
        fault("too_short", b, 9, {});
    }
    fault("bad_size", Bytes(good.begin(), good.end() - 4), 0, {});
    fault("foreign_syncid", good, 9, {}, 10);
    {
        Bytes b = {2, 9, 0, 4 + 24 * 2};  // ip_vs_sync_mesg_v0, two ip_vs_sync_conn_v0
        b.resize(4 + 24 * 2, 0);
        b[5] = b[29] = 6;
        fault("version0", b, 9, {});
    }
    {
        Bytes b = good;
        b[5] = 2;
        fault("bad_version", b, 9, {});
    }
    {
        Bytes b = good;
        b[4] = 3;
        fault("truncated", b, 9, {first, second});
    }
    {
        Bytes b = build::message(
            9, {build::v4_record(first), build::v4_record(second), build::v4_record(first)});
        b[kHeaderLen + kRecordV4Len + 3] = 30;  // the second record: 30 bytes, fewer than 36
        fault("bad_record", b, 9, {first});
    }
    {
        Bytes b = good;
        b[kHeaderLen + kRecordV4Len + 2] = 0x30;  // the second record: version 3
        fault("bad_record_version", b, 9, {first});
    }
    {
        Bytes b = good;
        b[kHeaderLen + kRecordV4Len + 3] = kRecordV4Len + 1;  // the second record: past the end
        fault("bad_record", b, 9, {first});
        b = good;
        b[kHeaderLen + kRecordV4Len] = 2;  // the second record: type neither IPv4 nor IPv6
        fault("bad_record", b, 9, {first});
    }
    const auto bad_option = [&](const Bytes& options) {
        fault("bad_option",
              build::message(9, {build::v4_record(first), build::v4_record(second, options)}), 9,
              {first});
    };
    bad_option(build::option(kOptSeqData, Bytes(23, 0)));
    bad_option({kOptPeData, 0});                            // length 0
    bad_option({kOptPeData, 4, 1, 2, 3});                   // past the record's end
    bad_option({kOptOptional | 9});                         // no room for the length
    bad_option(build::option(kOptPeName, Bytes(17, 'x')));  // longer than IP_VS_PENAME_MAXLEN

    std::cerr << "sync_vectors: " << out.count() << " datagrams in " << argv[1] << "\n";
    return ok ? 0 : 1;
}
