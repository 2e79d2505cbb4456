// SPDX-License-Identifier: MIT
// sleep(): suspend the current task for a duration, on the worker's ring (IORING_OP_TIMEOUT).
#pragma once

#include <chrono>
#include <coroutine>

#include "core/io/one_shot.hpp"

namespace ringlb::core {

/// co_await sleep(d) -> IoResult: 0 when the time elapsed, -ECANCELED if cancelled.
class [[nodiscard]] SleepOp : public detail::OneShotAwaiter {
public:
    explicit SleepOp(std::chrono::nanoseconds d) noexcept : duration_(d) {}
    bool await_suspend(std::coroutine_handle<> h) noexcept { return submit(h, &prep, this); }
    IoResult await_resume() noexcept;

private:
    static void prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept;
    std::chrono::nanoseconds duration_;
};

template <class Rep, class Period>
SleepOp sleep(std::chrono::duration<Rep, Period> d) noexcept {
    return SleepOp(std::chrono::duration_cast<std::chrono::nanoseconds>(d));
}

}  // namespace ringlb::core
