#include "dp/sync_wire.hpp"

#include <algorithm>
#include <cstring>

#include "dp/bytes.hpp"

namespace vsnat::dp::sync {
namespace {

// struct ip_vs_sync_mesg.
constexpr size_t kMsgReserved = 0, kMsgSyncid = 1, kMsgSize = 2, kMsgNrConns = 4, kMsgVersion = 5,
                 kMsgSpare = 6;
// struct ip_vs_sync_v4; struct ip_vs_sync_v6 is the same up to the addresses.
constexpr size_t kRecType = 0, kRecProtocol = 1, kRecVerSize = 2, kRecFlags = 4, kRecState = 8,
                 kRecCport = 10, kRecVport = 12, kRecDport = 14, kRecFwmark = 16, kRecTimeout = 20,
                 kRecAddresses = 24;  // caddr, vaddr, daddr: 4 bytes each, or 16 (IPv6)
constexpr size_t kSeqInfoLen = 12;    // struct ip_vs_seq

// Zero bytes before a record at `offset`, so that it starts on a 4-byte boundary: the kernel's
// (4 - (size_t)buff->head) & 3, its buffer being allocated aligned.
size_t padding_before(size_t offset) {
    return (4 - offset) & 3;
}

void store_seq(uint8_t* p, const SeqInfo& s) {
    store_be32(p, s.init_seq);
    store_be32(p + 4, s.delta);
    store_be32(p + 8, s.previous_delta);
}

SeqInfo load_seq(const uint8_t* p) {
    return {load_be32(p), load_be32(p + 4), load_be32(p + 8)};
}

void store_address(uint8_t* p, uint32_t a) {
    store_u32_raw(p, a);
}

void store_address(uint8_t* p, const Ipv6& a) {
    std::memcpy(p, a.data(), a.size());
}

void load_address(const uint8_t* p, uint32_t& a) {
    a = load_u32_raw(p);
}

void load_address(const uint8_t* p, Ipv6& a) {
    std::memcpy(a.data(), p, a.size());
}

// The fixed part of a record, whose type says its family, and whose options were read.
template <class Address>
BasicRecord<Address> fixed_part(const uint8_t* rec, const std::optional<SeqOptions>& seq) {
    BasicRecord<Address> r;
    r.protocol = rec[kRecProtocol];
    r.flags = load_be32(rec + kRecFlags);
    r.state = load_be16(rec + kRecState);
    r.client_port = load_u16_raw(rec + kRecCport);
    r.vport = load_u16_raw(rec + kRecVport);
    r.real_port = load_u16_raw(rec + kRecDport);
    r.fwmark = load_be32(rec + kRecFwmark);
    r.timeout_s = load_be32(rec + kRecTimeout);
    constexpr size_t width = sizeof(Address);
    load_address(rec + kRecAddresses, r.client_ip);
    load_address(rec + kRecAddresses + width, r.vip);
    load_address(rec + kRecAddresses + 2 * width, r.real_ip);
    r.seq = seq;
    return r;
}

// Keeps `r` in `records` unless the kernel would drop it alone (counted).
template <class Address>
void keep(const BasicRecord<Address>& r, std::vector<BasicRecord<Address>>& records, Decoded& out) {
    if (r.protocol != ipv4::kProtoTcp && r.protocol != ipv4::kProtoUdp) {
        ++out.skipped_protocol;
        return;
    }
    // A template's state is not a connection's; the kernel reads it as 0 whatever it is.
    if (!(r.flags & kConnTemplate) && !conn_state_of(r.protocol, r.state)) {
        ++out.skipped_state;
        return;
    }
    records.push_back(r);
}

// One record of `size` bytes (within the message) at `rec`, as ip_vs_proc_sync_conn reads it:
// an error drops the rest of the message; a record the kernel would drop alone is counted.
DecodeError read_record(const uint8_t* rec, size_t size, Decoded& out) {
    const uint8_t type = rec[kRecType];
    size_t fixed = 0;
    if (type & kTypeInet6) {
        fixed = kRecordV6Len;
    } else if (type == 0) {
        fixed = kRecordV4Len;
    } else {
        return DecodeError::bad_record;
    }
    if (size < fixed) {
        return DecodeError::bad_record;
    }

    std::optional<SeqOptions> seq;
    bool pe_data = false;
    bool pe_name = false;
    size_t at = fixed;
    while (at < size) {
        if (size - at < 2) {
            return DecodeError::bad_option;
        }
        const uint8_t opt_type = rec[at];
        const size_t opt_len = rec[at + 1];
        at += 2;
        if (opt_len == 0 || opt_len > size - at) {
            return DecodeError::bad_option;
        }
        switch (static_cast<uint8_t>(opt_type & ~kOptOptional)) {
            case kOptSeqData:
                if (opt_len != kSeqDataLen || seq) {
                    return DecodeError::bad_option;
                }
                seq = SeqOptions{load_seq(rec + at), load_seq(rec + at + kSeqInfoLen)};
                break;
            case kOptPeData:  // at most 255 bytes (IP_VS_PEDATA_MAXLEN): any length byte
                if (pe_data) {
                    return DecodeError::bad_option;
                }
                pe_data = true;
                break;
            case kOptPeName:
                if (opt_len > kPeNameMaxLen || pe_name) {
                    return DecodeError::bad_option;
                }
                pe_name = true;
                break;
            default:
                if (!(opt_type & kOptOptional)) {
                    ++out.skipped_option;  // the kernel drops the record, reads on
                    return DecodeError::none;
                }
                break;
        }
        at += opt_len;
    }

    if (type & kTypeInet6) {
        keep(fixed_part<Ipv6>(rec, seq), out.records6, out);
    } else {
        keep(fixed_part<uint32_t>(rec, seq), out.records, out);
    }
    return DecodeError::none;
}

}  // namespace

uint16_t ipvs_state_of(ConnState s) {
    const auto n = static_cast<uint16_t>(s);
    return n < kIpvsTcpStateCount ? n : kIpvsUdpStateNormal;
}

std::optional<ConnState> conn_state_of(uint8_t protocol, uint16_t ipvs_state) {
    if (protocol == ipv4::kProtoTcp && ipvs_state < kIpvsTcpStateCount) {
        return static_cast<ConnState>(ipvs_state);
    }
    if (protocol == ipv4::kProtoUdp && ipvs_state < kIpvsUdpStateCount) {
        return ConnState::udp;
    }
    return std::nullopt;
}

MessageWriter::MessageWriter(size_t max_size)
    : buf_(std::clamp(max_size, kHeaderLen, kMaxMessageSize)) {
    begin(0);
}

void MessageWriter::begin(uint8_t syncid) {
    // ip_vs_sync_buff_create.
    std::memset(buf_.data(), 0, kHeaderLen);
    buf_[kMsgReserved] = 0;
    buf_[kMsgSyncid] = syncid;
    buf_[kMsgNrConns] = 0;
    buf_[kMsgVersion] = static_cast<uint8_t>(kProtocolVersion);
    store_be16(buf_.data() + kMsgSpare, 0);
    size_ = kHeaderLen;
    store_be16(buf_.data() + kMsgSize, static_cast<uint16_t>(size_));
}

template <class Address>
bool MessageWriter::add(const BasicRecord<Address>& r) {
    // ip_vs_sync_conn, for a connection without persistence-engine data.
    const size_t len = record_size(r);
    const size_t pad = padding_before(size_);
    if (count() >= kMaxRecords || size_ + pad + len > buf_.size()) {
        return false;
    }
    uint8_t* p = buf_.data() + size_;
    std::memset(p, 0, pad + len);
    p += pad;
    p[kRecType] = BasicRecord<Address>::kInet6 ? kTypeInet6 : 0;
    p[kRecProtocol] = r.protocol;
    store_be16(p + kRecVerSize, static_cast<uint16_t>(len & kRecordSizeMask));  // version 0
    store_be32(p + kRecFlags, r.flags);
    store_be16(p + kRecState, r.state);
    store_u16_raw(p + kRecCport, r.client_port);
    store_u16_raw(p + kRecVport, r.vport);
    store_u16_raw(p + kRecDport, r.real_port);
    store_be32(p + kRecFwmark, r.fwmark);
    store_be32(p + kRecTimeout, r.timeout_s);
    constexpr size_t width = sizeof(Address);
    store_address(p + kRecAddresses, r.client_ip);
    store_address(p + kRecAddresses + width, r.vip);
    store_address(p + kRecAddresses + 2 * width, r.real_ip);
    if (r.seq) {
        uint8_t* opt = p + kRecAddresses + 3 * width;
        opt[0] = kOptSeqData;
        opt[1] = static_cast<uint8_t>(kSeqDataLen);
        store_seq(opt + 2, r.seq->in_seq);
        store_seq(opt + 2 + kSeqInfoLen, r.seq->out_seq);
    }
    size_ += pad + len;
    ++buf_[kMsgNrConns];
    store_be16(buf_.data() + kMsgSize, static_cast<uint16_t>(size_));
    return true;
}

template bool MessageWriter::add(const Record&);
template bool MessageWriter::add(const Record6&);

std::string_view decode_error_name(DecodeError e) {
    constexpr std::array<std::string_view, kDecodeErrorCount> names = {
#define VSNAT_NAME(name) #name,
        VSNAT_SYNC_DECODE_ERRORS(VSNAT_NAME)
#undef VSNAT_NAME
    };
    const auto i = static_cast<size_t>(e);
    return i < names.size() ? names[i] : "unknown";
}

DecodeError decode(std::span<const uint8_t> datagram, uint8_t want_syncid, Decoded& out) {
    out.syncid = 0;
    out.records.clear();
    out.records6.clear();
    out.skipped_protocol = out.skipped_state = out.skipped_option = 0;

    // ip_vs_process_message: the checks common to both versions first.
    const uint8_t* const buf = datagram.data();
    const size_t len = datagram.size();
    if (len < kHeaderV0Len) {
        return DecodeError::too_short;
    }
    if (load_be16(buf + kMsgSize) != len) {
        return DecodeError::bad_size;
    }
    out.syncid = buf[kMsgSyncid];
    if (want_syncid != 0 && out.syncid != want_syncid) {
        return DecodeError::foreign_syncid;
    }
    // The kernel takes anything that is not version 1 for version 0. A first byte of 0 with
    // another version is neither: a version 0 message of no connections is 4 bytes, which a
    // kernel master never sends.
    if (buf[kMsgReserved] != 0) {
        return DecodeError::version0;
    }
    if (len < kHeaderLen) {
        return DecodeError::too_short;
    }
    if (static_cast<int8_t>(buf[kMsgVersion]) != kProtocolVersion ||
        load_u16_raw(buf + kMsgSpare) != 0) {
        return DecodeError::bad_version;
    }

    size_t offset = kHeaderLen;
    const unsigned nr_conns = buf[kMsgNrConns];
    for (unsigned i = 0; i < nr_conns; ++i) {
        // After the previous record's padding `offset` may be up to 3 bytes past the end.
        if (offset > len || len - offset < kRecordV4Len) {
            return DecodeError::truncated;
        }
        const uint8_t* rec = buf + offset;
        const uint16_t ver_size = load_be16(rec + kRecVerSize);
        const size_t size = ver_size & kRecordSizeMask;
        if (size > len - offset) {
            return DecodeError::bad_record;
        }
        if (ver_size >> kRecordVersionShift) {
            return DecodeError::bad_record_version;
        }
        const DecodeError e = read_record(rec, size, out);
        if (e != DecodeError::none) {
            return e;
        }
        offset += size + padding_before(size);
    }
    return DecodeError::none;
}

}  // namespace vsnat::dp::sync
