// SPDX-License-Identifier: MIT
// send(): send part of a lent Buffer on the current worker's ring; send_all() loops over short
// sends. MSG_NOSIGNAL always: a reset peer is an error value, never SIGPIPE.
#pragma once

#include <coroutine>
#include <cstddef>

#include "core/io/one_shot.hpp"
#include "core/task.hpp"

namespace ringlb::core {

struct Sent {
    IoResult n;  // bytes sent (may be fewer than asked)
    Buffer buf;  // handed back with the result
};

/// co_await send(fd, buf, offset, len) -> Sent. Never throws. Inside a runtime task only.
class [[nodiscard]] SendOp : public detail::OneShotAwaiter {
public:
    SendOp(int fd, Buffer buf, std::size_t offset, std::size_t len, Deadline deadline) noexcept
            : OneShotAwaiter(deadline), fd_(fd), offset_(offset), len_(len) {
        buffer_ = std::move(buf);
    }
    bool await_suspend(std::coroutine_handle<> h) noexcept { return submit(h, &prep, this); }
    Sent await_resume() noexcept { return {result(), take_buffer()}; }

private:
    static void prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept;
    int fd_;
    std::size_t offset_;
    std::size_t len_;
};

/// Sends bytes [`offset`, `offset` + `len`) of `buf`. \pre offset + len <= buf.size().
inline SendOp
send(int fd, Buffer buf, std::size_t offset, std::size_t len, Deadline deadline = {}) noexcept {
    return SendOp(fd, std::move(buf), offset, len, deadline);
}

/// Sends all of bytes [0, `len`) of `buf`, one send in flight at a time. On error `n` is the
/// error; on success `n` is `len`.
Task<Sent> send_all(int fd, Buffer buf, std::size_t len, Deadline deadline = {});

}  // namespace ringlb::core
