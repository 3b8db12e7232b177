// libFuzzer target: the sync message decoder (dp/sync_wire) on arbitrary datagrams.
// - decode() never reads outside the datagram (ASan: libFuzzer hands over a heap copy of exactly
//   `size` bytes), whatever it returns.
// - What it returns keeps its promises: TCP or UDP records only, each (templates aside) with a
//   state in its protocol's range; a clean message accounts for all nr_conns of its records.
// - What it read (every record of a clean message, or those before a fault) written again by
//   MessageWriter decodes to the same records, nothing skipped.
// - Another sync group's filter refuses any message whose header was read.
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "dp/sync_wire.hpp"

namespace {

namespace sync = vsnat::dp::sync;

void require(bool ok) {
    if (!ok) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> datagram(data, size);
    sync::Decoded d;
    const sync::DecodeError e = sync::decode(datagram, 0, d);
    require(static_cast<size_t>(e) < sync::kDecodeErrorCount);

    const auto kept = [](const auto& r) {
        require(r.protocol == 6 || r.protocol == 17);
        require((r.flags & sync::kConnTemplate) || sync::conn_state_of(r.protocol, r.state));
    };
    std::for_each(d.records.begin(), d.records.end(), kept);
    std::for_each(d.records6.begin(), d.records6.end(), kept);
    if (e == sync::DecodeError::none) {
        require(d.records.size() + d.records6.size() + d.skipped() == data[4]);
    }

    // Written again (each family's records in their order), read the same.
    sync::MessageWriter w(sync::kMaxMessageSize);
    w.begin(d.syncid);
    for (const sync::Record& r : d.records) {
        require(w.add(r));
    }
    for (const sync::Record6& r : d.records6) {
        require(w.add(r));
    }
    sync::Decoded again;
    require(sync::decode(w.finish(), d.syncid, again) == sync::DecodeError::none);
    require(again.syncid == d.syncid && again.records == d.records &&
            again.records6 == d.records6 && again.skipped() == 0);

    if (e != sync::DecodeError::too_short && e != sync::DecodeError::bad_size) {
        const auto other = static_cast<uint8_t>(d.syncid == 255 ? 1 : d.syncid + 1);
        require(sync::decode(datagram, other, again) == sync::DecodeError::foreign_syncid);
        require(again.records.empty() && again.records6.empty());
    }
    return 0;
}
