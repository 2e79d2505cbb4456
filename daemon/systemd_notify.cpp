// SPDX-License-Identifier: MIT
// sd_notify(3), sd_watchdog_enabled(3) and sd_listen_fds_with_names(3), when built with
// libsystemd; without it (a build without the package) everything is a no-op.
#include "daemon/systemd_notify.hpp"

#include <fcntl.h>

#include <cstdlib>

#ifdef RINGLB_HAVE_SYSTEMD
#    include <systemd/sd-daemon.h>
#endif

namespace ringlb::daemon {
namespace {

void notify(const std::string& message) {
#ifdef RINGLB_HAVE_SYSTEMD
    (void)sd_notify(0, message.c_str());
#else
    (void)message;
#endif
}

}  // namespace

void notify_ready(const std::string& status) {
    notify("READY=1\nSTATUS=" + status);
}

void notify_reloading() {
    notify("RELOADING=1\nSTATUS=reloading");
}

void notify_stopping(const std::string& status) {
    notify("STOPPING=1\nSTATUS=" + status);
}

void notify_status(const std::string& status) {
    notify("STATUS=" + status);
}

void notify_watchdog() {
    notify("WATCHDOG=1");
}

std::chrono::microseconds watchdog_interval() {
#ifdef RINGLB_HAVE_SYSTEMD
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0) {
        return std::chrono::microseconds(usec);
    }
#endif
    return std::chrono::microseconds(0);
}

std::map<std::string, int> inherited_listeners() {
    std::map<std::string, int> out;
#ifdef RINGLB_HAVE_SYSTEMD
    char** names = nullptr;
    // unset_environment: children (none) must not think the sockets are theirs.
    const int n = sd_listen_fds_with_names(1, &names);
    for (int i = 0; i < n; ++i) {
        const int fd = SD_LISTEN_FDS_START + i;
        if (sd_is_socket(fd, 0, SOCK_STREAM, 1) > 0) {
            (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            out[names != nullptr && names[i] != nullptr ? names[i] : std::to_string(fd)] = fd;
        }
    }
    if (names != nullptr) {
        for (int i = 0; i < n; ++i) {
            std::free(names[i]);
        }
        std::free(names);
    }
#endif
    return out;
}

}  // namespace ringlb::daemon
