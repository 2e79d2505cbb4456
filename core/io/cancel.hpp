// SPDX-License-Identifier: MIT
// cancel_fd(): cancel every operation pending on a descriptor on the current worker's ring;
// each cancelled awaiter resumes with -ECANCELED.
#pragma once

#include <coroutine>

#include "core/io/one_shot.hpp"

namespace ringlb::core {

/// co_await cancel_fd(fd) -> IoResult (the number cancelled, or -ENOENT if none).
class [[nodiscard]] CancelFdOp : public detail::OneShotAwaiter {
public:
    explicit CancelFdOp(int fd) noexcept : fd_(fd) {}
    bool await_suspend(std::coroutine_handle<> h) noexcept { return submit(h, &prep, this); }
    IoResult await_resume() noexcept { return result(); }

private:
    static void prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept;
    int fd_;
};

inline CancelFdOp cancel_fd(int fd) noexcept {
    return CancelFdOp(fd);
}

}  // namespace ringlb::core
