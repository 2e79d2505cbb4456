// SPDX-License-Identifier: MIT
// splice() moves bytes between a socket and a pipe inside the kernel; poll() waits for a
// socket to become readable or writable. Together they make the zero-copy relay path: the
// sockets are non-blocking, so a splice never parks an io-wq thread on an empty socket (it
// fails with -EAGAIN and the caller polls first; see io_uring-on-debian12.md).
#pragma once

#include <coroutine>
#include <cstdint>
#include <memory>

#include "core/io/one_shot.hpp"

namespace ringlb::core {

/// co_await splice(in, out, len) -> IoResult (bytes moved, 0 at EOF). Inside a task only.
class [[nodiscard]] SpliceOp : public detail::OneShotAwaiter {
public:
    SpliceOp(
            int in, int out, std::uint32_t len, unsigned flags, std::shared_ptr<void> keep) noexcept
            : in_(in), out_(out), len_(len), flags_(flags) {
        keep_ = std::move(keep);
    }
    bool await_suspend(std::coroutine_handle<> h) noexcept { return submit(h, &prep, this); }
    IoResult await_resume() noexcept { return result(); }

private:
    static void prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept;
    int in_;
    int out_;
    std::uint32_t len_;
    unsigned flags_;
};

/// Moves at most `len` bytes from `in` to `out` (one of them a pipe), SPLICE_F_MOVE |
/// SPLICE_F_NONBLOCK. io_uring runs splices on io-wq threads and looks `in` and `out` up only
/// then: `keep` must keep both descriptors open until the operation's CQE, even if the
/// awaiting task is destroyed first (its descriptors would otherwise be closed, and their
/// numbers possibly reused, while the splice still waits in io-wq).
SpliceOp splice(int in, int out, std::uint32_t len, std::shared_ptr<void> keep) noexcept;

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
