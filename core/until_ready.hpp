// SPDX-License-Identifier: MIT
// until_ready(): suspends the task until a poll function of the caller's reports ready. The
// awaiter for a state machine that waits on several sources at once (a connection's two
// directions and its idle alarm, in one frame), where each source can register the task's
// waker: RecvStream::ready_or_register(), SendInFlight::ready_or_register(),
// Alarm::rang_or_register(), poll_or_register() on any AtomicWaker.
#pragma once

#include <coroutine>

#include "core/assert.hpp"
#include "core/task_header.hpp"

namespace ringlb::core {

/// `poll(ctx, task)` keeps TaskHeader::PollFn's contract: true when something is ready;
/// otherwise it registers `task`'s waker with every source it waits on, then checks again.
/// It runs at the suspension and again at each wake (a wake means "check again").
class [[nodiscard]] UntilReadyOp {
public:
    UntilReadyOp(TaskHeader::PollFn poll, void* ctx) noexcept : poll_(poll), ctx_(ctx) {}
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
        TaskHeader* task = TaskHeader::current();
        RINGLB_CHECK(task != nullptr, "until_ready() awaited outside a runtime task");
        task->suspend_on(h, poll_, ctx_);
        if (poll_(ctx_, *task)) {  // registers, then checks
            task->clear_suspension();
            return false;
        }
        return true;
    }
    void await_resume() const noexcept {}

private:
    TaskHeader::PollFn poll_;
    void* ctx_;
};

/// co_await until_ready(poll, ctx). `ctx` must outlive the wait (a local of the frame).
inline UntilReadyOp until_ready(TaskHeader::PollFn poll, void* ctx) noexcept {
    return UntilReadyOp(poll, ctx);
}

}  // namespace ringlb::core
