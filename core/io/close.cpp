// SPDX-License-Identifier: MIT
// CloseOp's SQE.
#include "core/io/close.hpp"

#include <liburing.h>
#include <unistd.h>

#include <cerrno>

namespace ringlb::core {

void CloseOp::prep(io_uring_sqe* sqe, OpState* /*op*/, const void* self) noexcept {
    io_uring_prep_close(sqe, static_cast<const CloseOp*>(self)->fd_.get());
}

IoResult CloseOp::await_resume() noexcept {
    if (!submitted() && fd_) {
        // The ring was full: close here rather than leak the descriptor.
        const int rc = ::close(fd_.release());
        return rc == 0 ? IoResult::from_res(0) : IoResult::from_errno(errno);
    }
    return result();
}

}  // namespace ringlb::core
