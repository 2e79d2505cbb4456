// SPDX-License-Identifier: MIT
// recv(): receive into a lent Buffer on the current worker's ring.
#pragma once

#include <coroutine>

#include "core/io/one_shot.hpp"

namespace ringlb::core {

struct Received {
    IoResult n;  // bytes received; 0 means the peer shut down its write side (EOF)
    Buffer buf;  // lent to the kernel, handed back with the result
};

/// co_await recv(fd, buf) -> Received. Never throws. Inside a runtime task only.
class [[nodiscard]] RecvOp : public detail::OneShotAwaiter {
public:
    RecvOp(int fd, Buffer buf, Deadline deadline) noexcept : OneShotAwaiter(deadline), fd_(fd) {
        buffer_ = std::move(buf);
    }
    bool await_suspend(std::coroutine_handle<> h) noexcept { return submit(h, &prep, this); }
    Received await_resume() noexcept { return {result(), take_buffer()}; }

private:
    static void prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept;
    int fd_;
};

/// Receives at most `buf.size()` bytes from `fd`.
inline RecvOp recv(int fd, Buffer buf, Deadline deadline = {}) noexcept {
    return RecvOp(fd, std::move(buf), deadline);
}

}  // namespace ringlb::core
