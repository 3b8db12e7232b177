#include "dp/parse.hpp"

#include "dp/bytes.hpp"

namespace vsnat::dp {
namespace {

ParsedFrame dropped(DropReason reason) {
    ParsedFrame out;
    out.kind = FrameKind::drop;
    out.drop_reason = reason;
    return out;
}

// Validates the L4 header of a datagram, or of its first fragment, and fills the L4 fields.
// `icmp_protocol` is the ICMP of the network layer: ICMP (1) under IPv4, ICMPv6 (58) under IPv6;
// both have an 8-byte header.
bool parse_l4(const uint8_t* frame, ParsedFrame& out, bool allow_truncated, uint8_t icmp_protocol) {
    const uint8_t* l4p = frame + out.l4_offset;
    size_t need = 0;
    if (out.ip_protocol == ipv4::kProtoTcp) {
        need = l4::kTcpMinHeaderLen;
    } else if (out.ip_protocol == ipv4::kProtoUdp) {
        need = l4::kUdpHeaderLen;
    } else if (out.ip_protocol == icmp_protocol) {
        need = l4::kIcmpHeaderLen;
    } else {
        // The pipeline decides what to do with other protocols; nothing of theirs is read.
        out.payload_offset = out.l4_offset;
        return true;
    }
    if (allow_truncated) {
        // An ICMP error quotes at least 8 bytes of L4: ports, and for TCP the sequence number.
        if (out.l4_length < 8) {
            return false;
        }
        out.payload_offset = static_cast<uint16_t>(out.l4_offset + out.l4_length);
        return true;
    }
    if (out.l4_length < need) {
        return false;
    }
    size_t header_len = need;
    if (out.ip_protocol == ipv4::kProtoTcp) {
        header_len = static_cast<size_t>(l4p[l4::kTcpDataOffset] >> 4) * 4;
        if (header_len < l4::kTcpMinHeaderLen || header_len > out.l4_length) {
            return false;
        }
        out.tcp_flags = l4p[l4::kTcpFlags];
    } else if (out.ip_protocol == ipv4::kProtoUdp) {
        uint16_t udp_len = load_be16(l4p + l4::kUdpLength);
        // A first fragment's UDP length is the whole datagram's, more than it holds.
        if (udp_len < l4::kUdpHeaderLen || (udp_len > out.l4_length && !out.fragment)) {
            return false;
        }
    }
    out.payload_offset = static_cast<uint16_t>(out.l4_offset + header_len);
    return true;
}

}  // namespace

ParsedFrame parse_ipv4(const uint8_t* frame, size_t len, size_t l3_offset,
                       bool allow_truncated_l4) {
    if (len < l3_offset + ipv4::kMinHeaderLen) {
        return dropped(DropReason::frame_truncated);
    }
    const uint8_t* ip = frame + l3_offset;
    if ((ip[ipv4::kVersionIhl] >> 4) != 4) {
        return dropped(DropReason::bad_ip_version);
    }
    size_t header_len = static_cast<size_t>(ip[ipv4::kVersionIhl] & 0x0f) * 4;
    if (header_len < ipv4::kMinHeaderLen || l3_offset + header_len > len) {
        return dropped(DropReason::bad_ip_header_length);
    }
    size_t total_len = load_be16(ip + ipv4::kTotalLength);
    // A quoted datagram inside an ICMP error is cut short on purpose: its total length may run
    // past what was quoted.
    if (total_len < header_len || (!allow_truncated_l4 && l3_offset + total_len > len)) {
        return dropped(DropReason::bad_ip_total_length);
    }
    if (allow_truncated_l4 && l3_offset + total_len > len) {
        total_len = len - l3_offset;
    }
    ParsedFrame out;
    out.kind = FrameKind::ipv4;
    out.l3_offset = static_cast<uint16_t>(l3_offset);
    out.l4_offset = static_cast<uint16_t>(l3_offset + header_len);
    out.l4_length = static_cast<uint16_t>(total_len - header_len);
    out.ip_end = static_cast<uint16_t>(l3_offset + total_len);
    out.ip_protocol = ip[ipv4::kProtocol];
    uint16_t fragment = load_be16(ip + ipv4::kFragment);
    out.fragment = (fragment & (ipv4::kMoreFragments | ipv4::kOffsetMask)) != 0;
    out.first_fragment = out.fragment && (fragment & ipv4::kOffsetMask) == 0;
    if (out.fragment && (!out.first_fragment || allow_truncated_l4)) {
        out.payload_offset = out.l4_offset;
        return out;
    }
    if (!parse_l4(frame, out, allow_truncated_l4, ipv4::kProtoIcmp)) {
        return dropped(DropReason::bad_l4_header);
    }
    return out;
}

ParsedFrame parse_frame(const uint8_t* frame, size_t len) {
    if (len < eth::kHeaderLen) {
        return dropped(DropReason::frame_truncated);
    }
    size_t l3_offset = eth::kHeaderLen;
    uint16_t type = load_be16(frame + eth::kType);
    bool vlan = false;
    if (type == eth::kTypeVlan) {
        if (len < eth::kHeaderLen + eth::kVlanTagLen) {
            return dropped(DropReason::frame_truncated);
        }
        vlan = true;
        l3_offset += eth::kVlanTagLen;
        type = load_be16(frame + eth::kType + eth::kVlanTagLen);
    }
    ParsedFrame out;
    if (type == eth::kTypeIpv4) {
        out = parse_ipv4(frame, len, l3_offset);
    } else if (type == eth::kTypeArp) {
        if (len < l3_offset + arp::kLen) {
            return dropped(DropReason::frame_truncated);
        }
        const uint8_t* a = frame + l3_offset;
        if (load_be16(a + arp::kHardwareType) != 1 ||
            load_be16(a + arp::kProtocolType) != eth::kTypeIpv4 || a[arp::kHardwareLen] != 6 ||
            a[arp::kProtocolLen] != 4) {
            return dropped(DropReason::bad_arp);
        }
        out.kind = FrameKind::arp;
        out.l3_offset = static_cast<uint16_t>(l3_offset);
    } else {
        return dropped(DropReason::unsupported_l2);  // includes a second (QinQ) tag
    }
    out.vlan = vlan;
    return out;
}

}  // namespace vsnat::dp
