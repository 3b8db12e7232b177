// The FTP helper on the packet path (LVS's ip_vs_ftp with ip_vs_app's sequence adjustment):
// watches a control connection's commands and replies, records the data connections they
// announce, rewrites the real server's address in 227 replies to the VIP, and shifts sequence
// numbers by what the rewrites added.
//
// PORT and EPRT are not rewritten: under VS/NAT the real server reaches the client's own
// address through the director. The data connection it opens is recorded with the control
// port - 1 as its VIP port (20 for 21), as LVS does, so the client sees it come from VIP:20.
// A watched line must arrive whole in one segment; one that does not is forwarded unmodified
// and counted (ftp_split_lines), as LVS does.
//
// IPv6 control connections (Conn6, RFC 2428) announce data connections with EPSV (229: a port,
// no address) and EPRT family 2 (the client's IPv6 address), neither rewritten; their
// expectations go to a table of their own (ExpectationTable6). PASV and PORT carry IPv4
// addresses only: a 227 reply or a PORT command on an IPv6 control connection, like an EPRT of
// the other family on either, names no host of the connection, so it opens nothing, is
// forwarded unmodified and counted (ftp_foreign_addresses); LVS ignores them too. Nothing on an
// IPv6 control connection changes length, so its sequence numbers never move.
#pragma once

#include <cstdint>

#include "dp/conn.hpp"
#include "dp/parse.hpp"

struct rte_mbuf;

namespace vsnat::dp {

struct WorkerContext;

/// How long a recorded data connection waits for its SYN.
constexpr uint32_t kFtpExpectationTimeoutMs = 10000;

/// Takes helper state for a new control connection of `Record`'s family (Conn or Conn6). Returns
/// FtpControlPool::kNone when the pool is exhausted, or the worker has no pool or no
/// expectation table of that family. Worker thread only.
template <class Record>
uint16_t ftp_acquire(WorkerContext& ctx);

/// Runs the helper on a segment of control connection `c` (c.helper set) sent by `direction`,
/// before the segment's NAT rewrite. The frame may grow or shrink (a 227 rewrite, IPv4 only);
/// `parsed.ip_end` follows it. Worker thread only. Returns false when the segment was dropped
/// (counted, mbuf freed); otherwise the caller still owns the mbuf.
bool ftp_process(WorkerContext& ctx, rte_mbuf* m, ParsedFrame& parsed, Conn& c, Direction direction,
                 uint32_t now_ms);
bool ftp_process(WorkerContext& ctx, rte_mbuf* m, ParsedFrame& parsed, Conn6& c,
                 Direction direction, uint32_t now_ms);

/// Gives back the helper state of control connection `c` (c.helper set), which ends, revoking
/// the data connections it announced and nobody opened. Worker thread only.
void ftp_release(WorkerContext& ctx, const Conn& c);
void ftp_release(WorkerContext& ctx, const Conn6& c);

/// Claims the data connection a SYN (`key`) opens, if the helper expects one: by the client to
/// a VIP (passive mode) or by a real server to the client (active mode). Fills `out` with it,
/// ready to insert. Costs one relaxed load when nothing is expected. Worker thread only.
bool ftp_claim_data_connection(WorkerContext& ctx, const FlowKey& key, uint32_t now_ms, Conn& out);
bool ftp_claim_data_connection(WorkerContext& ctx, const FlowKey6& key, uint32_t now_ms,
                               Conn6& out);

}  // namespace vsnat::dp
