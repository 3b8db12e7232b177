// Data connections the FTP helper expects, shared by every worker. A control connection and its
// data connections have different client ports, so different owners: the worker that sees a
// PASV reply or a PORT command records the expectation here, and the worker that owns the data
// connection's client (address, port) claims it when its SYN arrives (LVS creates the data
// connection's entry up front instead, with a wildcard port, ip_vs_ftp.c).
//
// One table per address family, the same code for both: IPv4's expectations in slots of one
// cache line (ExpectationTable), IPv6's, with their three 16-byte addresses, in slots of two
// (ExpectationTable6), so that IPv6 costs IPv4 neither bytes nor cache lines.
//
// A fixed table of slots; an expectation lives in one of a window of slots picked by a hash of
// the key its opening SYN will carry. Every slot has a state word (generation << 32 | status)
// beside the expectation's fields, which are whole 64-bit words read and written as relaxed
// atomics; recording, claiming, revoking and sweeping are each one compare-and-swap on the
// state word, so the table is lock-free and any worker may do any of them. A slot's fields are
// written only between the compare-and-swap that takes it (a new generation, `writing`) and the
// release store that publishes it (`ready`): a claimer that read them after seeing `ready` and
// then wins its compare-and-swap from that same state word has read one consistent expectation.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "dp/tcp_state.hpp"
#include "vsnat/types.hpp"

namespace vsnat::dp {

/// A data connection to be: the connection it becomes and who opens it. `Address` is uint32_t
/// (IPv4) or Ipv6. Addresses and ports in network order.
template <class Address>
struct BasicExpectation {
    Address client_ip{};
    Address vip{};
    Address rip{};
    uint16_t client_port = 0;  // active mode: where the client listens; passive: 0, any
    uint16_t vport = 0;        // passive: the port offered; active: the control port - 1
    uint16_t rport = 0;        // passive: the port offered; active: 0, any
    uint16_t dest_id = 0;
    Direction opener = Direction::from_client;  // passive: the client; active: the real server
    uint32_t expires_ms = 0;
};
using Expectation = BasicExpectation<uint32_t>;
using Expectation6 = BasicExpectation<Ipv6>;

/// Names one recorded expectation (of either family's table), so that its control connection
/// can revoke it.
struct ExpectationTicket {
    static constexpr uint32_t kNoSlot = UINT32_MAX;
    uint32_t slot = kNoSlot;
    uint32_t generation = 0;
};

template <class Address>
class BasicExpectationTable {
  public:
    using Entry = BasicExpectation<Address>;
    using Ticket = ExpectationTicket;
    static constexpr uint32_t kSlots = 4096;
    static constexpr uint32_t kWindow = 8;  // slots an expectation may take, from its hash
    static constexpr uint32_t kNoSlot = ExpectationTicket::kNoSlot;

    BasicExpectationTable();
    BasicExpectationTable(const BasicExpectationTable&) = delete;
    BasicExpectationTable& operator=(const BasicExpectationTable&) = delete;

    /// Records `e` (until e.expires_ms); a ticket with slot kNoSlot when its window holds only
    /// live expectations. Any worker.
    Ticket add(const Entry& e, uint32_t now_ms);

    /// Takes back an expectation nobody claimed yet; false when it is gone already (claimed,
    /// swept, or its slot reused). Any worker.
    bool revoke(Ticket ticket);

    /// Finds and removes the live expectation opened by a SYN from `opener` with source
    /// address `src`, destination `dst` and destination port `dst_port` (network order). Any
    /// worker.
    bool claim(Direction opener, const Address& src, const Address& dst, uint16_t dst_port,
               uint32_t now_ms, Entry& out);

    /// Frees the expired expectations among `count` slots from `cursor`, moving it on. Each
    /// worker calls it with its own cursor, so that an expectation nobody claims does not
    /// outlive the 32-bit millisecond clock's wrap. Any worker.
    void sweep(uint32_t& cursor, uint32_t count, uint32_t now_ms);

    /// Whether any expectation is recorded: lets the packet path skip claim() for misses when
    /// there is none. Any thread; a relaxed read.
    bool any() const { return pending_.load(std::memory_order_relaxed) > 0; }
    uint32_t pending() const {
        const int32_t n = pending_.load(std::memory_order_relaxed);
        return n < 0 ? 0 : static_cast<uint32_t>(n);
    }

    /// What the slots take (the memory budget counts it). Any thread.
    static constexpr size_t memory_bytes() { return kSlots * sizeof(Slot); }

  private:
    static constexpr size_t kWords = (sizeof(Entry) + 7) / 8;
    struct alignas(64) Slot {
        std::atomic<uint64_t> state{0};  // generation << 32 | status
        std::atomic<uint64_t> words[kWords] = {};
    };
    static Entry unpack(const Slot& s);
    static void pack(Slot& s, const Entry& e);
    static uint32_t window_start(const Address& src, const Address& dst, uint16_t dst_port);

    std::unique_ptr<Slot[]> slots_;
    std::atomic<int32_t> pending_{0};
};

using ExpectationTable = BasicExpectationTable<uint32_t>;
using ExpectationTable6 = BasicExpectationTable<Ipv6>;
extern template class BasicExpectationTable<uint32_t>;
extern template class BasicExpectationTable<Ipv6>;

static_assert(ExpectationTable::memory_bytes() == ExpectationTable::kSlots * 64,
              "an IPv4 expectation and its state word fit one cache line");
static_assert(ExpectationTable6::memory_bytes() == ExpectationTable6::kSlots * 128,
              "an IPv6 expectation and its state word fit two cache lines");

}  // namespace vsnat::dp
