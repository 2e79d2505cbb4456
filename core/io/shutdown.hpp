// SPDX-License-Identifier: MIT
// shutdown(): shut down one or both directions of a socket (SHUT_WR propagates a half-close).
#pragma once

#include <coroutine>

#include "core/io/one_shot.hpp"

namespace ringlb::core {

/// co_await shutdown(fd, SHUT_WR) -> IoResult.
class [[nodiscard]] ShutdownOp : public detail::OneShotAwaiter {
public:
    ShutdownOp(int fd, int how) noexcept : fd_(fd), how_(how) {}
    bool await_suspend(std::coroutine_handle<> h) noexcept { return submit(h, &prep, this); }
    IoResult await_resume() noexcept { return result(); }

private:
    static void prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept;
    int fd_;
    int how_;
};

inline ShutdownOp shutdown(int fd, int how) noexcept {
    return ShutdownOp(fd, how);
}

}  // namespace ringlb::core
