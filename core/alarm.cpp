// SPDX-License-Identifier: MIT
// Alarm: an IORING_OP_TIMEOUT owned across waits, completed by the one-shot handler.
#include "core/alarm.hpp"

#include <liburing.h>

#include "core/assert.hpp"
#include "core/io/one_shot.hpp"
#include "core/task_header.hpp"
#include "core/uring/op_state.hpp"
#include "core/uring/ring.hpp"
#include "core/uring/user_data.hpp"

namespace ringlb::core {

Alarm::~Alarm() {
    if (op_ != nullptr) {
        detail::abandon_one_shot(op_);
    }
}

bool Alarm::arm(std::chrono::nanoseconds d) noexcept {
    if (op_ != nullptr) {
        return true;
    }
    Ring* ring = Ring::current();
    RINGLB_CHECK(ring != nullptr, "Alarm armed outside a runtime task");
    io_uring_sqe* sqe = ring->get_sqe(1);
    if (sqe == nullptr) {
        return false;
    }
    op_ = acquire_op_state();  // our reference
    OpState& op = *op_;
    op.ring = ring;
    op.pending_cqes = 1;
    op.refs.fetch_add(1, std::memory_order_relaxed);  // the SQE's reference
    const auto ns = d.count() > 0 ? d.count() : 1;
    // Lifetime: the kernel reads the timespec after submission; it lives in the OpState.
    op.ts.tv_sec = ns / 1'000'000'000;
    op.ts.tv_nsec = ns % 1'000'000'000;
    io_uring_prep_timeout(sqe, &op.ts, 0, 0);
    io_uring_sqe_set_data64(sqe, op.submitted_user_data());
    return true;
}

bool Alarm::rang() const noexcept {
    // acquire: pairs with the release in the completion handler.
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
    return detail::poll_one_shot(op_, task);
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
