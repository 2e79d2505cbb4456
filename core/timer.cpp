// SPDX-License-Identifier: MIT
// SleepOp: a relative IORING_OP_TIMEOUT whose -ETIME means "elapsed". EventWaitForOp: the
// same timeout, polled together with an Event.
#include "core/timer.hpp"

#include <liburing.h>

#include <cerrno>

#include "core/task_header.hpp"
#include "core/uring/op_state.hpp"

namespace ringlb::core {
namespace {

void prep_timeout(io_uring_sqe* sqe, OpState* op, std::chrono::nanoseconds d) noexcept {
    const auto ns = d.count();
    // Lifetime: the kernel reads the timespec after submission; it lives in the OpState.
    op->ts.tv_sec = ns / 1'000'000'000;
    op->ts.tv_nsec = ns % 1'000'000'000;
    io_uring_prep_timeout(sqe, &op->ts, 0, 0);
}

}  // namespace

void SleepOp::prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept {
    prep_timeout(sqe, op, static_cast<const SleepOp*>(self)->duration_);
}

IoResult SleepOp::await_resume() noexcept {
    const IoResult r = result();
    return r.is(std::errc::stream_timeout) ? IoResult::from_res(0) : r;
}

void EventWaitForOp::prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept {
    prep_timeout(sqe, op, static_cast<const EventWaitForOp*>(self)->duration_);
}

bool EventWaitForOp::ready() const noexcept {
    const OpState* op = op_state();
    // acquire: pairs with the release in the completion handler.
    return event_.is_set() || (op != nullptr && op->done.load(std::memory_order_acquire));
}

bool EventWaitForOp::poll(void* self, TaskHeader& task) noexcept {
    auto* w = static_cast<EventWaitForOp*>(self);
    if (w->ready()) {
        return true;
    }
    // A wake consumed one registration (or both); re-register both before re-checking.
    w->event_.waker().register_waker(task.waker());
    if (OpState* op = w->op_state()) {
        op->waker.register_waker(task.waker());
    }
    return w->ready();
}

bool EventWaitForOp::await_suspend(std::coroutine_handle<> h) noexcept {
    // The timeout first, then the event's registration, then one check of both:
    // register-then-check, as for every awaiter.
    if (!submit(h, &prep, this) && !submitted()) {
        return false;  // -EBUSY: no timer could be armed; never wait without one
    }
    TaskHeader* task = TaskHeader::current();
    task->suspend_on(h, &EventWaitForOp::poll, this);
    event_.waker().register_waker(task->waker());
    if (ready()) {
        task->clear_suspension();
        return false;
    }
    return true;
}

}  // namespace ringlb::core
