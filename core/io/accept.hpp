// SPDX-License-Identifier: MIT
// AcceptStream: a multishot accept on a listening socket, consumed with `co_await next()`.
//
// One SQE keeps accepting while the kernel sets IORING_CQE_F_MORE; each accepted descriptor
// is queued in the stream's state (an unbounded single-producer single-consumer queue, so a
// burst is never shed) and the consuming task is woken. When the kernel ends the multishot (an
// error, or no F_MORE), the next call to next() arms it again. Accepted sockets are non-blocking
// and close-on-exec.
#pragma once

#include <coroutine>
#include <cstdint>

#include "core/io_result.hpp"

namespace ringlb::core {

struct AcceptStreamState;

/// Owner: one task at a time. Destroying it cancels the multishot; queued fds are closed.
class AcceptStream {
public:
    explicit AcceptStream(int listen_fd);
    ~AcceptStream();
    AcceptStream(const AcceptStream&) = delete;
    AcceptStream& operator=(const AcceptStream&) = delete;

    class [[nodiscard]] NextOp {
    public:
        explicit NextOp(AcceptStreamState* s) noexcept : state_(s) {}
        bool await_ready() const noexcept;
        bool await_suspend(std::coroutine_handle<> h) noexcept;
        /// An accepted fd (the caller owns it), or an error (-EMFILE, -ENFILE, -EBUSY when
        /// the ring is full, -ECANCELED, ...). After an error, call next() again to re-arm.
        IoResult await_resume() noexcept;

    private:
        AcceptStreamState* state_;
        std::int32_t early_res_ = 0;
    };

    /// The next accepted connection. Inside a runtime task only.
    NextOp next() noexcept { return NextOp(state_); }

private:
    AcceptStreamState* state_;
};

}  // namespace ringlb::core
