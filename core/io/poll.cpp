// SPDX-License-Identifier: MIT
// PollOp's SQE.
#include "core/io/poll.hpp"

#include <liburing.h>

namespace ringlb::core {

void PollOp::prep(io_uring_sqe* sqe, OpState* /*op*/, const void* self) noexcept {
    const auto* me = static_cast<const PollOp*>(self);
    io_uring_prep_poll_add(sqe, me->fd_, me->mask_);
}

}  // namespace ringlb::core
