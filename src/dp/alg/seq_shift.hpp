// Sequence-number offsets after payload rewrites that change a segment's length, one per
// direction of a connection: LVS's struct ip_vs_seq and vs_fix_seq / vs_fix_ack_seq /
// vs_seq_update (net/netfilter/ipvs/ip_vs_app.c).
#pragma once

#include <cstdint>

namespace vsnat::dp {

/// Whether sequence number `a` comes after `b` (RFC 1982 serial arithmetic).
constexpr bool seq_after(uint32_t a, uint32_t b) {
    return static_cast<int32_t>(a - b) > 0;
}

/// How far one sender's sequence numbers have moved. Two offsets are kept: `delta` for data
/// after the last rewritten segment, `previous_delta` for that segment itself and anything
/// before it, so that a retransmission of the rewritten segment (rewritten again, identically)
/// gets the same numbers as the first transmission. Data more than one rewrite back is shifted
/// by `previous_delta` too, as in LVS: rewrites are a command or reply apart, and TCP does not
/// keep that much in flight on a control connection. Host order throughout.
struct SeqShift {
    uint32_t init_seq = 0;  // original sequence number of the last rewritten segment
    int32_t delta = 0;
    int32_t previous_delta = 0;
    bool active = false;  // a rewrite has happened

    /// The sequence number the receiver must see for a segment the sender numbered `original`.
    uint32_t seq(uint32_t original) const {
        if (!active) {
            return original;
        }
        const int32_t d = seq_after(original, init_seq) ? delta : previous_delta;
        return original + static_cast<uint32_t>(d);
    }

    /// The acknowledgement the sender must see for one the receiver sent as `acked` (counted in
    /// the shifted numbering). Acks past the start of the rewritten segment, as the receiver
    /// saw it, cover the rewrite.
    uint32_t ack(uint32_t acked) const {
        if (!active) {
            return acked;
        }
        const uint32_t rewritten_start = init_seq + static_cast<uint32_t>(previous_delta);
        const int32_t d = seq_after(acked, rewritten_start) ? delta : previous_delta;
        return acked - static_cast<uint32_t>(d);
    }

    /// Records that the segment the sender numbered `original` grew by `diff` bytes (negative:
    /// shrank). A retransmission of the last rewritten segment, or of an earlier one, changes
    /// nothing: its rewrite is already counted.
    void record(uint32_t original, int32_t diff) {
        if (active && !seq_after(original, init_seq)) {
            return;
        }
        previous_delta = delta;
        delta += diff;
        init_seq = original;
        active = true;
    }
};

}  // namespace vsnat::dp
