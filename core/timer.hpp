// SPDX-License-Identifier: MIT
// sleep(): suspend the current task for a duration, on the worker's ring (IORING_OP_TIMEOUT);
// wait_for(): wait for an Event, but no longer than a duration.
#pragma once

#include <chrono>
#include <coroutine>

#include "core/io/one_shot.hpp"
#include "core/sync/event.hpp"

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

/// co_await wait_for(event, d) -> bool: true once the event is set, false when `d` elapsed
/// first. One timeout SQE; when the event wins, the timeout is cancelled as the awaiter goes.
/// On a full ring (no room for the timer) it returns at once: true if set, else false, as if
/// the time had elapsed; the caller checks its clock and backs off (see yield_now()).
class [[nodiscard]] EventWaitForOp : public detail::OneShotAwaiter {
public:
    EventWaitForOp(Event& event, std::chrono::nanoseconds d) noexcept
            : event_(event), duration_(d) {}
    bool await_ready() const noexcept { return event_.is_set(); }
    bool await_suspend(std::coroutine_handle<> h) noexcept;
    bool await_resume() const noexcept { return event_.is_set(); }

private:
    static void prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept;
    static bool poll(void* self, TaskHeader& task) noexcept;
    bool ready() const noexcept;

    Event& event_;
    std::chrono::nanoseconds duration_;
};

template <class Rep, class Period>
EventWaitForOp wait_for(Event& event, std::chrono::duration<Rep, Period> d) noexcept {
    return EventWaitForOp(event, std::chrono::duration_cast<std::chrono::nanoseconds>(d));
}

}  // namespace ringlb::core
