// SPDX-License-Identifier: MIT
// poll(): wait until a socket is readable or writable (IORING_OP_POLL_ADD). The splice relay
// path waits with it, then moves bytes with splice(2) calls of its own: IORING_OP_SPLICE would
// run every splice on an io-wq thread.
#pragma once

#include <coroutine>

#include "core/io/one_shot.hpp"

namespace ringlb::core {

/// co_await poll(fd, mask) -> IoResult (the ready events). Inside a task only.
class [[nodiscard]] PollOp : public detail::OneShotAwaiter {
public:
    PollOp(int fd, unsigned mask) noexcept : fd_(fd), mask_(mask) {}
    bool await_suspend(std::coroutine_handle<> h) noexcept { return submit(h, &prep, this); }
    IoResult await_resume() noexcept { return result(); }

private:
    static void prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept;
    int fd_;
    unsigned mask_;
};

/// Waits until `fd` has one of the poll events in `mask` (POLLIN, POLLOUT, ...).
inline PollOp poll(int fd, unsigned mask) noexcept {
    return PollOp(fd, mask);
}

}  // namespace ringlb::core
