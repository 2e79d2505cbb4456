// SPDX-License-Identifier: MIT
// Why io_uring is unavailable, in one line an operator can act on (the sysctl, a seccomp
// filter, a kernel without it), for the error ringlbd exits with (status 78, EX_CONFIG).
#pragma once

#include <string>

namespace ringlb::daemon {

/// `err`: the errno with which creating a ring failed.
std::string explain_io_uring_failure(int err);

}  // namespace ringlb::daemon
