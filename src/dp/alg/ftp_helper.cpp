#include "dp/alg/ftp_helper.hpp"

#include <rte_mbuf.h>

#include <cstring>
#include <optional>
#include <type_traits>

#include "dp/alg/ftp.hpp"
#include "dp/bytes.hpp"
#include "dp/checksum.hpp"
#include "dp/conn_sync.hpp"
#include "dp/pipeline.hpp"

namespace vsnat::dp {
namespace {

uint16_t minus_one(uint16_t port_raw) {
    return __builtin_bswap16(static_cast<uint16_t>(__builtin_bswap16(port_raw) - 1));
}

uint64_t tcp_sum(const uint8_t* ip, const uint8_t* tcp, uint16_t tcp_length) {
    const uint64_t pseudo = csum_pseudo_header(
        load_u32_raw(ip + ipv4::kSrc), load_u32_raw(ip + ipv4::kDst), ipv4::kProtoTcp, tcp_length);
    return csum_partial(tcp, tcp_length, pseudo);
}

bool tcp_checksum_ok(const rte_mbuf* m, const uint8_t* ip, const uint8_t* tcp,
                     uint16_t tcp_length) {
    switch (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
        case RTE_MBUF_F_RX_L4_CKSUM_GOOD:
            return true;
        case RTE_MBUF_F_RX_L4_CKSUM_BAD:
            return false;
        default:
            return csum_fold(tcp_sum(ip, tcp, tcp_length)) == 0xffff;
    }
}

// The expectation table of `Record`'s family, and the address type its records use.
template <class Record>
auto* expectations_of(WorkerContext& ctx) {
    if constexpr (std::is_same_v<Record, Conn>) {
        return ctx.expectations;
    } else {
        return ctx.expectations6;
    }
}
template <class Record>
using AddressOf = decltype(Record::client_ip);

// Records the data connection `e` for control connection `control`, replacing its oldest
// pending one when it has kMaxPending already.
template <class Address>
void expect(WorkerContext& ctx, BasicExpectationTable<Address>& table, FtpControl& control,
            const BasicExpectation<Address>& e, uint32_t now_ms) {
    ExpectationTicket& ticket = control.pending[control.next_pending];
    table.revoke(ticket);
    ticket = table.add(e, now_ms);
    if (ticket.slot == ExpectationTicket::kNoSlot) {
        ++ctx.counters.ftp_expectations_full;
        return;
    }
    control.next_pending =
        static_cast<uint8_t>((control.next_pending + 1) % FtpControl::kMaxPending);
    ++ctx.counters.ftp_expectations;
}

template <class Record>
BasicExpectation<AddressOf<Record>> data_connection_of(const Record& c, uint32_t now_ms) {
    BasicExpectation<AddressOf<Record>> e;
    e.client_ip = c.client_ip;
    e.vip = c.vip;
    e.rip = c.rip;
    e.dest_id = c.dest_id;
    e.expires_ms = now_ms + kFtpExpectationTimeoutMs;
    return e;
}

// Whether the address a line carries is `address`: of its family, and equal.
bool names(const ftp::Scan& found, uint32_t address) {
    return !found.ipv6 && found.address == address;
}
bool names(const ftp::Scan& found, const Ipv6& address) {
    return found.ipv6 && found.address6 == address;
}

// Replaces `old_length` payload bytes at `offset` (from the frame's start) with `text`, moving
// what follows, and sets the IPv4 total length (header checksum fixed). Trailing Ethernet
// padding is dropped. Returns false, changing nothing, when the buffer cannot grow that much.
bool replace_text(rte_mbuf* m, ParsedFrame& parsed, size_t offset, size_t old_length,
                  const char* text, size_t new_length) {
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    const size_t room = rte_pktmbuf_tailroom(m) + (rte_pktmbuf_data_len(m) - parsed.ip_end);
    if (new_length > old_length && new_length - old_length > room) {
        return false;
    }
    const size_t tail = parsed.ip_end - (offset + old_length);
    std::memmove(frame + offset + new_length, frame + offset + old_length, tail);
    std::memcpy(frame + offset, text, new_length);
    parsed.ip_end = static_cast<uint16_t>(offset + new_length + tail);
    parsed.l4_length = static_cast<uint16_t>(parsed.ip_end - parsed.l4_offset);
    m->data_len = parsed.ip_end;
    m->pkt_len = parsed.ip_end;

    uint8_t* ip = frame + parsed.l3_offset;
    const uint16_t old_total = load_u16_raw(ip + ipv4::kTotalLength);
    const auto new_total =
        __builtin_bswap16(static_cast<uint16_t>(parsed.ip_end - parsed.l3_offset));
    store_u16_raw(ip + ipv4::kTotalLength, new_total);
    store_u16_raw(ip + ipv4::kChecksum,
                  csum_replace2(load_u16_raw(ip + ipv4::kChecksum), old_total, new_total));
    return true;
}

// What act_on() did to a segment's payload.
struct Rewrite {
    bool changed = false;
    int32_t grown = 0;  // bytes; negative: shrank
};

// A 227 reply naming the real server of IPv4 control connection `c`: the data connection is
// recorded and the reply rewritten to name the VIP. Returns nullopt when the segment must be
// dropped.
std::optional<Rewrite> rewrite_passive(WorkerContext& ctx, rte_mbuf* m, ParsedFrame& parsed,
                                       FtpControl& control, const Conn& c, const ftp::Scan& found,
                                       uint32_t now_ms) {
    const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    WorkerCounters& counters = ctx.counters;
    const uint8_t* ip = frame + parsed.l3_offset;
    if (!tcp_checksum_ok(m, ip, frame + parsed.l4_offset, parsed.l4_length)) {
        counters.drop(DropReason::bad_l4_checksum);
        rte_pktmbuf_free(m);
        return std::nullopt;
    }
    Expectation e = data_connection_of(c, now_ms);
    e.vport = e.rport = found.port;
    expect(ctx, *ctx.expectations, control, e, now_ms);
    char text[ftp::kMaxHostPortText];
    const size_t length = ftp::format_host_port(c.vip, found.port, text);
    if (!replace_text(m, parsed, parsed.payload_offset + found.text_offset, found.text_length, text,
                      length)) {
        ++counters.ftp_unrewritten;
        return Rewrite{};
    }
    ++counters.ftp_rewrites;
    return Rewrite{true, static_cast<int32_t>(length) - static_cast<int32_t>(found.text_length)};
}

// What the segment announces, acted on, for a control connection of either family. Returns
// nullopt when the segment must be dropped.
template <class Record>
std::optional<Rewrite> act_on(WorkerContext& ctx, rte_mbuf* m, ParsedFrame& parsed,
                              FtpControl& control, const Record& c, Direction direction,
                              uint32_t now_ms) {
    const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    const ftp::Scan found =
        ftp::scan(frame + parsed.payload_offset, parsed.ip_end - parsed.payload_offset, direction);
    WorkerCounters& counters = ctx.counters;
    auto e = data_connection_of(c, now_ms);
    switch (found.event) {
        case ftp::Event::none:
            return Rewrite{};
        case ftp::Event::split:
            ++counters.ftp_split_lines;
            return Rewrite{};
        case ftp::Event::malformed:
            ++counters.ftp_malformed_lines;
            return Rewrite{};
        case ftp::Event::extended_passive:
            e.vport = e.rport = found.port;
            expect(ctx, *expectations_of<Record>(ctx), control, e, now_ms);
            return Rewrite{};
        case ftp::Event::active:
        case ftp::Event::extended_active:
            if (!names(found, c.client_ip)) {  // no bounce (RFC 2577), nor the other family
                ++counters.ftp_foreign_addresses;
                return Rewrite{};
            }
            e.client_port = found.port;
            e.vport = minus_one(c.vport);
            e.opener = Direction::from_server;
            expect(ctx, *expectations_of<Record>(ctx), control, e, now_ms);
            return Rewrite{};
        case ftp::Event::passive:
            break;
    }
    // A 227 carries an IPv4 address: on an IPv6 control connection it never names the server.
    if constexpr (std::is_same_v<Record, Conn>) {
        if (names(found, c.rip)) {
            return rewrite_passive(ctx, m, parsed, control, c, found, now_ms);
        }
    }
    ++counters.ftp_foreign_addresses;
    return Rewrite{};
}

template <class Record>
void release(WorkerContext& ctx, const Record& c) {
    FtpControl& control = (*ctx.ftp_controls)[c.helper];
    for (const ExpectationTicket& t : control.pending) {
        expectations_of<Record>(ctx)->revoke(t);
    }
    ctx.ftp_controls->release(c.helper);
}

bool is_vip(const Snapshot& snap, uint32_t address) {
    return snap.is_vip(address);
}
bool is_vip(const Snapshot& snap, const Ipv6& address) {
    return snap.is_vip6(address);
}

template <class Record, class Key>
bool claim(WorkerContext& ctx, const Key& key, uint32_t now_ms, Record& out) {
    auto* expectations = expectations_of<Record>(ctx);
    if (expectations == nullptr || !expectations->any()) {
        return false;
    }
    const Direction opener =
        is_vip(*ctx.snapshot, key.dst_ip) ? Direction::from_client : Direction::from_server;
    BasicExpectation<AddressOf<Record>> e;
    if (!expectations->claim(opener, key.src_ip, key.dst_ip, key.dst_port, now_ms, e)) {
        return false;
    }
    out = Record{};
    out.client_ip = e.client_ip;
    out.vip = e.vip;
    out.rip = e.rip;
    out.client_port = opener == Direction::from_client ? key.src_port : e.client_port;
    out.vport = e.vport;
    out.rport = opener == Direction::from_server ? key.src_port : e.rport;
    out.protocol = ipv4::kProtoTcp;
    out.state = ConnState::none;
    out.dest_id = e.dest_id;
    out.persistence_slot = PersistenceTable::kNoSlot;
    return true;
}

}  // namespace

bool ftp_process(WorkerContext& ctx, rte_mbuf* m, ParsedFrame& parsed, Conn& c, Direction direction,
                 uint32_t now_ms) {
    FtpControl& control = (*ctx.ftp_controls)[c.helper];
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    const uint32_t original_seq = load_be32(frame + parsed.l4_offset + l4::kTcpSeq);
    Rewrite rewrite;
    if (parsed.ip_end > parsed.payload_offset) {
        const std::optional<Rewrite> done = act_on(ctx, m, parsed, control, c, direction, now_ms);
        if (!done) {
            return false;
        }
        rewrite = *done;
    }
    const auto sender = static_cast<size_t>(direction);
    const SeqShift& own = control.shift[sender];
    const SeqShift& peer = control.shift[1 - sender];
    uint8_t* tcp = frame + parsed.l4_offset;
    const uint32_t old_seq = load_u32_raw(tcp + l4::kTcpSeq);
    const uint32_t old_ack = load_u32_raw(tcp + l4::kTcpAck);
    store_be32(tcp + l4::kTcpSeq, own.seq(original_seq));
    if (parsed.tcp_flags & l4::kTcpAckFlag) {
        store_be32(tcp + l4::kTcpAck, peer.ack(load_be32(tcp + l4::kTcpAck)));
    }
    if (rewrite.grown != 0) {
        control.shift[sender].record(original_seq, rewrite.grown);
        if (ctx.sync != nullptr) {
            sync_connection(ctx, c);  // the peer needs the new shift before the next segment
        }
    }
    uint8_t* check = tcp + l4::kTcpChecksum;
    if (rewrite.changed) {
        // The payload changed: its checksum is computed afresh (the one case where vsnat does).
        store_u16_raw(check, 0);
        const uint8_t* ip = frame + parsed.l3_offset;
        store_u16_raw(check, static_cast<uint16_t>(~csum_fold(tcp_sum(ip, tcp, parsed.l4_length))));
        return true;
    }
    uint16_t sum = load_u16_raw(check);
    sum = csum_replace4(sum, old_seq, load_u32_raw(tcp + l4::kTcpSeq));
    sum = csum_replace4(sum, old_ack, load_u32_raw(tcp + l4::kTcpAck));
    store_u16_raw(check, sum);
    return true;
}

// IPv6's has nothing to rewrite (no 227), so no sequence numbers to shift either.
bool ftp_process(WorkerContext& ctx, rte_mbuf* m, ParsedFrame& parsed, Conn6& c,
                 Direction direction, uint32_t now_ms) {
    if (parsed.ip_end == parsed.payload_offset) {
        return true;
    }
    FtpControl& control = (*ctx.ftp_controls)[c.helper];
    return act_on(ctx, m, parsed, control, c, direction, now_ms).has_value();
}

template <class Record>
uint16_t ftp_acquire(WorkerContext& ctx) {
    return ctx.ftp_controls != nullptr && expectations_of<Record>(ctx) != nullptr
               ? ctx.ftp_controls->acquire()
               : FtpControlPool::kNone;
}
template uint16_t ftp_acquire<Conn>(WorkerContext& ctx);
template uint16_t ftp_acquire<Conn6>(WorkerContext& ctx);

void ftp_release(WorkerContext& ctx, const Conn& c) {
    release(ctx, c);
}

void ftp_release(WorkerContext& ctx, const Conn6& c) {
    release(ctx, c);
}

bool ftp_claim_data_connection(WorkerContext& ctx, const FlowKey& key, uint32_t now_ms, Conn& out) {
    return claim(ctx, key, now_ms, out);
}

bool ftp_claim_data_connection(WorkerContext& ctx, const FlowKey6& key, uint32_t now_ms,
                               Conn6& out) {
    return claim(ctx, key, now_ms, out);
}

}  // namespace vsnat::dp
