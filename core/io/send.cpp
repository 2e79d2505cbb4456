// SPDX-License-Identifier: MIT
// SendOp's SQE and the send_all() loop.
#include "core/io/send.hpp"

#include <liburing.h>
#include <sys/socket.h>

#include <cerrno>

#include "core/assert.hpp"
#include "core/uring/op_state.hpp"

namespace ringlb::core {

void SendOp::prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept {
    const auto* me = static_cast<const SendOp*>(self);
    RINGLB_ASSERT(me->offset_ + me->len_ <= op->buf.size());
    io_uring_prep_send(sqe, me->fd_, op->buf.data() + me->offset_, me->len_, MSG_NOSIGNAL);
}

Task<Sent> send_all(int fd, Buffer buf, std::size_t len, Deadline deadline) {
    std::size_t done = 0;
    while (done < len) {
        Sent out = co_await send(fd, std::move(buf), done, len - done, deadline);
        buf = std::move(out.buf);
        if (!out.n) {
            co_return Sent{out.n, std::move(buf)};
        }
        if (out.n.value() == 0) {
            co_return Sent{IoResult::from_errno(EPIPE), std::move(buf)};  // no progress
        }
        done += out.n.value();
    }
    co_return Sent{IoResult::from_res(static_cast<std::int32_t>(len)), std::move(buf)};
}

}  // namespace ringlb::core
