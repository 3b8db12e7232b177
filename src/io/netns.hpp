// Network namespaces by name, as iproute2 keeps them (/run/netns/NAME): the kernel side of a
// port's kernel mirror interface lives in one, so that BIRD, keepalived or sshd run there.
// Plain Linux, no DPDK.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>

namespace vsnat::io {

/// Where named network namespaces are bind-mounted (iproute2's NETNS_RUN_DIR).
inline constexpr const char* kNetnsDirectory = "/run/netns";

/// A network namespace held open: vsnatd's own, or one named under /run/netns. Move-only.
///
/// A namespace this object created is removed when the object goes (as `ip netns del` does:
/// its file is unmounted and unlinked; processes still inside keep it alive, nameless). A
/// namespace that existed before is never removed.
///
/// Removal survives a vsnatd that dies without running destructors (kill -9, a crash): on
/// creating a namespace, open_or_create forks a guard process, named "vsnatd-netns", that holds
/// the read end of a pipe whose write end only vsnatd holds (close-on-exec). The guard closes
/// every other descriptor, ignores SIGINT, SIGTERM and SIGHUP (a Ctrl-C to the process group
/// must not end it before vsnatd has removed the namespace) and waits in read(). One byte from
/// the destructor means "removed it myself": it exits and the destructor reaps it. End of file
/// without that byte means vsnatd is gone: it removes /run/netns/NAME and exits. What it
/// cannot survive is SIGKILL sent to it as well (`kill -9 -PGID`, or a service manager's final
/// SIGKILL to the whole group before the guard has run).
class NetworkNamespace {
  public:
    /// Opens /run/netns/`name`, which must be a network namespace, or, when there is no such
    /// file, creates it as `ip netns add` does (iproute2 ip/ipnetns.c, netns_add) with its
    /// loopback interface up, and forks its guard. `name` is one path component. Main thread,
    /// early at start-up: the guard is forked, so the process should have few threads and no
    /// EAL yet. Needs CAP_SYS_ADMIN to create. On failure returns nullopt with `error` set to
    /// one line; anything it had created is removed again.
    static std::optional<NetworkNamespace> open_or_create(const std::string& name,
                                                          std::string& error);

    /// vsnatd's own network namespace (/proc/self/ns/net), with an empty name. Never removed.
    /// Any thread. On failure returns nullopt with `error` set.
    static std::optional<NetworkNamespace> current(std::string& error);

    /// Removes the namespace if this object created it, then tells its guard so and reaps it.
    /// The thread that owns the object.
    ~NetworkNamespace();
    NetworkNamespace(NetworkNamespace&& other) noexcept;
    NetworkNamespace& operator=(NetworkNamespace&& other) noexcept;
    NetworkNamespace(const NetworkNamespace&) = delete;
    NetworkNamespace& operator=(const NetworkNamespace&) = delete;

    /// A descriptor of the namespace (for setns() or IFLA_NET_NS_FD), valid while this object
    /// lives. Any thread.
    int fd() const { return fd_; }
    /// The name under /run/netns; empty for vsnatd's own namespace. Any thread.
    const std::string& name() const { return name_; }
    /// Whether this object created the namespace (and so removes it). Any thread.
    bool created() const { return created_; }
    /// "network namespace NAME", or "vsnatd's network namespace": for messages.
    std::string describe() const;

    /// A socket(domain, type, protocol) that belongs to this namespace: it is created by a
    /// short-lived thread that setns()es into it, and a socket stays in the namespace it was
    /// made in whichever thread then uses it. SOCK_CLOEXEC is added to `type`. Any thread,
    /// while this object lives; the caller owns the descriptor. Returns -1 with `error` set to
    /// one line on failure.
    int open_socket(int domain, int type, int protocol, std::string& error) const;

  private:
    NetworkNamespace(std::string name, bool created) : name_(std::move(name)), created_(created) {}
    bool start_guard(const std::string& path, std::string& error);
    void release();

    std::string name_;
    int fd_ = -1;
    bool created_ = false;
    int guard_fd_ = -1;  // the pipe's write end; -1 without a guard
    pid_t guard_pid_ = -1;
};

}  // namespace vsnat::io
