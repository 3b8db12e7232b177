// Signals for the daemon: the handlers only set flags; the control loop acts on them.
#pragma once

namespace vsnat::cp {

/// Installs handlers for SIGTERM, SIGINT (stop) and SIGHUP (reload). Main thread, once.
void install_signal_handlers();
bool stop_requested();
/// True once per SIGHUP received since the last call.
bool take_reload_request();

}  // namespace vsnat::cp
