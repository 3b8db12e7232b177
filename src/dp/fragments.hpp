// IPv4 fragments through the director without reassembly (README.md, "Fragments"): the first
// fragment of a datagram carries the ports and goes with its connection like any packet; the
// worker that translates it records here how (which address becomes what), and the later
// fragments of the same datagram (source, destination, protocol, IP id: RFC 791's datagram
// identity), on whichever worker they arrive, are rewritten the same way. VPP's nat44-ed calls
// this shallow virtual reassembly; Cilium keeps a similar map.
//
// One table shared by every worker: 4-way buckets, each under a one-byte spin lock taken for a
// few dozen nanoseconds (fragments are rare; a lock not had after a bounded spin is a miss for
// the caller, who holds the fragment and tries again). Pure: no DPDK.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

namespace vsnat::dp {

/// The identity of one datagram's fragments. Addresses in network order, as in the packet.
struct FragmentKey {
    uint32_t src = 0;
    uint32_t dst = 0;
    uint16_t id = 0;  // as in the packet
    uint8_t protocol = 0;
    bool operator==(const FragmentKey&) const = default;
};

/// How the first fragment was translated: its destination (towards the real server) or its
/// source (back from the VIP) became `address`.
struct FragmentRewrite {
    uint32_t address = 0;  // network order
    bool destination = true;
};

class FragmentTable {
  public:
    static constexpr uint32_t kBuckets = 4096;
    static constexpr uint32_t kWays = 4;
    /// How long a translation is kept after it was last used: far more than the gap between
    /// a datagram's fragments on any link the director serves.
    static constexpr uint32_t kLifetimeMs = 2000;

    FragmentTable();
    FragmentTable(const FragmentTable&) = delete;
    FragmentTable& operator=(const FragmentTable&) = delete;

    /// Records (or refreshes) the translation of datagram `key`, in the place of an expired
    /// entry or else the one closest to expiry. False when the bucket's lock was not had. Any
    /// worker.
    bool record(const FragmentKey& key, const FragmentRewrite& rewrite, uint32_t now_ms);

    /// The live translation of datagram `key`, refreshed; false when there is none (or the
    /// bucket's lock was not had). Any worker.
    bool find(const FragmentKey& key, uint32_t now_ms, FragmentRewrite& out);

    /// Bytes the table takes.
    static constexpr size_t memory_bytes() { return sizeof(Bucket) * kBuckets + kBuckets; }

  private:
    struct Entry {
        FragmentKey key;
        FragmentRewrite rewrite;
        uint32_t expires_ms = 0;
        bool used = false;
    };
    struct Bucket {
        std::array<Entry, kWays> entries;
    };

    static uint32_t bucket_of(const FragmentKey& key);
    static Entry& place_for(Bucket& bucket, const FragmentKey& key, uint32_t now_ms);
    bool lock(uint32_t bucket);
    void unlock(uint32_t bucket);

    std::unique_ptr<Bucket[]> buckets_;
    std::unique_ptr<std::atomic<uint8_t>[]> locks_;
};

}  // namespace vsnat::dp
