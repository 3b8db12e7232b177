// The worker counters: one list, so that every view of them (telemetry and `vsnatctl stats`,
// /metrics, the final log line) carries each one, under the same name, with the same help.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace vsnat {

/// X(name, help) for every per-worker event counter (drops by reason are apart: DropReason).
/// A new counter is added here only; the views iterate this list.
#define VSNAT_WORKER_COUNTERS(X)                                                                   \
    X(rx_packets, "Packets received and processed by the worker.")                                 \
    X(busy_cycles, "TSC cycles of the worker loop's turns that had work (packets, sync records).") \
    X(idle_cycles, "TSC cycles of its turns with nothing to do, back-off sleeps included.")        \
    X(tx_packets, "Packets forwarded: queued for TX (refused by the port: also drop tx_full).")    \
    X(handed_over, "Packets received here and handed to the worker that owns their connection.")   \
    X(connections_created, "Connections opened.")                                                  \
    X(connections_expired, "Connections removed by their timeout.")                                \
    X(connections_reused, "Connections ended early: a new SYN on a TIME_WAIT or CLOSE one.")       \
    X(connections_drained, "Connections ended because `drain: drop` removed their real server.")   \
    X(connections_evicted, "Half-open connections ended to make room in a full table.")            \
    X(arp_replies, "ARP replies sent for the director's addresses and VIPs.")                      \
    X(arp_requests, "ARP requests sent to resolve next hops.")                                     \
    X(arp_received, "ARP answers to the director, or from known hosts at a new MAC: to learn.")    \
    X(arp_ignored, "ARP packets from hosts the director does not talk to: not learned.")           \
    X(nd_advertisements_sent, "IPv6 neighbor advertisements sent for own addresses and VIPs.")     \
    X(nd_solicitations_sent, "IPv6 neighbor solicitations sent to resolve next hops.")             \
    X(nd_received, "IPv6 neighbor discovery from hosts to learn: answers, known hosts moved.")     \
    X(nd_ignored, "IPv6 neighbor discovery from hosts the director does not talk to.")             \
    X(echo_replies, "ICMP and ICMPv6 echo replies sent for VIPs and the director's addresses.")    \
    X(resets_sent, "TCP resets sent for VIP ports with no service.")                               \
    X(unreachables_sent, "ICMP port unreachables sent for VIP ports with no service.")             \
    X(frag_needed_sent, "ICMP fragmentation-needed sent for datagrams over the egress MTU.")       \
    X(packet_too_big_sent, "ICMPv6 packet too big sent for packets over the egress MTU.")          \
    X(icmp_errors_translated, "ICMP(v6) errors about tracked connections, translated, forwarded.") \
    X(held_for_arp, "Packets held while their next hop's MAC was resolved (sent or dropped).")     \
    X(persistence_hits, "New connections sent where a live persistence template said.")            \
    X(persistence_unrecorded, "New connections of a persistent service left unpinned.")            \
    X(ftp_expectations, "FTP data connections announced and recorded.")                            \
    X(ftp_data_connections, "FTP data connections opened by a recorded expectation.")              \
    X(ftp_rewrites, "FTP 227 replies rewritten to the VIP.")                                       \
    X(ftp_split_lines, "FTP PORT/EPRT/227/229 lines not ending in their segment: not acted on.")   \
    X(ftp_malformed_lines, "FTP lines whose address or port does not parse.")                      \
    X(ftp_foreign_addresses, "FTP 227/PORT/EPRT lines naming a host other than the connection's.") \
    X(ftp_expectations_full, "FTP data connections not recorded: the expectation table is full.")  \
    X(ftp_unrewritten, "FTP 227 replies left as they were: no room in the buffer to grow.")        \
    X(fragments_forwarded, "Later IPv4/IPv6 fragments forwarded as their datagram's first was.")   \
    X(fragments_held, "Later IPv4/IPv6 fragments held until their datagram's first came.")         \
    X(fragments_unrecorded, "First fragments whose translation went unrecorded (table busy).")     \
    X(sync_queued, "Connection sync records queued for the other directors.")                      \
    X(sync_dropped, "Connection sync records not sent: the queue to the sync thread was full.")    \
    X(sync_applied, "Connection sync records from the other directors applied to the table.")      \
    X(sync_refused, "Connection sync records refused: no such service or server, table full.")

/// X(name, help) for every counter of a port's kernel mirror (README.md, "The kernel side of the
/// director"), summed over the workers and the mirrors' thread.
#define VSNAT_MIRROR_COUNTERS(X)                                                                 \
    X(punted, "Packets given to the kernel mirror.")                                             \
    X(punted_control, "Of those, control traffic: ARP, BGP, VRRP, OSPF, link-local multicast.")  \
    X(punt_dropped, "Packets for the kernel mirror dropped: its queue was full, or it refused.") \
    X(punt_dropped_control, "Of those, control traffic (queue full).")                           \
    X(from_kernel, "Packets the kernel sent on the mirror, queued to leave by the port.")        \
    X(from_kernel_dropped, "Packets the kernel sent on the mirror, dropped: the queue was full.")

/// X(name, help) for every counter of the connection sync thread (README.md, "A pair of
/// directors"); the workers' side is in VSNAT_WORKER_COUNTERS (sync_*).
#define VSNAT_SYNC_COUNTERS(X)                                                                 \
    X(messages_sent, "Sync messages sent (one UDP datagram each, to each destination).")       \
    X(records_sent, "Connection records sent in them.")                                        \
    X(send_errors, "Sync messages the socket refused (counted once per destination).")         \
    X(datagrams_received, "Sync datagrams received from other directors.")                     \
    X(records_received, "Connection records read from them.")                                  \
    X(datagrams_malformed, "Sync datagrams cut short or malformed: the rest of each ignored.") \
    X(datagrams_foreign, "Sync datagrams of another syncid, or not from a peer: ignored.")     \
    X(records_skipped, "Records not for vsnat: IPv6, another protocol, a state out of range.") \
    X(records_queue_full, "Records received but dropped: the owning worker's queue was full.") \
    X(peers_joined, "Peers heard first, or again after 3 s of silence: every connection resent.")

struct CounterInfo {
    std::string_view name;
    std::string_view help;
};

inline constexpr std::array kWorkerCounters = {
#define VSNAT_COUNTER_INFO(name, help) CounterInfo{#name, help},
    VSNAT_WORKER_COUNTERS(VSNAT_COUNTER_INFO)
#undef VSNAT_COUNTER_INFO
};

constexpr size_t kWorkerCounterCount = kWorkerCounters.size();

inline constexpr std::array kMirrorCounters = {
#define VSNAT_COUNTER_INFO(name, help) CounterInfo{#name, help},
    VSNAT_MIRROR_COUNTERS(VSNAT_COUNTER_INFO)
#undef VSNAT_COUNTER_INFO
};

constexpr size_t kMirrorCounterCount = kMirrorCounters.size();

inline constexpr std::array kSyncCounters = {
#define VSNAT_COUNTER_INFO(name, help) CounterInfo{#name, help},
    VSNAT_SYNC_COUNTERS(VSNAT_COUNTER_INFO)
#undef VSNAT_COUNTER_INFO
};

constexpr size_t kSyncCounterCount = kSyncCounters.size();

/// Indexes of kSyncCounters, by name.
enum class SyncCounter : size_t {
#define VSNAT_COUNTER_ENUM(name, help) name,
    VSNAT_SYNC_COUNTERS(VSNAT_COUNTER_ENUM)
#undef VSNAT_COUNTER_ENUM
};

}  // namespace vsnat
