// SPDX-License-Identifier: MIT
// SleepOp: a relative IORING_OP_TIMEOUT whose -ETIME means "elapsed".
#include "core/timer.hpp"

#include <liburing.h>

#include <cerrno>

#include "core/uring/op_state.hpp"

namespace ringlb::core {

void SleepOp::prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept {
    const auto ns = static_cast<const SleepOp*>(self)->duration_.count();
    // Lifetime: the kernel reads the timespec after submission; it lives in the OpState.
    op->ts.tv_sec = ns / 1'000'000'000;
    op->ts.tv_nsec = ns % 1'000'000'000;
    io_uring_prep_timeout(sqe, &op->ts, 0, 0);
}

IoResult SleepOp::await_resume() noexcept {
    const IoResult r = result();
    return r.is(std::errc::stream_timeout) ? IoResult::from_res(0) : r;
}

}  // namespace ringlb::core
