// SPDX-License-Identifier: MIT
// CancelFdOp's SQE.
#include "core/io/cancel.hpp"

#include <liburing.h>

namespace ringlb::core {

void CancelFdOp::prep(io_uring_sqe* sqe, OpState* /*op*/, const void* self) noexcept {
    io_uring_prep_cancel_fd(
            sqe, static_cast<const CancelFdOp*>(self)->fd_, IORING_ASYNC_CANCEL_ALL);
}

}  // namespace ringlb::core
