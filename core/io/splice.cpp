// SPDX-License-Identifier: MIT
// SpliceOp's and PollOp's SQEs.
#include "core/io/splice.hpp"

#include <fcntl.h>
#include <liburing.h>

namespace ringlb::core {

SpliceOp splice(int in, int out, std::uint32_t len, std::shared_ptr<void> keep) noexcept {
    return SpliceOp(in, out, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK, std::move(keep));
}

void SpliceOp::prep(io_uring_sqe* sqe, OpState* /*op*/, const void* self) noexcept {
    const auto* me = static_cast<const SpliceOp*>(self);
    io_uring_prep_splice(sqe, me->in_, -1, me->out_, -1, me->len_, me->flags_);
}

void PollOp::prep(io_uring_sqe* sqe, OpState* /*op*/, const void* self) noexcept {
    const auto* me = static_cast<const PollOp*>(self);
    io_uring_prep_poll_add(sqe, me->fd_, me->mask_);
}

}  // namespace ringlb::core
