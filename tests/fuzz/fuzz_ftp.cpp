// libFuzzer target: the FTP helper's pure parts on arbitrary bytes (the packet side runs in
// fuzz_pipeline, whose seeds include FTP sessions).
// - scan() in both directions: never reads outside the payload (ASan); a span it reports lies
//   inside the payload, and what it reports for a 227 or PORT reads back the same from the text
//   format_host_port() writes for it; an EPRT with an IPv6 address reads back the same from that
//   address's text as inet_ntop() writes it.
// - SeqShift, driven by the input as a sequence of rewrites and retransmissions: seq() and ack()
//   undo each other for data after the last rewrite, and a retransmission changes nothing.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "dp/alg/ftp.hpp"
#include "dp/alg/seq_shift.hpp"

namespace {

using vsnat::dp::Direction;
using vsnat::dp::SeqShift;
namespace ftp = vsnat::dp::ftp;

void require(bool ok) {
    if (!ok) {
        std::abort();
    }
}

void check_eprt6(const ftp::Scan& s) {
    char address[INET6_ADDRSTRLEN];
    require(inet_ntop(AF_INET6, s.address6.data(), address, sizeof(address)) != nullptr);
    const std::string line = "EPRT |2|" + std::string(address) + "|" +
                             std::to_string(__builtin_bswap16(s.port)) + "|\r\n";
    const ftp::Scan again = ftp::scan(reinterpret_cast<const uint8_t*>(line.data()), line.size(),
                                      Direction::from_client);
    require(again.event == s.event && again.ipv6 && again.address6 == s.address6 &&
            again.port == s.port);
}

void check_scan(const uint8_t* data, size_t size, Direction direction) {
    const ftp::Scan s = ftp::scan(data, size, direction);
    if (s.event == ftp::Event::extended_active && s.ipv6) {
        check_eprt6(s);
    }
    const bool host_port = s.event == ftp::Event::passive || s.event == ftp::Event::active;
    if (!host_port) {
        return;
    }
    require(s.text_length > 0 && s.text_offset + s.text_length <= size);
    require(s.port != 0);
    char text[ftp::kMaxHostPortText];
    const size_t n = ftp::format_host_port(s.address, s.port, text);
    require(n <= ftp::kMaxHostPortText);
    const std::string line =
        (direction == Direction::from_server ? "227 (" : "PORT ") + std::string(text, n) + ")\r\n";
    const ftp::Scan again =
        ftp::scan(reinterpret_cast<const uint8_t*>(line.data()), line.size(), direction);
    require(again.event == s.event && again.address == s.address && again.port == s.port);
}

uint32_t read_u32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
           static_cast<uint32_t>(p[2]) << 8 | p[3];
}

// Records of 5 bytes: a sequence number and a length change (-128..127).
void check_shift(const uint8_t* data, size_t size) {
    SeqShift shift;
    for (size_t i = 0; i + 5 <= size; i += 5) {
        const uint32_t seq = read_u32(data + i);
        const auto diff = static_cast<int8_t>(data[i + 4]);
        const SeqShift before = shift;
        shift.record(seq, diff);
        if (before.active && !vsnat::dp::seq_after(seq, before.init_seq)) {
            require(shift.delta == before.delta && shift.init_seq == before.init_seq);
            continue;  // a retransmission (or older): nothing moves
        }
        // Data past the rewritten segment: shifted by delta, and its ack shifted back.
        const uint32_t later = seq + 1000;
        require(shift.ack(shift.seq(later)) == later);
        require(shift.seq(seq) == seq + static_cast<uint32_t>(before.delta));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    check_scan(data, size, Direction::from_client);
    check_scan(data, size, Direction::from_server);
    check_shift(data, size);
    return 0;
}
