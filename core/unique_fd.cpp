// SPDX-License-Identifier: MIT
// UniqueFd's out-of-line close.
#include "core/unique_fd.hpp"

#include <unistd.h>

namespace ringlb::core {

void UniqueFd::reset(int fd) noexcept {
    if (fd_ >= 0) {
        // close() errors other than EBADF leave the fd closed on Linux; nothing to retry.
        ::close(fd_);
    }
    fd_ = fd;
}

}  // namespace ringlb::core
