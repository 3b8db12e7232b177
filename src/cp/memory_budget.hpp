// What a configuration will need in memory, worked out before anything is allocated, and the
// rule that refuses what the machine cannot hold (config/README.md, "Memory").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cp/config.hpp"

namespace vsnat::cp {

/// What the machine has, from /proc/meminfo, in bytes.
struct MachineMemory {
    uint64_t available = 0;        // MemAvailable: what can be allocated without swapping
    uint64_t hugepages_total = 0;  // HugePages_Total pages, reserved (free or in use)
    uint64_t hugepages_free = 0;   // HugePages_Free pages
    uint64_t hugepage_size = 0;    // Hugepagesize
};

/// The fields above from /proc/meminfo's text; nullopt when one is missing. Any thread.
std::optional<MachineMemory> parse_meminfo(std::string_view text);
/// /proc/meminfo now; nullopt when it cannot be read. Any thread.
std::optional<MachineMemory> read_machine_memory();

/// One thing vsnatd allocates.
struct MemoryPart {
    std::string what;    // "connection tables"
    std::string detail;  // "524288 connections, 1 table"
    uint64_t bytes = 0;
    bool eal = false;  // from EAL's memory: hugepages, unless `eal` says --no-huge
};

/// What a configuration needs once vsnatd runs it.
struct MemoryNeed {
    std::vector<MemoryPart> parts;
    bool hugepages = true;  // EAL's memory is in hugepages (no --no-huge in `eal`)
    uint64_t eal = 0;       // the parts from EAL's memory
    uint64_t ordinary = 0;  // the rest: the C library's heap
    /// What a reload to this configuration allocates while the running one is still held:
    /// the snapshot and a copy of the configuration.
    uint64_t reload = 0;
};

/// The memory `config` needs: sized at start-up (connection tables, packet buffers, the
/// persistence table, per-worker state) and its snapshot (scheduler tables: 128 KiB for each
/// mh service). Estimated from the structures' sizes, within a few percent of what is
/// allocated; EAL's own few MiB and the program are not counted. Any thread.
MemoryNeed memory_need(const Config& config);

/// The verdict on a need against the machine: `refusal` says why the machine cannot hold it;
/// `advice` what to do before vsnatd can start it (reserve hugepages).
struct MemoryVerdict {
    std::optional<std::string> refusal;
    std::optional<std::string> advice;
};

/// Start-up (and `vsnatd --check`): the ordinary memory must fit in MemAvailable; with
/// hugepages, EAL's part must fit in the hugepages reserved plus what MemAvailable has left
/// to reserve more (advice says how many more); without, both parts in MemAvailable. Any thread.
MemoryVerdict check_start(const MemoryNeed& need, const MachineMemory& machine);

/// A reload: what it allocates (`need.reload`) must fit in MemAvailable now, the running
/// configuration's memory being held meanwhile. A refusal, or nullopt. Any thread.
std::optional<std::string> check_reload(const MemoryNeed& need, const MachineMemory& machine);

/// Bytes as "512.0 KiB", "12.3 MiB" or "8.4 GiB". Any thread.
std::string format_bytes(uint64_t bytes);

/// Interfaces with a kernel mirror (`kernel:`). Any thread.
unsigned mirror_count(const Config& config);

/// Packet buffers (mbufs) in the pool: enough for every RX and TX ring, the handover rings, the
/// rings to the kernel mirrors and each lcore's cache, or `packet_buffers` when that is more.
/// Any thread.
unsigned packet_buffer_count(const Config& config);

}  // namespace vsnat::cp
