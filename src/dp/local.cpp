#include "dp/local.hpp"

#include <algorithm>
#include <cstring>

#include "dp/bytes.hpp"
#include "dp/checksum.hpp"
#include "dp/local_common.hpp"
#include "dp/nat.hpp"

namespace vsnat::dp {
namespace {

constexpr uint8_t kIcmpEchoReply = 0, kIcmpUnreachable = 3, kIcmpSourceQuench = 4,
                  kIcmpEchoRequest = 8, kIcmpTimeExceeded = 11, kIcmpParameterProblem = 12;
constexpr size_t kMinFrame = 60;  // Ethernet minimum without FCS

bool is_all_zero(const uint8_t* data, size_t len) {
    return std::all_of(data, data + len, [](uint8_t b) { return b == 0; });
}

// Writes a fresh 20-byte IPv4 header with a full checksum (it is 20 bytes: cheap).
void write_ipv4_header(uint8_t* ip, uint16_t total_len, uint8_t protocol, uint32_t src,
                       uint32_t dst) {
    std::memset(ip, 0, ipv4::kMinHeaderLen);
    ip[ipv4::kVersionIhl] = 0x45;
    store_be16(ip + ipv4::kTotalLength, total_len);
    ip[ipv4::kTtl] = kDefaultTtl;
    ip[ipv4::kProtocol] = protocol;
    store_u32_raw(ip + ipv4::kSrc, src);
    store_u32_raw(ip + ipv4::kDst, dst);
    store_u16_raw(ip + ipv4::kChecksum, ipv4_header_checksum(ip, ipv4::kMinHeaderLen));
}

uint16_t icmp_checksum(const uint8_t* icmp, size_t len) {
    return static_cast<uint16_t>(~csum_fold(csum_partial(icmp, len)));
}

size_t padded(size_t len) {
    return std::max(len, kMinFrame);
}

}  // namespace

ArpInfo read_arp(const uint8_t* frame, const ParsedFrame& parsed) {
    const uint8_t* a = frame + parsed.l3_offset;
    ArpInfo info;
    info.operation = load_be16(a + arp::kOperation);
    info.sender_ip = load_u32_raw(a + arp::kSenderIp);
    std::memcpy(info.sender_mac.data(), a + arp::kSenderMac, 6);
    info.target_ip = load_u32_raw(a + arp::kTargetIp);
    return info;
}

void make_arp_reply(uint8_t* frame, const ParsedFrame& parsed, const MacAddress& our_mac) {
    uint8_t* a = frame + parsed.l3_offset;
    const uint32_t asked_ip = load_u32_raw(a + arp::kTargetIp);
    store_be16(a + arp::kOperation, 2);
    std::memcpy(a + arp::kTargetMac, a + arp::kSenderMac, 6);
    std::memcpy(a + arp::kTargetIp, a + arp::kSenderIp, 4);
    std::memcpy(a + arp::kSenderMac, our_mac.data(), 6);
    store_u32_raw(a + arp::kSenderIp, asked_ip);
    reply_l2(frame, our_mac);
}

size_t build_arp_request(uint8_t* frame, const MacAddress& our_mac, uint32_t our_ip,
                         uint32_t target_ip) {
    std::memset(frame, 0, kMinFrame);
    std::memset(frame + eth::kDst, 0xff, 6);
    std::memcpy(frame + eth::kSrc, our_mac.data(), 6);
    store_be16(frame + eth::kType, eth::kTypeArp);
    uint8_t* a = frame + eth::kHeaderLen;
    store_be16(a + arp::kHardwareType, 1);
    store_be16(a + arp::kProtocolType, eth::kTypeIpv4);
    a[arp::kHardwareLen] = 6;
    a[arp::kProtocolLen] = 4;
    store_be16(a + arp::kOperation, 1);
    std::memcpy(a + arp::kSenderMac, our_mac.data(), 6);
    store_u32_raw(a + arp::kSenderIp, our_ip);
    store_u32_raw(a + arp::kTargetIp, target_ip);
    return kMinFrame;
}

bool make_echo_reply(uint8_t* frame, const ParsedFrame& parsed, const MacAddress& our_mac) {
    uint8_t* ip = frame + parsed.l3_offset;
    uint8_t* icmp = frame + parsed.l4_offset;
    if (icmp[0] != kIcmpEchoRequest || icmp[1] != 0) {
        return false;
    }
    const uint16_t old_word = load_u16_raw(icmp);
    icmp[0] = kIcmpEchoReply;
    uint16_t check =
        csum_replace2(load_u16_raw(icmp + l4::kIcmpChecksum), old_word, load_u16_raw(icmp));
    // csum_replace2 answers 0 where a full computation answers 0xFFFF: over all-zero data. ICMP
    // has no pseudo-header, so an echo reply can be all zeros (identifier, sequence and payload
    // 0): then its checksum is 0xFFFF (RFC 1624 section 3). Scanned only in that rare case.
    if (check == 0 && is_all_zero(icmp, l4::kIcmpChecksum) &&
        is_all_zero(icmp + l4::kIcmpChecksum + 2, parsed.l4_length - l4::kIcmpChecksum - 2u)) {
        check = 0xffff;
    }
    store_u16_raw(icmp + l4::kIcmpChecksum, check);
    const uint32_t src = load_u32_raw(ip + ipv4::kSrc);
    const uint32_t dst = load_u32_raw(ip + ipv4::kDst);
    store_u32_raw(ip + ipv4::kSrc, dst);  // swapping leaves the header sum unchanged
    store_u32_raw(ip + ipv4::kDst, src);
    const uint16_t old_ttl_word = load_u16_raw(ip + ipv4::kTtl);
    ip[ipv4::kTtl] = kDefaultTtl;
    store_u16_raw(ip + ipv4::kChecksum, csum_replace2(load_u16_raw(ip + ipv4::kChecksum),
                                                      old_ttl_word, load_u16_raw(ip + ipv4::kTtl)));
    reply_l2(frame, our_mac);
    return true;
}

size_t make_tcp_reset(uint8_t* frame, const ParsedFrame& parsed, const MacAddress& our_mac) {
    uint8_t* ip = frame + parsed.l3_offset;
    const uint8_t* in_tcp = frame + parsed.l4_offset;
    const uint8_t flags = parsed.tcp_flags;
    if (flags & l4::kTcpRst) {
        return 0;
    }
    const uint32_t src = load_u32_raw(ip + ipv4::kSrc), dst = load_u32_raw(ip + ipv4::kDst);
    const uint16_t sport = load_u16_raw(in_tcp + l4::kSrcPort);
    const uint16_t dport = load_u16_raw(in_tcp + l4::kDstPort);
    const uint32_t seq = load_be32(in_tcp + l4::kTcpSeq), ack = load_be32(in_tcp + l4::kTcpAck);
    const uint32_t seg_len = static_cast<uint32_t>(parsed.ip_end - parsed.payload_offset) +
                             ((flags & l4::kTcpSyn) ? 1 : 0) + ((flags & l4::kTcpFin) ? 1 : 0);

    uint8_t* tcp = ip + ipv4::kMinHeaderLen;  // options of the received header are dropped
    write_ipv4_header(ip, 40, ipv4::kProtoTcp, dst, src);
    std::memset(tcp, 0, l4::kTcpMinHeaderLen);
    store_u16_raw(tcp + l4::kSrcPort, dport);
    store_u16_raw(tcp + l4::kDstPort, sport);
    if (flags & l4::kTcpAckFlag) {
        store_be32(tcp + l4::kTcpSeq, ack);
        tcp[l4::kTcpFlags] = l4::kTcpRst;
    } else {
        store_be32(tcp + l4::kTcpAck, seq + seg_len);
        tcp[l4::kTcpFlags] = l4::kTcpRst | l4::kTcpAckFlag;
    }
    tcp[l4::kTcpDataOffset] = 5 << 4;
    const uint64_t pseudo = csum_pseudo_header(dst, src, ipv4::kProtoTcp, 20);
    store_u16_raw(tcp + l4::kTcpChecksum,
                  static_cast<uint16_t>(~csum_fold(csum_partial(tcp, 20, pseudo))));
    reply_l2(frame, our_mac);
    const size_t len = parsed.l3_offset + 40u;
    std::memset(frame + len, 0, padded(len) - len);
    return padded(len);
}

size_t make_unreachable(uint8_t* frame, size_t capacity, const ParsedFrame& parsed,
                        const MacAddress& our_mac, uint32_t from_ip, UnreachableCode code,
                        uint16_t next_hop_mtu) {
    // RFC 792: the original IP header and the first 64 bits of its data.
    const size_t quoted_len = static_cast<size_t>(parsed.l4_offset - parsed.l3_offset) + 8;
    const size_t len = parsed.l3_offset + ipv4::kMinHeaderLen + l4::kIcmpHeaderLen + quoted_len;
    if (padded(len) > capacity) {
        return 0;
    }
    uint8_t quoted[60 + 8];
    std::memcpy(quoted, frame + parsed.l3_offset, quoted_len);
    const uint32_t client = load_u32_raw(quoted + ipv4::kSrc);

    uint8_t* ip = frame + parsed.l3_offset;
    uint8_t* icmp = ip + ipv4::kMinHeaderLen;
    const auto icmp_len = static_cast<uint16_t>(l4::kIcmpHeaderLen + quoted_len);
    write_ipv4_header(ip, static_cast<uint16_t>(ipv4::kMinHeaderLen + icmp_len), ipv4::kProtoIcmp,
                      from_ip, client);
    std::memset(icmp, 0, l4::kIcmpHeaderLen);
    icmp[0] = kIcmpUnreachable;
    icmp[1] = static_cast<uint8_t>(code);
    store_be16(icmp + 6, next_hop_mtu);  // RFC 1191: the MTU of the link that refused it
    std::memcpy(icmp + l4::kIcmpHeaderLen, quoted, quoted_len);
    store_u16_raw(icmp + l4::kIcmpChecksum, icmp_checksum(icmp, icmp_len));
    reply_l2(frame, our_mac);
    std::memset(frame + len, 0, padded(len) - len);
    return padded(len);
}

bool parse_icmp_error(const uint8_t* frame, const ParsedFrame& outer, IcmpError& out) {
    const uint8_t type = frame[outer.l4_offset];
    if (type != kIcmpUnreachable && type != kIcmpTimeExceeded && type != kIcmpParameterProblem &&
        type != kIcmpSourceQuench) {
        return false;
    }
    const size_t inner_l3 = outer.l4_offset + l4::kIcmpHeaderLen;
    out.inner = parse_ipv4(frame, outer.ip_end, inner_l3, true);
    const ParsedFrame& in = out.inner;
    if (in.kind != FrameKind::ipv4 || in.fragment ||
        (in.ip_protocol != ipv4::kProtoTcp && in.ip_protocol != ipv4::kProtoUdp)) {
        return false;
    }
    const uint8_t* ip = frame + in.l3_offset;
    const uint8_t* l4p = frame + in.l4_offset;
    out.reply_key = FlowKey{};
    out.reply_key.src_ip = load_u32_raw(ip + ipv4::kDst);
    out.reply_key.dst_ip = load_u32_raw(ip + ipv4::kSrc);
    out.reply_key.src_port = load_u16_raw(l4p + l4::kDstPort);
    out.reply_key.dst_port = load_u16_raw(l4p + l4::kSrcPort);
    out.reply_key.protocol = in.ip_protocol;
    return true;
}

uint32_t translate_icmp_error(uint8_t* frame, const ParsedFrame& outer, const IcmpError& error,
                              const Conn& conn, bool towards_client) {
    uint8_t* ip = frame + outer.l3_offset;
    uint8_t* inner_ip = frame + error.inner.l3_offset;
    uint8_t* inner_l4 = frame + error.inner.l4_offset;
    const uint8_t proto = error.inner.ip_protocol;
    // The quoted L4 checksum is only adjusted when the quote holds it (UDP always does).
    const size_t checksum_end = proto == ipv4::kProtoTcp ? l4::kTcpChecksum + 2u : 8u;
    const uint8_t l4_for_rewrite =
        error.inner.l4_length >= checksum_end ? proto : static_cast<uint8_t>(0);

    uint32_t outer_dst;
    if (towards_client) {
        // Quoted: client -> RIP:rport, as we sent it. The client must see VIP:vport.
        nat_rewrite(inner_ip, inner_l4, l4_for_rewrite, Endpoint::destination, conn.vip,
                    conn.vport);
        nat_rewrite_address(ip, Endpoint::source, conn.vip);
        outer_dst = conn.client_ip;
    } else {
        // Quoted: VIP:vport -> client, as we sent it. The real server must see RIP:rport.
        nat_rewrite(inner_ip, inner_l4, l4_for_rewrite, Endpoint::source, conn.rip, conn.rport);
        outer_dst = conn.rip;
        nat_rewrite_address(ip, Endpoint::destination, outer_dst);
    }
    uint8_t* icmp = frame + outer.l4_offset;
    store_u16_raw(icmp + l4::kIcmpChecksum, 0);
    store_u16_raw(icmp + l4::kIcmpChecksum,
                  icmp_checksum(icmp, static_cast<size_t>(outer.ip_end - outer.l4_offset)));
    return outer_dst;
}

}  // namespace vsnat::dp
