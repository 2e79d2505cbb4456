// SPDX-License-Identifier: MIT
// yield_now(): give the worker back for one turn. The task is rescheduled behind the runnable
// tasks, and the worker reaps its ring before it runs the task again, so a task that must
// retry (the ring was full: -EBUSY) never starves the completions it is waiting for.
#pragma once

#include <coroutine>

#include "core/assert.hpp"
#include "core/task_header.hpp"
#include "core/worker.hpp"

namespace ringlb::core {

class [[nodiscard]] YieldOp {
public:
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
        TaskHeader* task = TaskHeader::current();
        RINGLB_CHECK(task != nullptr, "yield_now() outside a runtime task");
        task->suspend_on(h, nullptr, nullptr);  // no poll: always ready to resume
        task->wake();  // RUNNING: sets NOTIFIED, so run() reschedules instead of idling
        if (Worker* w = Worker::current()) {
            w->request_ring_turn();
        }
        return true;
    }
    void await_resume() const noexcept {}
};

/// co_await yield_now(). Inside a runtime task only.
inline YieldOp yield_now() noexcept {
    return {};
}

}  // namespace ringlb::core
