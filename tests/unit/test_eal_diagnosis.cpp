// Why EAL refused to start, when it does not say: where EAL keeps its shared configuration for
// a --file-prefix, and which other process holds that file's lock.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "cp/dpdk_handles.hpp"

using namespace vsnat::cp;

TEST_CASE("EAL's config file follows --file-prefix, and is none in memory", "[eal]") {
    // As EAL's eal_create_runtime_dir: /var/run for root, else $XDG_RUNTIME_DIR (or /tmp).
    setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
    const std::string base = getuid() == 0 ? "/var/run/dpdk/" : "/run/user/4242/dpdk/";
    CHECK(eal_config_path({"vsnatd", "-l", "0-1", "--file-prefix", "lab", "--no-pci"}) ==
          base + "lab/config");
    CHECK(eal_config_path({"vsnatd", "--file-prefix=lab2"}) == base + "lab2/config");
    CHECK(eal_config_path({"vsnatd", "-l", "0-1"}) == base + "rte/config");
    CHECK(eal_config_path({"vsnatd", "--file-prefix", "x", "--in-memory"}) == std::nullopt);
    CHECK(eal_config_path({"vsnatd", "--no-shconf"}) == std::nullopt);
}

TEST_CASE("the process holding EAL's config lock is found", "[eal]") {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("vsnat-test-eal-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string config = (dir / "config").string();
    std::ofstream(config) << std::string(4096, '\0');
    CHECK(eal_config_holder((dir / "none").string()) == std::nullopt);
    CHECK(eal_config_holder(config) == std::nullopt);

    // A child locks part of the file as EAL's primary process does, and waits to be told to go.
    int go[2];
    int locked[2];
    REQUIRE(pipe(go) == 0);
    REQUIRE(pipe(locked) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        const int fd = open(config.c_str(), O_RDWR);
        struct flock lock {};
        lock.l_type = F_WRLCK;
        lock.l_whence = SEEK_SET;
        lock.l_start = 128;
        lock.l_len = 1024;
        const char ok = fd >= 0 && fcntl(fd, F_SETLK, &lock) == 0 ? 'y' : 'n';
        (void)!write(locked[1], &ok, 1);
        char c;
        (void)!read(go[0], &c, 1);
        _exit(0);
    }
    char ok = 'n';
    REQUIRE(read(locked[0], &ok, 1) == 1);
    CHECK(ok == 'y');
    CHECK(eal_config_holder(config) == child);
    (void)!write(go[1], "x", 1);
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(eal_config_holder(config) == std::nullopt);

    // The caller's own lock is no other process's.
    const int fd = open(config.c_str(), O_RDWR);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    REQUIRE(fcntl(fd, F_SETLK, &lock) == 0);
    CHECK(eal_config_holder(config) == std::nullopt);
    close(fd);
    for (int p : {go[0], go[1], locked[0], locked[1]}) {
        close(p);
    }
    std::filesystem::remove_all(dir);
}
