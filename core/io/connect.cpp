// SPDX-License-Identifier: MIT
// ConnectOp's SQE.
#include "core/io/connect.hpp"

#include <liburing.h>

#include <cstring>

#include "core/assert.hpp"
#include "core/uring/op_state.hpp"

namespace ringlb::core {

void ConnectOp::prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept {
    const auto* me = static_cast<const ConnectOp*>(self);
    // Lifetime: the kernel may read the address after submission; it lives in the OpState.
    RINGLB_CHECK(me->addr_.length() <= sizeof op->addr, "connect: not an IPv4/IPv6 address");
    std::memcpy(&op->addr, me->addr_.get(), me->addr_.length());
    op->addrlen = me->addr_.length();
    io_uring_prep_connect(sqe, me->fd_, reinterpret_cast<sockaddr*>(&op->addr), op->addrlen);
}

}  // namespace ringlb::core
