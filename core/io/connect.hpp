// SPDX-License-Identifier: MIT
// connect(): connect a socket on the current worker's ring, optionally with a deadline.
#pragma once

#include <coroutine>

#include "core/io/one_shot.hpp"
#include "core/net/address.hpp"

namespace ringlb::core {

/// co_await connect(fd, addr) -> IoResult (0, -ECONNREFUSED, -ETIMEDOUT, ...).
class [[nodiscard]] ConnectOp : public detail::OneShotAwaiter {
public:
    ConnectOp(int fd, const SocketAddress& addr, Deadline deadline) noexcept
            : OneShotAwaiter(deadline), fd_(fd), addr_(addr) {}
    bool await_suspend(std::coroutine_handle<> h) noexcept { return submit(h, &prep, this); }
    IoResult await_resume() noexcept { return result(); }

private:
    static void prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept;
    int fd_;
    SocketAddress addr_;  // copied into the OpState at submit (the kernel reads it later)
};

inline ConnectOp connect(int fd, const SocketAddress& addr, Deadline deadline = {}) noexcept {
    return ConnectOp(fd, addr, deadline);
}

}  // namespace ringlb::core
