// Text longer than a DPDK telemetry string, sent in pieces and joined again: vsnatd's side
// (src/cp/telemetry.cpp) and vsnatctl's (src/app/vsnatctl.cpp) of one convention. Header
// only: vsnatctl links no DPDK.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vsnat::cp {

/// Bytes a DPDK 22.11 telemetry string holds: RTE_TEL_MAX_STRING_LEN (128) with its NUL.
constexpr size_t kTelemetryStringBytes = 127;

/// `text` in pieces of at most kTelemetryStringBytes, cut between UTF-8 characters (a piece
/// that ended inside one would not be valid JSON text); at least one piece. Any thread.
inline std::vector<std::string> telemetry_pieces(std::string_view text) {
    std::vector<std::string> pieces;
    do {
        size_t n = std::min(text.size(), kTelemetryStringBytes);
        // Back off a continuation byte (10xxxxxx) so that a character stays whole.
        while (n < text.size() && n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) {
            --n;
        }
        if (n == 0) {  // not UTF-8 after all: cut where it must be cut
            n = std::min(text.size(), kTelemetryStringBytes);
        }
        pieces.emplace_back(text.substr(0, n));
        text.remove_prefix(n);
    } while (!text.empty());
    return pieces;
}

/// The texts again from their pieces and how many pieces each took. A count that runs past the
/// pieces there are (the reply was cut short) takes what there is. Any thread.
inline std::vector<std::string> join_telemetry_pieces(const std::vector<std::string>& pieces,
                                                      const std::vector<uint64_t>& counts) {
    std::vector<std::string> texts;
    size_t next = 0;
    for (uint64_t count : counts) {
        if (next >= pieces.size()) {
            break;
        }
        std::string text;
        for (uint64_t i = 0; i < count && next < pieces.size(); ++i) {
            text += pieces[next++];
        }
        texts.push_back(std::move(text));
    }
    return texts;
}

/// Bytes DPDK's JSON writer takes for `text` as a string: its quotes and a separator, and a
/// backslash before each quote, backslash and control character. Any thread.
inline size_t telemetry_json_bytes(std::string_view text) {
    size_t bytes = text.size() + 3;
    for (char c : text) {
        bytes += (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) ? 1 : 0;
    }
    return bytes;
}

}  // namespace vsnat::cp
