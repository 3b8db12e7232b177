#include "dp/conn_table.hpp"

#include <algorithm>

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

namespace vsnat::dp {
namespace {

size_t heap_allocated(int socket_id) {
    rte_malloc_socket_stats stats{};
    rte_malloc_get_socket_stats(socket_id < 0 ? 0 : socket_id, &stats);
    return stats.heap_allocsz_bytes;
}

void* id_to_data(uint32_t id) {
    return reinterpret_cast<void*>(static_cast<uintptr_t>(id));
}
uint32_t data_to_id(void* data) {
    return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data));
}

}  // namespace

std::unique_ptr<ConnTable> ConnTable::create(const std::string& name, uint32_t capacity,
                                             int socket_id, uint32_t now_ms, std::string* error) {
    rte_hash_parameters params{};
    params.name = name.c_str();
    // Two keys per connection (rte_hash wants at least one bucket of 8).
    params.entries = std::max<uint32_t>(2 * capacity, 8);
    params.key_len = sizeof(FlowKey);
    params.hash_func = rte_hash_crc;
    params.hash_func_init_val = 0;
    params.socket_id = socket_id;
    size_t before = heap_allocated(socket_id);
    rte_hash* hash = rte_hash_create(&params);
    if (hash == nullptr) {
        if (error) {
            *error = "cannot create connection hash '" + name + "' for " +
                     std::to_string(capacity) + " connections: " + rte_strerror(rte_errno);
        }
        return nullptr;
    }
    const size_t hash_bytes = heap_allocated(socket_id) - before;
    const size_t node_count = TimerWheel::node_count(capacity);
    auto* conns = static_cast<Conn*>(rte_malloc_socket(
        "vsnat_conn_records", sizeof(Conn) * capacity, RTE_CACHE_LINE_SIZE, socket_id));
    auto* nodes = static_cast<TimerWheel::Node*>(
        rte_malloc_socket("vsnat_conn_timers", sizeof(TimerWheel::Node) * node_count,
                          RTE_CACHE_LINE_SIZE, socket_id));
    if (conns == nullptr || nodes == nullptr) {
        rte_free(conns);
        rte_free(nodes);
        rte_hash_free(hash);
        if (error) {
            *error = "cannot allocate the records of " + std::to_string(capacity) +
                     " connections for '" + name + "'";
        }
        return nullptr;
    }
    return std::unique_ptr<ConnTable>(
        new ConnTable(hash, conns, nodes, capacity, now_ms, hash_bytes));
}

ConnTable::ConnTable(rte_hash* hash, Conn* conns, TimerWheel::Node* nodes, uint32_t capacity,
                     uint32_t now_ms, size_t hash_bytes)
    : hash_(hash),
      capacity_(capacity),
      memory_bytes_(hash_bytes + sizeof(Conn) * capacity +
                    sizeof(TimerWheel::Node) * TimerWheel::node_count(capacity)),
      free_head_(kNoConn),
      conns_(conns),
      nodes_(nodes),
      wheel_({nodes, TimerWheel::node_count(capacity)}, capacity, now_ms) {
    for (uint32_t i = capacity; i-- > 0;) {
        conns_[i] = Conn{};
        push_free(i);  // low ids on top
    }
}

void ConnTable::push_free(uint32_t id) {
    conns_[id].rip = free_head_;
    free_head_ = id;
}

ConnTable::~ConnTable() {
    rte_hash_free(hash_);
    rte_free(conns_);
    rte_free(nodes_);
}

void ConnTable::lookup_bulk(const FlowKey* const* keys, uint32_t n, uint32_t* ids) const {
    void* data[kMaxBurst];
    uint64_t hits = 0;
    // rte_hash takes the key array as `const void**`; it only reads through it.
    auto** key_array = const_cast<const void**>(reinterpret_cast<const void* const*>(keys));
    rte_hash_lookup_bulk_data(hash_, key_array, n, &hits, data);
    for (uint32_t i = 0; i < n; ++i) {
        ids[i] = (hits >> i) & 1 ? data_to_id(data[i]) : kNoConn;
    }
}

uint32_t ConnTable::lookup(const FlowKey& key) const {
    void* data = nullptr;
    return rte_hash_lookup_data(hash_, &key, &data) >= 0 ? data_to_id(data) : kNoConn;
}

uint32_t ConnTable::insert(const Conn& conn, uint32_t expires_ms, InsertError& error) {
    if (free_head_ == kNoConn) {
        error = InsertError::full;
        return kNoConn;
    }
    const FlowKey inbound = conn.inbound_key();
    const FlowKey reply = conn.reply_key();
    // Each key hashed once for its conflict lookup, its add and (on failure) its removal.
    const hash_sig_t inbound_sig = rte_hash_hash(hash_, &inbound);
    const hash_sig_t reply_sig = rte_hash_hash(hash_, &reply);
    if (rte_hash_lookup_with_hash(hash_, &inbound, inbound_sig) >= 0 ||
        rte_hash_lookup_with_hash(hash_, &reply, reply_sig) >= 0) {
        error = InsertError::conflict;
        return kNoConn;
    }
    const uint32_t id = free_head_;
    if (rte_hash_add_key_with_hash_data(hash_, &inbound, inbound_sig, id_to_data(id)) != 0) {
        error = InsertError::full;
        return kNoConn;
    }
    if (rte_hash_add_key_with_hash_data(hash_, &reply, reply_sig, id_to_data(id)) != 0) {
        rte_hash_del_key_with_hash(hash_, &inbound, inbound_sig);
        error = InsertError::full;
        return kNoConn;
    }
    free_head_ = conns_[id].rip;
    conns_[id] = conn;
    conns_[id].expires_ms = expires_ms;
    wheel_.schedule(id, expires_ms);
    ++size_;
    error = InsertError::none;
    return id;
}

void ConnTable::remove_keys_and_free(uint32_t id) {
    const Conn& c = conns_[id];
    const FlowKey inbound = c.inbound_key();
    const FlowKey reply = c.reply_key();
    rte_hash_del_key(hash_, &inbound);
    rte_hash_del_key(hash_, &reply);
    push_free(id);
    --size_;
}

void ConnTable::erase(uint32_t id) {
    wheel_.cancel(id);
    remove_keys_and_free(id);
}

}  // namespace vsnat::dp
