// IPv4 and IPv6 fragments through the director without reassembly (README.md, "Fragments"):
// the first fragment of a datagram carries the ports and goes with its connection like any
// packet; the worker that translates it records here how (which address becomes what), and the
// later fragments of the same datagram, on whichever worker they arrive, are rewritten the same
// way. A datagram is known by its source, destination, identification and protocol: RFC 791's
// 16-bit IP id for IPv4; RFC 8200 4.5's 32-bit fragment identification for IPv6, with the next
// header its fragment header names. VPP's nat44-ed calls this shallow virtual reassembly;
// Cilium keeps a similar map.
//
// One table per family shared by every worker (IPv4's entries stay 28 bytes, IPv6's take 64):
// 4-way buckets, each under a one-byte spin lock taken for a few dozen nanoseconds (fragments
// are rare; a lock not had after a bounded spin is a miss for a lookup, whose caller holds the
// fragment and tries again; a record yields the CPU between spins before it gives up). Pure: no
// DPDK.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "vsnat/types.hpp"

namespace vsnat::dp {

/// The identity of one datagram's fragments: IPv4's (uint32_t addresses, 16-bit id) or IPv6's
/// (Ipv6 addresses, 32-bit id). Addresses and id in network order, as in the packet.
template <class Address>
struct BasicFragmentKey {
    using Id = std::conditional_t<std::is_same_v<Address, uint32_t>, uint16_t, uint32_t>;
    Address src{};
    Address dst{};
    Id id = 0;
    uint8_t protocol = 0;  // IPv4's protocol; IPv6: the next header the fragment header names
    bool operator==(const BasicFragmentKey&) const = default;
};

/// How the first fragment was translated: its destination (towards the real server) or its
/// source (back from the VIP) became `address`.
template <class Address>
struct BasicFragmentRewrite {
    Address address{};  // network order
    bool destination = true;
};

template <class Address>
class BasicFragmentTable {
  public:
    using Key = BasicFragmentKey<Address>;
    using Rewrite = BasicFragmentRewrite<Address>;

    static constexpr uint32_t kBuckets = 4096;
    static constexpr uint32_t kWays = 4;
    /// How long a translation is kept after it was last used: far more than the gap between
    /// a datagram's fragments on any link the director serves.
    static constexpr uint32_t kLifetimeMs = 2000;

    BasicFragmentTable();
    BasicFragmentTable(const BasicFragmentTable&) = delete;
    BasicFragmentTable& operator=(const BasicFragmentTable&) = delete;

    /// Records (or refreshes) the translation of datagram `key`, in the place of an expired
    /// entry or else the one closest to expiry. False when the bucket's lock was not had, even
    /// after yielding the CPU a few times to whoever holds it. Any worker.
    bool record(const Key& key, const Rewrite& rewrite, uint32_t now_ms);

    /// The live translation of datagram `key`, refreshed; false when there is none (or the
    /// bucket's lock was not had). Any worker.
    bool find(const Key& key, uint32_t now_ms, Rewrite& out);

    /// Translations recorded so far, wrapping: a worker holding later fragments looks for
    /// their translations again once this moved. Any thread.
    uint32_t recorded() const { return recorded_.load(std::memory_order_acquire); }

    /// Bytes the table takes: its buckets and their locks. Any thread.
    static constexpr size_t memory_bytes() { return sizeof(Bucket) * kBuckets + kBuckets; }

  private:
    // The expiry between key and rewrite: no padding after IPv6's 37-byte key.
    struct Entry {
        Key key;
        uint32_t expires_ms = 0;
        Rewrite rewrite;
        bool used = false;
    };
    struct Bucket {
        std::array<Entry, kWays> entries;
    };

    static uint32_t bucket_of(const Key& key);
    static Entry& place_for(Bucket& bucket, const Key& key, uint32_t now_ms);
    bool lock(uint32_t bucket);
    void unlock(uint32_t bucket);

    std::unique_ptr<Bucket[]> buckets_;
    std::unique_ptr<std::atomic<uint8_t>[]> locks_;
    // A line of its own: every record writes it, every lookup reads the pointers above.
    alignas(64) std::atomic<uint32_t> recorded_{0};
};

using FragmentKey = BasicFragmentKey<uint32_t>;
using FragmentRewrite = BasicFragmentRewrite<uint32_t>;
using FragmentTable = BasicFragmentTable<uint32_t>;
using FragmentKey6 = BasicFragmentKey<Ipv6>;
using FragmentRewrite6 = BasicFragmentRewrite<Ipv6>;
using FragmentTable6 = BasicFragmentTable<Ipv6>;

extern template class BasicFragmentTable<uint32_t>;
extern template class BasicFragmentTable<Ipv6>;

}  // namespace vsnat::dp
