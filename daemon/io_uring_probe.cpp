// SPDX-License-Identifier: MIT
// explain_io_uring_failure(): errno plus what the system says about io_uring.
#include "daemon/io_uring_probe.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace ringlb::daemon {
namespace {

// -1 when the sysctl does not exist (kernels before 6.6).
int read_sysctl(const char* path) {
    std::ifstream in(path);
    int value = -1;
    if (!(in >> value)) {
        return -1;
    }
    return value;
}

}  // namespace

std::string explain_io_uring_failure(int err) {
    const std::string base = std::string("io_uring is unavailable: io_uring_setup failed with ")
            + strerrorname_np(err) + " (" + std::strerror(err) + "): ";
    if (err == ENOSYS) {
        return base + "this kernel has no io_uring, or a seccomp filter hides it";
    }
    if (err == EPERM) {
        const int disabled = read_sysctl("/proc/sys/kernel/io_uring_disabled");
        if (disabled == 2) {
            return base + "it is disabled by sysctl kernel.io_uring_disabled=2";
        }
        if (disabled == 1) {
            return base
                    + "sysctl kernel.io_uring_disabled=1 allows it only to root and the group "
                      "in kernel.io_uring_group";
        }
        return base + "denied by a seccomp filter or the container's security policy";
    }
    if (err == ENOMEM) {
        return base + "not enough locked memory (raise LimitMEMLOCK / ulimit -l)";
    }
    return base + "ringlbd needs io_uring (Linux 6.1 or newer)";
}

}  // namespace ringlb::daemon
