#include "io/netns.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <system_error>
#include <thread>
#include <utility>

#include "io/rtnetlink.hpp"

namespace vsnat::io {
namespace {

std::string netns_path(const std::string& name) {
    return std::string(kNetnsDirectory) + "/" + name;
}

// iproute2 takes any one path component (is_valid_netns_name); so do we.
bool valid_name(const std::string& name, std::string& error) {
    if (name.empty() || name.size() > NAME_MAX || name == "." || name == ".." ||
        name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
        error = "invalid network namespace name '" + name +
                "': one path component of 1 to 255 characters, not '.' or '..'";
        return false;
    }
    return true;
}

// "" when `fd` is a network namespace; else why not.
std::string not_a_netns(int fd) {
    struct statfs fs {};
    if (::fstatfs(fd, &fs) != 0) {
        return std::strerror(errno);
    }
    if (fs.f_type != NSFS_MAGIC) {
        return "not a namespace (a file left behind? `ip netns del` removes it)";
    }
    const int type = ::ioctl(fd, NS_GET_NSTYPE);
    if (type != CLONE_NEWNET) {
        return type < 0 ? std::string("cannot tell its type: ") + std::strerror(errno)
                        : "a namespace, but not a network namespace";
    }
    return "";
}

// Makes /run/netns a shared mount, bind-mounting it onto itself first when it is no mount point
// (EINVAL), so that unmounting a namespace's file here unmounts it in every mount namespace, and
// the namespace can go. Under an exclusive flock of the directory, as iproute2 does since
// Debian bug 949235 (parallel `ip netns add` stacking mounts); without the lock when it cannot
// be taken, as there too.
bool share_directory(std::string& error) {
    const char* dir = kNetnsDirectory;
    const int lock = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock < 0) {
        error = std::string("cannot open ") + dir + ": " + std::strerror(errno);
        return false;
    }
    const bool locked = ::flock(lock, LOCK_EX) == 0;
    bool made_mount_point = false;
    bool ok = true;
    while (::mount("", dir, "none", MS_SHARED | MS_REC, nullptr) != 0) {
        if (errno != EINVAL || made_mount_point) {
            error = std::string("cannot make ") + dir + " a shared mount: " + std::strerror(errno);
            ok = false;
            break;
        }
        if (::mount(dir, dir, "none", MS_BIND | MS_REC, nullptr) != 0) {
            error =
                std::string("cannot bind-mount ") + dir + " onto itself: " + std::strerror(errno);
            ok = false;
            break;
        }
        made_mount_point = true;
    }
    if (locked) {
        ::flock(lock, LOCK_UN);
    }
    ::close(lock);
    return ok;
}

// The guard process (see netns.hpp). Runs in the child of a fork() from a process that may
// have other threads: only async-signal-safe calls, nothing allocated.
[[noreturn]] void guard_main(int read_fd, int write_fd, const char* path) {
    ::close(write_fd);  // first, whatever else fails: holding it, we would never see EOF
    if (read_fd > 0) {
        ::close_range(0, static_cast<unsigned>(read_fd) - 1, 0);
    }
    ::close_range(static_cast<unsigned>(read_fd) + 1, ~0U, 0);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
        ::sigaction(sig, &ignore, nullptr);
    }
    ::prctl(PR_SET_NAME, "vsnatd-netns", 0, 0, 0);
    char byte = 0;
    ssize_t n = 0;
    do {
        n = ::read(read_fd, &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) {
        ::umount2(path, MNT_DETACH);
        ::unlink(path);
    }
    ::_exit(0);
}

// Runs `work` on a short-lived thread of its own (setns and unshare of CLONE_NEWNET change only
// the calling thread's namespace); false with `error` set when no thread can be started.
template <typename Work>
bool on_own_thread(Work&& work, std::string& error) {
    try {
        std::thread(std::forward<Work>(work)).join();
        return true;
    } catch (const std::system_error& e) {
        error = std::string("cannot start a thread: ") + e.what();
        return false;
    }
}

}  // namespace

std::optional<NetworkNamespace> NetworkNamespace::open_or_create(const std::string& name,
                                                                 std::string& error) {
    if (!valid_name(name, error)) {
        return std::nullopt;
    }
    const std::string path = netns_path(name);
    NetworkNamespace existing(name, false);
    existing.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (existing.fd_ >= 0) {
        if (const std::string why = not_a_netns(existing.fd_); !why.empty()) {
            error = path + ": " + why;
            return std::nullopt;
        }
        return existing;
    }
    if (errno != ENOENT) {
        error = "cannot open " + path + ": " + std::strerror(errno);
        return std::nullopt;
    }

    // Created as ip/ipnetns.c netns_add does it: the directory, shared; the file, exclusively;
    // a new namespace bind-mounted onto it.
    if (::mkdir(kNetnsDirectory, 0755) != 0 && errno != EEXIST) {
        error = std::string("cannot create ") + kNetnsDirectory + ": " + std::strerror(errno);
        return std::nullopt;
    }
    if (!share_directory(error)) {
        return std::nullopt;
    }
    const int file = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (file < 0) {
        error = "cannot create " + path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    ::close(file);
    // From here the file is ours: `ns` going on any failure below removes it (and its guard).
    NetworkNamespace ns(name, true);
    if (!ns.start_guard(path, error)) {
        return std::nullopt;
    }
    const char* step = nullptr;
    int err = 0;
    const bool ran = on_own_thread(
        [&] {
            if (::unshare(CLONE_NEWNET) != 0) {
                step = "cannot create network namespace ";
            } else if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND,
                               nullptr) != 0) {
                step = "cannot bind-mount a new network namespace onto ";
            }
            err = errno;
        },
        error);
    if (!ran) {
        return std::nullopt;
    }
    if (step != nullptr) {
        error = step + path + ": " + std::strerror(err);
        return std::nullopt;
    }
    ns.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns.fd_ < 0) {
        error = "cannot open " + path + " after creating it: " + std::strerror(errno);
        return std::nullopt;
    }
    // A new namespace's loopback is down; what runs there expects it up.
    std::optional<RtNetlink> nl = RtNetlink::open(ns, error);
    if (!nl) {
        return std::nullopt;
    }
    const std::optional<int> lo = nl->link_index("lo", error);
    if (!lo || !nl->set_up(*lo, true, error)) {
        return std::nullopt;
    }
    return ns;
}

std::optional<NetworkNamespace> NetworkNamespace::current(std::string& error) {
    NetworkNamespace ns("", false);
    ns.fd_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (ns.fd_ < 0) {
        error = std::string("cannot open /proc/self/ns/net: ") + std::strerror(errno);
        return std::nullopt;
    }
    return ns;
}

bool NetworkNamespace::start_guard(const std::string& path, std::string& error) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        error = std::string("cannot make a pipe for the namespace guard: ") + std::strerror(errno);
        return false;
    }
    const char* c_path = path.c_str();  // prepared before fork: the child allocates nothing
    const pid_t pid = ::fork();
    if (pid < 0) {
        error = std::string("cannot fork the namespace guard: ") + std::strerror(errno);
        ::close(fds[0]);
        ::close(fds[1]);
        return false;
    }
    if (pid == 0) {
        guard_main(fds[0], fds[1], c_path);
    }
    ::close(fds[0]);
    guard_fd_ = fds[1];
    guard_pid_ = pid;
    return true;
}

std::string NetworkNamespace::describe() const {
    return name_.empty() ? "vsnatd's network namespace" : "network namespace " + name_;
}

int NetworkNamespace::open_socket(int domain, int type, int protocol, std::string& error) const {
    int fd = -1;
    const char* step = nullptr;
    int err = 0;
    const bool ran = on_own_thread(
        [&] {
            if (::setns(fd_, CLONE_NEWNET) != 0) {
                step = "cannot enter ";
            } else if (fd = ::socket(domain, type | SOCK_CLOEXEC, protocol); fd < 0) {
                step = "cannot open a socket in ";
            }
            err = errno;
        },
        error);
    if (!ran) {
        return -1;
    }
    if (step != nullptr) {
        error = step + describe() + ": " + std::strerror(err);
        return -1;
    }
    return fd;
}

void NetworkNamespace::release() {
    if (created_) {
        const std::string path = netns_path(name_);
        ::umount2(path.c_str(), MNT_DETACH);
        ::unlink(path.c_str());
    }
    if (fd_ >= 0) {
        ::close(fd_);
    }
    if (guard_fd_ >= 0) {
        const char done = 1;
        [[maybe_unused]] const ssize_t n = ::write(guard_fd_, &done, 1);
        ::close(guard_fd_);
    }
    if (guard_pid_ > 0) {
        while (::waitpid(guard_pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
    fd_ = -1;
    created_ = false;
    guard_fd_ = -1;
    guard_pid_ = -1;
}

NetworkNamespace::~NetworkNamespace() {
    release();
}

NetworkNamespace::NetworkNamespace(NetworkNamespace&& other) noexcept
    : name_(std::move(other.name_)),
      fd_(std::exchange(other.fd_, -1)),
      created_(std::exchange(other.created_, false)),
      guard_fd_(std::exchange(other.guard_fd_, -1)),
      guard_pid_(std::exchange(other.guard_pid_, -1)) {}

NetworkNamespace& NetworkNamespace::operator=(NetworkNamespace&& other) noexcept {
    if (this != &other) {
        release();
        name_ = std::move(other.name_);
        fd_ = std::exchange(other.fd_, -1);
        created_ = std::exchange(other.created_, false);
        guard_fd_ = std::exchange(other.guard_fd_, -1);
        guard_pid_ = std::exchange(other.guard_pid_, -1);
    }
    return *this;
}

}  // namespace vsnat::io
