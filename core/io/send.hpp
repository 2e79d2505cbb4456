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

namespace detail {
/// What a send's SQE needs besides its buffer.
struct SendSpec {
    int fd;
    int flags;  // besides MSG_NOSIGNAL
    std::size_t offset;
    std::size_t len;
};
void prep_send(io_uring_sqe* sqe, OpState* op, const void* spec) noexcept;
}  // namespace detail

/// co_await send(fd, buf, offset, len) -> Sent. Never throws. Inside a runtime task only.
class [[nodiscard]] SendOp : public detail::OneShotAwaiter {
public:
    SendOp(int fd, Buffer buf, std::size_t offset, std::size_t len, Deadline deadline) noexcept
            : OneShotAwaiter(deadline), spec_{fd, 0, offset, len} {
        buffer_ = std::move(buf);
    }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
        return submit(h, &detail::prep_send, &spec_);
    }
    Sent await_resume() noexcept { return {result(), take_buffer()}; }

private:
    detail::SendSpec spec_;
};

/// A send started without awaiting it, for a task that waits on more than one source at once
/// (until_ready()): start(), then ready_or_register() until it says so, then take(). One send
/// at a time. Destroying it with the send in flight cancels the send. Owner: one task.
class SendInFlight {
public:
    SendInFlight() noexcept = default;
    SendInFlight(const SendInFlight&) = delete;  // our OpState is in the kernel
    SendInFlight& operator=(const SendInFlight&) = delete;
    ~SendInFlight();

    /// Starts sending bytes [`offset`, `offset` + `len`) of `buf`, on the current worker's
    /// ring; `buf` is lent to the kernel (moved from). False when the ring has no room
    /// (-EBUSY): nothing started and `buf` untouched. `more` (MSG_MORE): the caller's next
    /// move on `fd` follows at once (a shutdown), so the bytes may wait for it in the socket
    /// and leave in one segment with it. \pre !active(); inside a runtime task.
    bool
    start(int fd, Buffer& buf, std::size_t offset, std::size_t len, bool more = false) noexcept;
    /// Between start() and take().
    bool active() const noexcept { return op_ != nullptr; }
    /// True once the send completed; otherwise registers `task`'s waker with it and checks
    /// again. \pre active().
    bool ready_or_register(TaskHeader& task) noexcept;
    /// True once the send completed. \pre active().
    bool done() const noexcept;
    /// The result and the buffer, handed back; active() is false afterwards. \pre done().
    Sent take() noexcept;

private:
    OpState* op_ = nullptr;  // one reference is ours
};

/// Sends bytes [`offset`, `offset` + `len`) of `buf`. \pre offset + len <= buf.size().
inline SendOp
send(int fd, Buffer buf, std::size_t offset, std::size_t len, Deadline deadline = {}) noexcept {
    return SendOp(fd, std::move(buf), offset, len, deadline);
}

/// Sends all of bytes [0, `len`) of `buf`, one send in flight at a time. On error `n` is the
/// error; on success `n` is `len`. A full ring (-EBUSY) is waited out (back_off()), never
/// returned: the caller could not tell how many bytes went before it.
Task<Sent> send_all(int fd, Buffer buf, std::size_t len, Deadline deadline = {});

}  // namespace ringlb::core
