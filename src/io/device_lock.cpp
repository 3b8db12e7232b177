#include "io/device_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "io/port.hpp"

namespace vsnat::io {
namespace {

// The vdev arguments that name a kernel interface (DPDK 22.11: net_af_packet and net_af_xdp
// take iface=; net_pcap takes iface=, rx_iface=, rx_iface_in= and tx_iface=).
constexpr std::array<std::string_view, 4> kInterfaceArguments{"iface", "rx_iface", "rx_iface_in",
                                                              "tx_iface"};

bool all_hex(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

// "0000:3b:00.0" or "3b:00.0" (domain 0), lower case; empty when `name` is no PCI address.
std::string pci_address(std::string_view name) {
    std::string domain = "0000";
    const size_t first = name.find(':');
    if (first == 4 && name.size() == 12) {
        domain = name.substr(0, 4);
        name.remove_prefix(5);
    }
    if (name.size() != 7 || name[2] != ':' || name[5] != '.' || !all_hex(domain) ||
        !all_hex(name.substr(0, 2)) || !all_hex(name.substr(3, 2)) || name[6] < '0' ||
        name[6] > '7') {
        return "";
    }
    std::string out = domain + ":" + std::string(name);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// A file name that says what it locks and cannot leave the directory.
std::string file_safe(std::string_view text) {
    std::string out;
    for (const unsigned char c : text) {
        if (std::isalnum(c) != 0 || c == '.' || c == '-' || c == '_' || c == ':') {
            out += static_cast<char>(c);
        } else {
            char hex[4];
            std::snprintf(hex, sizeof(hex), "%%%02X", c);
            out += hex;
        }
    }
    return out;
}

// "pid N (its command line)", from /proc; "pid N" when that cannot be read.
std::string describe_process(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::ostringstream raw;
    raw << in.rdbuf();
    std::string cmdline = raw.str();
    while (!cmdline.empty() && cmdline.back() == '\0') {
        cmdline.pop_back();
    }
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    return "pid " + std::to_string(pid) + (cmdline.empty() ? "" : " (" + cmdline + ")");
}

// The whole file, from its start to any length.
struct flock whole_file(short type) {
    struct flock l {};
    l.l_type = type;
    l.l_whence = SEEK_SET;
    return l;
}

}  // namespace

std::vector<std::string> device_lock_names(const std::string& device) {
    const std::string name = port_name(device);
    if (const std::string pci = pci_address(name); !pci.empty()) {
        return {"pci-" + file_safe(pci)};
    }
    std::vector<std::string> out;
    std::string_view rest = std::string_view(device).substr(name.size());
    while (!rest.empty()) {
        rest.remove_prefix(1);  // the comma
        const std::string_view argument = rest.substr(0, rest.find(','));
        rest.remove_prefix(argument.size());
        const size_t eq = argument.find('=');
        if (eq == std::string_view::npos || eq + 1 == argument.size() ||
            std::find(kInterfaceArguments.begin(), kInterfaceArguments.end(),
                      argument.substr(0, eq)) == kInterfaceArguments.end()) {
            continue;
        }
        std::string lock = "iface-" + file_safe(argument.substr(eq + 1));
        if (std::find(out.begin(), out.end(), lock) == out.end()) {
            out.push_back(std::move(lock));
        }
    }
    return out;
}

DeviceLocks::~DeviceLocks() {
    for (const Held& h : held_) {
        ::close(h.fd);
    }
}

bool DeviceLocks::lock(const std::string& name, std::string& error) {
    if (std::any_of(held_.begin(), held_.end(), [&](const Held& h) { return h.name == name; })) {
        return true;
    }
    const std::string path = directory_ + "/" + name + ".lock";
    if (::mkdir(directory_.c_str(), 0755) != 0 && errno != EEXIST) {
        error = "cannot create " + directory_ + " for the device locks: " + std::strerror(errno);
        return false;
    }
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        error = "cannot open " + path + ": " + std::strerror(errno);
        return false;
    }
    struct flock want = whole_file(F_WRLCK);
    if (::fcntl(fd, F_SETLK, &want) != 0) {
        const int err = errno;
        struct flock holder = whole_file(F_WRLCK);
        const bool known = (err == EAGAIN || err == EACCES) && ::fcntl(fd, F_GETLK, &holder) == 0 &&
                           holder.l_type != F_UNLCK;
        error = known ? "held by " + describe_process(holder.l_pid) + " (lock " + path + ")"
                      : "cannot lock " + path + ": " + std::strerror(err);
        ::close(fd);
        return false;
    }
    // The PID in the file is for people (`cat /run/vsnat/*.lock`); the lock holds without it.
    const std::string pid = std::to_string(::getpid()) + "\n";
    [[maybe_unused]] const bool written =
        ::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) > 0;
    held_.push_back({name, fd});
    return true;
}

}  // namespace vsnat::io
