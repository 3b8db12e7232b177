// vsnatd's DPDK telemetry commands (/vsnat/stats, /vsnat/services, /vsnat/real_servers,
// /vsnat/conns, /vsnat/reload), read by column (one array per counter, one entry per row), with
// vsnatctl, dpdk-telemetry.py or any client of /var/run/dpdk/<prefix>/dpdk_telemetry.v2.
#pragma once

#include <string>

namespace vsnat::cp {

class Daemon;

/// Registers the commands, answering from `daemon` from now on. Main thread, once the daemon
/// is ready (`vsnatctl` answering is the sign that it is). False, with `error` set, when DPDK
/// refuses a command.
bool register_telemetry(Daemon& daemon, std::string& error);
/// Makes the commands answer with an error from now on, and returns once the calls in flight
/// have returned: after it the daemon may go. Main thread, when stopping.
void unregister_telemetry();

}  // namespace vsnat::cp
