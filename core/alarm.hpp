// SPDX-License-Identifier: MIT
// Alarm: one timer on the worker's ring that stays armed across many waits, for a deadline
// that several waits share (a connection's idle check): armed once and cancelled once, where
// wait_for() would arm a timeout and cancel it on every wait. A userspace timer of the ring's
// TimerHeap (core/uring/timer_heap.hpp), not an IORING_OP_TIMEOUT: arming and cancelling it
// cost no SQE, and what an idle connection keeps for it is an 80-byte TimerState.
#pragma once

#include <chrono>
#include <coroutine>

#include "core/sync/event.hpp"

namespace ringlb::core {

struct TimerState;
class TaskHeader;

class Alarm {
public:
    Alarm() noexcept = default;
    Alarm(const Alarm&) = delete;
    Alarm& operator=(const Alarm&) = delete;
    /// Cancels the timer if it is still pending (from any thread; it goes to its ring).
    ~Alarm();

    /// Arms the alarm to ring `d` from now, on the current worker's ring; an alarm already
    /// armed is left as it is. False, and not armed, only when there is no memory for the
    /// timer: the caller backs off and tries again. Inside a runtime task.
    bool arm(std::chrono::nanoseconds d) noexcept;
    bool armed() const noexcept { return op_ != nullptr; }
    /// True once the armed alarm has rung; it is disarmed then (arm() it again).
    bool take_ring() noexcept;
    /// For a task that waits on more than this alarm (until_ready()): true if it has rung;
    /// otherwise registers `task`'s waker with it and checks again. \pre armed().
    bool rang_or_register(TaskHeader& task) noexcept;

    class [[nodiscard]] WaitOp {
    public:
        WaitOp(Alarm& alarm, Event& event) noexcept : alarm_(alarm), event_(event) {}
        bool await_ready() const noexcept { return ready(); }
        bool await_suspend(std::coroutine_handle<> h) noexcept;
        void await_resume() const noexcept {}

    private:
        static bool poll(void* self, TaskHeader& task) noexcept;
        bool ready() const noexcept;
        Alarm& alarm_;
        Event& event_;
    };
    /// co_await alarm.wait(event): until `event` is set or the alarm rings; at once when the
    /// alarm is not armed (never a wait without a timer). The caller tells which by looking.
    WaitOp wait(Event& event) noexcept { return WaitOp(*this, event); }

private:
    bool rang() const noexcept;
    TimerState* op_ = nullptr;  // the armed timer; one reference is ours
};

}  // namespace ringlb::core
