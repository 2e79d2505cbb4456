// SPDX-License-Identifier: MIT
// ShutdownOp's SQE.
#include "core/io/shutdown.hpp"

#include <liburing.h>

namespace ringlb::core {

void ShutdownOp::prep(io_uring_sqe* sqe, OpState* /*op*/, const void* self) noexcept {
    const auto* me = static_cast<const ShutdownOp*>(self);
    io_uring_prep_shutdown(sqe, me->fd_, me->how_);
}

}  // namespace ringlb::core
