// Connection sync between directors, on the wire: version 1 of the IPVS sync protocol, byte for
// byte as Linux writes it (ip_vs_sync_conn in net/netfilter/ipvs/ip_vs_sync.c) and read with the
// checks Linux makes (ip_vs_process_message, ip_vs_proc_sync_conn), so that a vsnat director and
// a kernel IPVS director can back each other up. Pure: bytes in, bytes out, no sockets.
//
// A message is one UDP datagram (Linux sends them to 224.0.0.81:8848):
//
//   struct ip_vs_sync_mesg, 8 bytes      reserved u8 = 0, syncid u8, size be16 (the whole
//                                        message), nr_conns u8, version s8 = 1, spare be16 = 0
//   nr_conns records, each one starting on a 4-byte boundary of the message (zero padding
//   before it; none after the last):
//     struct ip_vs_sync_v4, 36 bytes     type u8 = 0, protocol u8, ver_size be16 (record
//                                        version 0 in the top 4 bits, the record's length with
//                                        its options, padding excluded, in the low 12),
//                                        flags be32, state be16, cport be16, vport be16,
//                                        dport be16, fwmark be32, timeout be32 (seconds),
//                                        caddr, vaddr, daddr (4 bytes each)
//     or struct ip_vs_sync_v6, 72 bytes  the same with type bit 0 set (STYPE_F_INET6) and
//                                        16-byte addresses
//     options, each: type u8, length u8 (of the data), data. IPVS_OPT_SEQ_DATA (1) carries
//     struct ip_vs_sync_conn_options: in_seq then out_seq, each struct ip_vs_seq {init_seq,
//     delta, previous_delta} as be32. IPVS_OPT_PE_DATA (2) and IPVS_OPT_PE_NAME (3) carry a
//     persistence engine's data and name (SIP); vsnat reads past them and never writes them.
//
// Version 0, the original format (still sent by a kernel set to net.ipv4.vs.sync_version = 0),
// has a 4-byte header whose first byte is the connection count, which is why version 1 starts
// with a zero byte: a version 0 receiver reads it as a message of no connections. vsnat speaks
// version 1 only, and tells a version 0 message apart rather than misreading it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "dp/tcp_state.hpp"
#include "vsnat/types.hpp"

namespace vsnat::dp::sync {

constexpr size_t kHeaderLen = 8;        // struct ip_vs_sync_mesg
constexpr size_t kHeaderV0Len = 4;      // struct ip_vs_sync_mesg_v0: nr_conns, syncid, size
constexpr int8_t kProtocolVersion = 1;  // SYNC_PROTO_VER
constexpr size_t kRecordV4Len = 36;     // sizeof(struct ip_vs_sync_v4)
constexpr size_t kRecordV6Len = 72;     // sizeof(struct ip_vs_sync_v6)
static_assert(kRecordV6Len == kRecordV4Len - 3 * 4 + 3 * 16, "three 16-byte addresses");
constexpr uint8_t kTypeInet6 = 0x01;          // STYPE_F_INET6, in a record's type
constexpr unsigned kRecordVersionShift = 12;  // SVER_SHIFT
constexpr uint16_t kRecordSizeMask = 0x0fff;  // SVER_MASK

constexpr uint8_t kOptSeqData = 1;  // IPVS_OPT_SEQ_DATA
constexpr uint8_t kOptPeData = 2;   // IPVS_OPT_PE_DATA
constexpr uint8_t kOptPeName = 3;   // IPVS_OPT_PE_NAME
/// IPVS_OPT_F_PARAM: an option type with this bit set may be skipped by a receiver that does
/// not know it; an unknown one without it makes the receiver drop the record.
constexpr uint8_t kOptOptional = 0x40;
constexpr size_t kSeqDataLen = 24;    // sizeof(struct ip_vs_sync_conn_options)
constexpr size_t kPeNameMaxLen = 16;  // IP_VS_PENAME_MAXLEN
/// The sequence option as a record carries it, with its type and length bytes.
constexpr size_t kSeqOptionLen = 2 + kSeqDataLen;

/// nr_conns is 8 bits (MAX_CONNS_PER_SYNCBUFF).
constexpr size_t kMaxRecords = 255;
/// The size field is 16 bits.
constexpr size_t kMaxMessageSize = 65535;
/// A 1500-byte MTU less the IPv4 and UDP headers: the largest message a kernel backup on such a
/// link takes (its receive buffer is the MTU less 28). A kernel master by default stops at
/// 1444 there (set_sync_mesg_maxlen sizes for version 0 records), so its messages fit too.
constexpr size_t kDefaultMaxMessageSize = 1500 - 20 - 8;

// IPVS's connection flags (include/uapi/linux/ip_vs.h), as a record's `flags` carries them: the
// forwarding method in the low 3 bits (vsnat's is masquerading, 0), then state bits.
constexpr uint32_t kConnFwdMask = 0x0007;    // IP_VS_CONN_F_FWD_MASK
constexpr uint32_t kConnMasq = 0x0000;       // IP_VS_CONN_F_MASQ: NAT
constexpr uint32_t kConnLocalNode = 0x0001;  // IP_VS_CONN_F_LOCALNODE
constexpr uint32_t kConnTunnel = 0x0002;     // IP_VS_CONN_F_TUNNEL
constexpr uint32_t kConnDroute = 0x0003;     // IP_VS_CONN_F_DROUTE
constexpr uint32_t kConnBypass = 0x0004;     // IP_VS_CONN_F_BYPASS
constexpr uint32_t kConnSync = 0x0020;       // IP_VS_CONN_F_SYNC: made from a sync message
constexpr uint32_t kConnHashed = 0x0040;     // IP_VS_CONN_F_HASHED: never sent
constexpr uint32_t kConnNoOutput = 0x0080;   // IP_VS_CONN_F_NOOUTPUT
constexpr uint32_t kConnInactive = 0x0100;   // IP_VS_CONN_F_INACTIVE: not ESTABLISHED
constexpr uint32_t kConnOutSeq = 0x0200;     // IP_VS_CONN_F_OUT_SEQ: replies' seq shifted
constexpr uint32_t kConnInSeq = 0x0400;      // IP_VS_CONN_F_IN_SEQ: client's seq shifted
constexpr uint32_t kConnSeqMask = 0x0600;    // IP_VS_CONN_F_SEQ_MASK
constexpr uint32_t kConnNoCport = 0x0800;    // IP_VS_CONN_F_NO_CPORT
constexpr uint32_t kConnTemplate = 0x1000;   // IP_VS_CONN_F_TEMPLATE: persistence template
constexpr uint32_t kConnOnePacket = 0x2000;  // IP_VS_CONN_F_ONE_PACKET: never synced
/// IP_VS_CONN_F_BACKUP_MASK: the flags a kernel backup keeps from a record.
constexpr uint32_t kConnBackupMask =
    kConnFwdMask | kConnNoOutput | kConnInactive | kConnSeqMask | kConnNoCport | kConnTemplate;

// IPVS's state numbers (include/net/ip_vs.h): enum ip_vs_tcp_states, IP_VS_TCP_S_NONE (0) to
// IP_VS_TCP_S_SYNACK (10), which ConnState repeats in the same order; UDP has one state,
// IP_VS_UDP_S_NORMAL (0). A kernel backup drops a record whose state is not below its
// protocol's count (ip_vs_proc_sync_conn, pp->num_states).
constexpr uint16_t kIpvsTcpStateCount = 11;  // IP_VS_TCP_S_LAST
constexpr uint16_t kIpvsUdpStateNormal = 0;  // IP_VS_UDP_S_NORMAL
constexpr uint16_t kIpvsUdpStateCount = 1;   // IP_VS_UDP_S_LAST
static_assert(static_cast<uint16_t>(ConnState::synack) == 10 &&
                  static_cast<uint16_t>(ConnState::udp) == kIpvsTcpStateCount,
              "ConnState's TCP states are IPVS's, in IPVS's order");

/// The state number IPVS gives `s`: a TCP state's own number; 0 (IP_VS_UDP_S_NORMAL) for the
/// three UDP states, which IPVS does not tell apart. Pure; any thread.
uint16_t ipvs_state_of(ConnState s);

/// The vsnat state of a connection of `protocol` (6 or 17) that IPVS numbers `ipvs_state`: TCP
/// states one for one, and UDP's one state as ConnState::udp (a connection answered both
/// ways: a synced UDP connection has had traffic, and a flood must not take its place). Empty
/// when the protocol is neither or the number is out of the protocol's range. Pure; any thread.
std::optional<ConnState> conn_state_of(uint8_t protocol, uint16_t ipvs_state);

/// struct ip_vs_seq: how far one direction's sequence numbers have moved (see SeqShift).
struct SeqInfo {
    uint32_t init_seq = 0;
    uint32_t delta = 0;
    uint32_t previous_delta = 0;
    bool operator==(const SeqInfo&) const = default;
};

/// struct ip_vs_sync_conn_options, the data of IPVS_OPT_SEQ_DATA: in_seq shifts the client's
/// sequence numbers (IP_VS_CONN_F_IN_SEQ), out_seq the real server's (IP_VS_CONN_F_OUT_SEQ).
struct SeqOptions {
    SeqInfo in_seq;
    SeqInfo out_seq;
    bool operator==(const SeqOptions&) const = default;
};

/// One connection (or persistence template, kConnTemplate) as a record carries it: an IPv4 one
/// (struct ip_vs_sync_v4, Record) or an IPv6 one (struct ip_vs_sync_v6, Record6). Addresses and
/// ports in network order, as vsnat keeps them (Conn, Conn6) and as the record has them.
template <class Address>
struct BasicRecord {
    static constexpr bool kInet6 = std::is_same_v<Address, Ipv6>;

    uint8_t protocol = 0;  // IPPROTO_TCP or IPPROTO_UDP once decoded
    uint32_t flags = 0;    // kConn* bits
    uint16_t state = 0;    // IPVS's number (ipvs_state_of, conn_state_of)
    Address client_ip{};
    Address vip{};
    Address real_ip{};
    uint16_t client_port = 0;
    uint16_t vport = 0;
    uint16_t real_port = 0;
    uint32_t fwmark = 0;
    /// The connection's timeout in its state (cp->timeout / HZ), not the time left: the backup
    /// restarts its timer with it. 0: the backup's own timeout for the state.
    uint32_t timeout_s = 0;
    /// IPVS_OPT_SEQ_DATA. A kernel master sends it exactly when flags has a kConnSeqMask bit;
    /// the writer sends it exactly when it is set, whatever the flags say.
    std::optional<SeqOptions> seq;
    bool operator==(const BasicRecord&) const = default;
};
using Record = BasicRecord<uint32_t>;
using Record6 = BasicRecord<Ipv6>;

/// A record of either family, as the workers and the sync thread pass them to each other.
using AnyRecord = std::variant<Record, Record6>;

/// Bytes `r` takes in a message, options included, padding not.
template <class Address>
constexpr size_t record_size(const BasicRecord<Address>& r) {
    return (BasicRecord<Address>::kInet6 ? kRecordV6Len : kRecordV4Len) +
           (r.seq ? kSeqOptionLen : 0);
}

/// Builds one message at a time in a buffer of its own, as ip_vs_sync_conn fills a sync
/// buffer: records are appended while they fit in the maximum size, and a full message is sent
/// and a new one begun. Not thread-safe; one per sending thread. Allocates only when made.
class MessageWriter {
  public:
    /// Messages of at most `max_size` bytes (clamped to kHeaderLen..kMaxMessageSize). Ready
    /// for records, with syncid 0.
    explicit MessageWriter(size_t max_size = kDefaultMaxMessageSize);

    /// Drops whatever was added and starts an empty message for `syncid`.
    void begin(uint8_t syncid);
    /// Appends `r` (its padding first) when it fits in the maximum size and the message has
    /// fewer than kMaxRecords; false, and the message unchanged, when not.
    template <class Address>
    bool add(const BasicRecord<Address>& r);
    bool add(const AnyRecord& r) {
        return std::visit([this](const auto& one) { return add(one); }, r);
    }
    /// The message so far, ready to send: valid until the next begin() or add().
    std::span<const uint8_t> finish() const { return {buf_.data(), size_}; }

    size_t size() const { return size_; }
    size_t count() const { return buf_[4]; }
    bool empty() const { return count() == 0; }
    size_t max_size() const { return buf_.size(); }

  private:
    std::vector<uint8_t> buf_;  // max_size bytes
    size_t size_ = 0;
};

/// Why a datagram, or the rest of it, was not read. One list, so the names can never fall out
/// of step with the values.
#define VSNAT_SYNC_DECODE_ERRORS(X)                                                                \
    X(none)                                                                                        \
    X(too_short)      /* shorter than a header: 4 bytes, or 8 for version 1's */                   \
    X(bad_size)       /* the size field is not the datagram's length */                            \
    X(foreign_syncid) /* another sync group's message */                                           \
    X(version0)       /* a version 0 message (its first byte, the count, is not 0) */              \
    X(bad_version)    /* first byte 0, but the version is not 1 or the spare bytes not 0 */        \
    X(truncated)      /* nr_conns says more records than the message holds */                      \
    X(bad_record)     /* a record's size below its fixed part or past the message; unknown type */ \
    X(bad_record_version) /* a record's version (ver_size's top 4 bits) is not 0 */                \
    X(bad_option)         /* an option cut short, of length 0 or wrong for its type, or twice */

enum class DecodeError : uint8_t {
#define VSNAT_ENUM_VALUE(name) name,
    VSNAT_SYNC_DECODE_ERRORS(VSNAT_ENUM_VALUE)
#undef VSNAT_ENUM_VALUE
        count_  // number of errors, not an error
};
constexpr size_t kDecodeErrorCount = static_cast<size_t>(DecodeError::count_);

std::string_view decode_error_name(DecodeError e);

/// What a datagram held. Records a kernel backup would drop one by one (the rest of the message
/// still read) are counted by reason instead of returned.
struct Decoded {
    uint8_t syncid = 0;
    // TCP or UDP, each with a state in its protocol's range; each family in the message's order.
    std::vector<Record> records;
    std::vector<Record6> records6;
    uint32_t skipped_protocol = 0;  // neither TCP nor UDP (SCTP, ...)
    uint32_t skipped_state = 0;     // a state number out of the protocol's range (not templates)
    uint32_t skipped_option = 0;    // an option the receiver must know and does not
    uint32_t skipped() const { return skipped_protocol + skipped_state + skipped_option; }
};

/// Reads the sync message `datagram` (one UDP payload), as a kernel backup of sync group
/// `want_syncid` would: 0 takes every group's messages, as the kernel's backup syncid 0 does.
/// Never reads outside `datagram`, whatever it holds. `out` is cleared first. On an error the
/// rest of the message from the bad record on is dropped, but `out` keeps what was read before
/// it: a kernel backup has applied those records by then (ip_vs_process_message), so a caller
/// doing as the kernel does uses them; one that wants all or nothing checks the result. Bytes
/// after the last record are not looked at, nor are padding bytes (the kernel does not either).
/// Pure; any thread.
DecodeError decode(std::span<const uint8_t> datagram, uint8_t want_syncid, Decoded& out);

}  // namespace vsnat::dp::sync
