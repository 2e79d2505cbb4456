// SPDX-License-Identifier: MIT
// Alarm: a TimerState of the worker's ring, owned across waits.
#include "core/alarm.hpp"

#include <algorithm>
#include <new>

#include "core/assert.hpp"
#include "core/task_header.hpp"
#include "core/uring/ring.hpp"
#include "core/uring/timer_heap.hpp"

namespace ringlb::core {

Alarm::~Alarm() {
    if (op_ != nullptr) {
        // acquire: pairs with the release in TimerHeap::complete().
        if (!op_->done.load(std::memory_order_acquire)) {
            op_->ring->request_cancel(op_);  // from any thread: the ring's owner takes it out
        }
        release(op_);
    }
}

bool Alarm::arm(std::chrono::nanoseconds d) noexcept {
    if (op_ != nullptr) {
        return true;
    }
    Ring* ring = Ring::current();
    RINGLB_CHECK(ring != nullptr, "Alarm armed outside a runtime task");
    TimerState* t = nullptr;
    try {
        t = acquire_timer_state();  // our reference
        t->ring = ring;
        t->deadline_ns = monotonic_now_ns() + std::max<std::int64_t>(d.count(), 1);
        ring->timers().add(t);  // the heap's
    } catch (const std::bad_alloc&) {
        // Out of memory for the state or the heap's slot: not armed; the caller backs off.
        if (t != nullptr) {
            release(t);
        }
        return false;
    }
    op_ = t;
    return true;
}

bool Alarm::rang() const noexcept {
    // acquire: pairs with the release in TimerHeap::complete().
    return op_ != nullptr && op_->done.load(std::memory_order_acquire);
}

bool Alarm::take_ring() noexcept {
    if (!rang()) {
        return false;
    }
    release(op_);
    op_ = nullptr;
    return true;
}

bool Alarm::rang_or_register(TaskHeader& task) noexcept {
    TimerState* op = op_;
    return poll_or_register(
            op->waker, task, [op] { return op->done.load(std::memory_order_acquire); });
}

bool Alarm::WaitOp::ready() const noexcept {
    return event_.is_set() || !alarm_.armed() || alarm_.rang();
}

bool Alarm::WaitOp::poll(void* self, TaskHeader& task) noexcept {
    auto* w = static_cast<WaitOp*>(self);
    if (w->ready()) {
        return true;
    }
    // A wake consumed one registration (or both): re-register both before checking again.
    w->event_.waker().register_waker(task.waker());
    return w->alarm_.rang_or_register(task) || w->ready();
}

bool Alarm::WaitOp::await_suspend(std::coroutine_handle<> h) noexcept {
    if (ready()) {
        return false;
    }
    TaskHeader* task = TaskHeader::current();
    RINGLB_CHECK(task != nullptr, "Alarm awaited outside a runtime task");
    task->suspend_on(h, &WaitOp::poll, this);
    // Register on both, then check both.
    event_.waker().register_waker(task->waker());
    alarm_.op_->waker.register_waker(task->waker());
    if (ready()) {
        task->clear_suspension();
        return false;
    }
    return true;
}

}  // namespace ringlb::core
