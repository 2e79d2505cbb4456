// SPDX-License-Identifier: MIT
// CloseOp's SQE.
#include "core/io/close.hpp"

#include <liburing.h>

namespace ringlb::core {

void CloseOp::prep(io_uring_sqe* sqe, OpState* /*op*/, const void* self) noexcept {
    io_uring_prep_close(sqe, static_cast<const CloseOp*>(self)->fd_);
}

}  // namespace ringlb::core
