// SPDX-License-Identifier: MIT
// RecvOp's SQE.
#include "core/io/recv.hpp"

#include <liburing.h>

#include "core/uring/op_state.hpp"

namespace ringlb::core {

void RecvOp::prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept {
    const auto* me = static_cast<const RecvOp*>(self);
    io_uring_prep_recv(sqe, me->fd_, op->buf.data(), op->buf.size(), 0);
}

}  // namespace ringlb::core
