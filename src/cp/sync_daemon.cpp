#include "cp/sync_daemon.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cp/steady_clock.hpp"
#include "dp/owner.hpp"

namespace vsnat::cp {
namespace {

namespace sync = dp::sync;

constexpr int kReceiveBufferBytes = 4 << 20;  // a burst of a busy peer's messages

std::string format_address(uint32_t network_order) {
    char text[INET_ADDRSTRLEN] = {};
    in_addr a{};
    a.s_addr = network_order;
    inet_ntop(AF_INET, &a, text, sizeof text);
    return text;
}

bool set_option(int fd, int level, int name, const void* value, socklen_t len, const char* what,
                std::string& error) {
    if (::setsockopt(fd, level, name, value, len) != 0) {
        error = std::string("sync socket: ") + what + ": " + std::strerror(errno);
        return false;
    }
    return true;
}

bool set_int(int fd, int level, int name, int value, const char* what, std::string& error) {
    return set_option(fd, level, name, &value, sizeof value, what, error);
}

// The index of interface `name` in the socket's own namespace (if_nametoindex would ask the
// caller's).
int interface_index(int fd, const std::string& name, std::string& error) {
    ifreq req{};
    std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd, SIOCGIFINDEX, &req) != 0) {
        error = "sync socket: no interface " + name + ": " + std::strerror(errno);
        return -1;
    }
    return req.ifr_ifindex;
}

// The socket's options: on the mirror only, multicast out of it with TTL 1 and not looped back,
// the group joined there.
bool configure_socket(int fd, const SyncConfig& sync, const std::string& mirror, uint32_t own,
                      std::string& error) {
    if (!set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", error) ||
        !set_option(fd, SOL_SOCKET, SO_BINDTODEVICE, mirror.c_str(),
                    static_cast<socklen_t>(mirror.size()), "SO_BINDTODEVICE", error) ||
        !set_int(fd, SOL_SOCKET, SO_RCVBUF, kReceiveBufferBytes, "SO_RCVBUF", error)) {
        return false;
    }
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = htons(sync.port);
    local.sin_addr.s_addr = htonl(INADDR_ANY);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
        error =
            "sync socket: bind to port " + std::to_string(sync.port) + ": " + std::strerror(errno);
        return false;
    }
    if (!sync.group) {
        return true;
    }
    const int ifindex = interface_index(fd, mirror, error);
    if (ifindex < 0) {
        return false;
    }
    ip_mreqn request{};
    request.imr_multiaddr.s_addr = htonl(*sync.group);
    request.imr_address.s_addr = own;
    request.imr_ifindex = ifindex;
    return set_option(fd, IPPROTO_IP, IP_MULTICAST_IF, &request, sizeof request, "IP_MULTICAST_IF",
                      error) &&
           set_int(fd, IPPROTO_IP, IP_MULTICAST_TTL, 1, "IP_MULTICAST_TTL", error) &&
           set_int(fd, IPPROTO_IP, IP_MULTICAST_LOOP, 0, "IP_MULTICAST_LOOP", error) &&
           set_option(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof request,
                      "IP_ADD_MEMBERSHIP", error);
}

}  // namespace

SyncDaemon::~SyncDaemon() {
    stop();
}

bool SyncDaemon::create(const SyncConfig& sync, const Interface& in, const std::string& mirror,
                        const io::NetworkNamespace& netns, uint32_t workers, std::string& error) {
    config_ = sync;
    own_address_ = htonl(in.address);
    workers_ = workers;
    // A message fits one IP datagram on the link: no fragments, which a kernel peer's sync
    // socket would take but the other director's fast path drops before its mirror.
    writer_ = sync::MessageWriter(static_cast<size_t>(in.mtu) - 20 - 8);
    writer_.begin(sync.syncid);
    if (sync.group) {
        destinations_.push_back(htonl(*sync.group));
    }
    for (const Ipv4 peer : sync.peers) {
        destinations_.push_back(htonl(peer));
    }
    for (uint32_t w = 0; w < workers; ++w) {
        const std::string n = std::to_string(w);
        from_workers_.push_back(create_ring("vsnat_sync_out" + n, sizeof(sync::AnyRecord),
                                            kRingSize, RING_F_SP_ENQ | RING_F_SC_DEQ, error));
        to_workers_.push_back(create_ring("vsnat_sync_in" + n, sizeof(sync::AnyRecord), kRingSize,
                                          RING_F_SP_ENQ | RING_F_SC_DEQ, error));
        if (!from_workers_.back() || !to_workers_.back()) {
            return false;
        }
    }
    io::UniqueFd fd(netns.open_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0, error));
    if (fd.get() < 0) {
        error = "sync socket in " + netns.describe() + ": " + error;
        return false;
    }
    if (!configure_socket(fd.get(), sync, mirror, own_address_, error)) {
        return false;
    }
    socket_ = std::move(fd);
    spdlog::info("connection sync on {} ({}): to {}:{}, syncid {}, messages up to {} bytes",
                 in.name, mirror,
                 sync.group ? format_address(htonl(*sync.group)) : std::string("the peers"),
                 sync.port, sync.syncid, writer_.max_size());
    return true;
}

void SyncDaemon::start() {
    if (!active()) {
        return;
    }
    thread_ = std::thread([this] { run(); });
    pthread_setname_np(thread_.native_handle(), "vsnat-sync");
}

void SyncDaemon::stop() {
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) {
        thread_.join();
    }
}

SyncTotals SyncDaemon::totals() const {
    SyncTotals out{};
    for (size_t i = 0; i < out.size(); ++i) {
        out[i] = counters_[i].load(std::memory_order_relaxed);
    }
    return out;
}

// Reads datagrams as they come and packs the workers' records as they are queued: a message
// leaves when full, or kFlushMs after its first record, so that at a high rate messages go full
// and at a low one no record waits longer than that.
void SyncDaemon::run() {
    pollfd p{socket_.get(), POLLIN, 0};
    bool busy = false;
    while (!stop_.load(std::memory_order_relaxed)) {
        // The workers' rings wake nobody: look at them every millisecond.
        ::poll(&p, 1, busy ? 0 : 1);
        const uint64_t now_ms = steady_ms();
        busy = receive(now_ms) == kDatagramsPerRound;
        busy = send_queued(now_ms) > 0 || busy;
        if (now_ms - last_sent_ms_ >= kHeartbeatMs) {
            send_message(now_ms);  // empty: a sign of life
        }
        request_resend(now_ms);
    }
}

uint32_t SyncDaemon::receive(uint64_t now_ms) {
    static thread_local std::vector<uint8_t> buffer(sync::kMaxMessageSize + 1);
    uint32_t n = 0;
    for (; n < kDatagramsPerRound; ++n) {
        sockaddr_in from{};
        socklen_t from_len = sizeof from;
        const ssize_t len = ::recvfrom(socket_.get(), buffer.data(), buffer.size(), 0,
                                       reinterpret_cast<sockaddr*>(&from), &from_len);
        if (len < 0) {
            break;  // EAGAIN: nothing more now; anything else would recur, so it is not retried
        }
        if (from.sin_addr.s_addr == own_address_) {
            continue;  // our own, looped back by a peer's switch or bridge
        }
        if (!from_peer(from.sin_addr.s_addr)) {
            count(SyncCounter::datagrams_received);
            count(SyncCounter::datagrams_foreign);
            continue;
        }
        deliver({buffer.data(), static_cast<size_t>(len)}, from.sin_addr.s_addr, now_ms);
    }
    return n;
}

// Reads one datagram as a kernel backup would, and queues each record for its owner.
void SyncDaemon::deliver(std::span<const uint8_t> datagram, uint32_t source, uint64_t now_ms) {
    count(SyncCounter::datagrams_received);
    const sync::DecodeError error = sync::decode(datagram, config_.syncid, decoded_);
    if (error == sync::DecodeError::none) {
        heard_from(source, now_ms);
    } else if (error == sync::DecodeError::foreign_syncid) {
        count(SyncCounter::datagrams_foreign);
    } else {
        count(SyncCounter::datagrams_malformed);
    }
    count(SyncCounter::records_received, decoded_.records.size() + decoded_.records6.size());
    count(SyncCounter::records_skipped, decoded_.skipped());
    queue_for_owners(decoded_.records);
    queue_for_owners(decoded_.records6);
}

// Hands each of `records` to the worker that owns its client.
template <class Address>
void SyncDaemon::queue_for_owners(const std::vector<sync::BasicRecord<Address>>& records) {
    for (const sync::BasicRecord<Address>& r : records) {
        const uint32_t owner = dp::owner_of_client(r.client_ip, r.client_port, workers_);
        sync::AnyRecord any = r;
        if (rte_ring_sp_enqueue_elem(to_workers_[owner].get(), &any, sizeof any) != 0) {
            count(SyncCounter::records_queue_full);
        }
    }
}

// A peer new to us, or back after a silence, gets every connection of every worker.
void SyncDaemon::heard_from(uint32_t source, uint64_t now_ms) {
    const auto it = peers_.find(source);
    const bool first = it == peers_.end();
    if (first) {
        std::erase_if(peers_,
                      [now_ms](const auto& p) { return now_ms - p.second > kPeerSilenceMs; });
        if (peers_.size() == kMaxPeers) {
            return;
        }
        peers_.emplace(source, now_ms);
    } else {
        const bool back = now_ms - it->second > kPeerSilenceMs;
        it->second = now_ms;
        if (!back) {
            return;
        }
    }
    count(SyncCounter::peers_joined);
    resend_due_ = true;
    spdlog::info("connection sync: peer {} {}: resending every connection to it",
                 format_address(source), first ? "heard" : "heard again after a silence");
}

// Starts a pending whole-table resend once the last one is kResendIntervalMs old.
void SyncDaemon::request_resend(uint64_t now_ms) {
    if (!resend_due_ || (last_resend_ms_ != 0 && now_ms - last_resend_ms_ < kResendIntervalMs)) {
        return;
    }
    resend_due_ = false;
    last_resend_ms_ = now_ms;
    resend_.fetch_add(1, std::memory_order_release);
}

// With unicast `peers`, only they are listened to; with a group, whoever sends to it (as IPVS).
bool SyncDaemon::from_peer(uint32_t source) const {
    return config_.peers.empty() ||
           std::find(destinations_.begin(), destinations_.end(), source) != destinations_.end();
}

// Packs what the workers queued into messages, sending each as it fills, and the last one once
// its first record has waited kFlushMs. Returns the records taken.
uint32_t SyncDaemon::send_queued(uint64_t now_ms) {
    std::array<sync::AnyRecord, 64> records;
    uint32_t taken = 0;
    for (const UniqueRing& ring : from_workers_) {
        for (uint32_t from_this = 0; from_this < kRecordsPerRound;) {
            const unsigned n = rte_ring_sc_dequeue_burst_elem(
                ring.get(), records.data(), sizeof(sync::AnyRecord), records.size(), nullptr);
            for (unsigned i = 0; i < n; ++i) {
                if (writer_.empty()) {
                    first_pending_ms_ = now_ms;
                }
                if (!writer_.add(records[i])) {
                    send_message(now_ms);
                    first_pending_ms_ = now_ms;
                    writer_.add(records[i]);  // an empty message takes any one record
                }
            }
            from_this += n;
            taken += n;
            if (n < records.size()) {
                break;
            }
        }
    }
    if (!writer_.empty() && now_ms - first_pending_ms_ >= static_cast<uint64_t>(kFlushMs)) {
        send_message(now_ms);
    }
    return taken;
}

void SyncDaemon::send_message(uint64_t now_ms) {
    last_sent_ms_ = now_ms;
    const std::span<const uint8_t> message = writer_.finish();
    for (const uint32_t to : destinations_) {
        sockaddr_in dst{};
        dst.sin_family = AF_INET;
        dst.sin_port = htons(config_.port);
        dst.sin_addr.s_addr = to;
        if (::sendto(socket_.get(), message.data(), message.size(), 0,
                     reinterpret_cast<const sockaddr*>(&dst), sizeof dst) < 0) {
            count(SyncCounter::send_errors);
            continue;
        }
        count(SyncCounter::messages_sent);
        count(SyncCounter::records_sent, writer_.count());
    }
    writer_.begin(config_.syncid);
}

}  // namespace vsnat::cp
