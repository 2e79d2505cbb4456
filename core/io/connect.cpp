// SPDX-License-Identifier: MIT
// ConnectOp's SQE.
#include "core/io/connect.hpp"

#include <liburing.h>

#include <cstring>

#include "core/uring/op_state.hpp"

namespace ringlb::core {

void ConnectOp::prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept {
    const auto* me = static_cast<const ConnectOp*>(self);
    // Lifetime: the kernel may read the address after submission; it lives in the OpState.
    std::memcpy(&op->addr, me->addr_.get(), me->addr_.length());
    op->addrlen = me->addr_.length();
    io_uring_prep_connect(sqe, me->fd_, reinterpret_cast<sockaddr*>(&op->addr), op->addrlen);
}

}  // namespace ringlb::core
