// vsnatd's DPDK telemetry commands (/vsnat/stats, /vsnat/services, /vsnat/real_servers), read
// by column (one array per counter, one entry per row), with
// dpdk-telemetry.py or any client of /var/run/dpdk/<prefix>/dpdk_telemetry.v2.
#pragma once

namespace vsnat::cp {

class Daemon;

/// Registers the commands, answering from `daemon`. Main thread, after workers start.
void register_telemetry(Daemon& daemon);
/// Makes the commands answer with an error from now on (before the daemon is torn down).
void unregister_telemetry();

}  // namespace vsnat::cp
