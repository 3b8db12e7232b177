#include "cp/signals.hpp"

#include <csignal>
#include <initializer_list>

namespace vsnat::cp {
namespace {

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_reload = 0;

void on_signal(int signo) {
    if (signo == SIGHUP) {
        g_reload = 1;
    } else {
        g_stop = 1;
    }
}

}  // namespace

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int signo : {SIGTERM, SIGINT, SIGHUP}) {
        sigaction(signo, &sa, nullptr);
    }
}

bool stop_requested() {
    return g_stop != 0;
}

bool take_reload_request() {
    if (g_reload == 0) {
        return false;
    }
    g_reload = 0;
    return true;
}

}  // namespace vsnat::cp
