// SPDX-License-Identifier: MIT
// Event: a flag one task awaits and any thread sets; the smallest bridge between threads and
// tasks built on AtomicWaker (register, then check; publish, then wake).
#pragma once

#include <atomic>
#include <coroutine>

#include "core/assert.hpp"
#include "core/atomic_waker.hpp"
#include "core/task_header.hpp"

namespace ringlb::core {

/// One waiting task at a time; set() from any thread.
class Event {
public:
    /// Sets the flag and wakes the waiter. Any thread.
    void set() noexcept {
        // seq_cst (not just release): pairs with reset()'s exchange so that a waiter's
        // "reset, then check its own condition" cannot miss a set() in between (below).
        set_.store(true, std::memory_order_seq_cst);
        waker_.wake();
    }
    /// Clears the flag (the waiter does this before awaiting the next round). A waiter that
    /// resets, then checks a condition the setter publishes before set(), must load it
    /// seq_cst: a relaxed store here could land after a set() that followed its check
    /// (store-load reordering) and erase it, losing the wake-up.
    void reset() noexcept { (void)set_.exchange(false, std::memory_order_seq_cst); }
    bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }

    class [[nodiscard]] WaitOp {
    public:
        explicit WaitOp(Event& e) noexcept : event_(e) {}
        bool await_ready() const noexcept { return event_.is_set(); }
        bool await_suspend(std::coroutine_handle<> h) noexcept {
            TaskHeader* task = TaskHeader::current();
            RINGLB_CHECK(task != nullptr, "Event awaited outside a runtime task");
            task->suspend_on(h, &WaitOp::poll, &event_);
            event_.waker_.register_waker(task->waker());  // register ...
            if (event_.is_set()) {                        // ... then check
                task->clear_suspension();
                return false;
            }
            return true;
        }
        /// True: the runner resumes us only once the flag is set (a wake means "check").
        bool await_resume() const noexcept { return event_.is_set(); }

    private:
        static bool poll(void* ctx, TaskHeader& task) noexcept {
            auto* e = static_cast<Event*>(ctx);
            return poll_or_register(e->waker_, task, [e] { return e->is_set(); });
        }
        Event& event_;
    };

    /// Waits until the flag is set. Inside a runtime task only.
    WaitOp wait() noexcept { return WaitOp(*this); }

    /// The waiter's registration, for composite awaiters that also wait on something else
    /// (wait_for() in core/timer.hpp). Register, then check is_set().
    AtomicWaker& waker() noexcept { return waker_; }

private:
    // Any thread (atomics).
    std::atomic<bool> set_{false};
    AtomicWaker waker_;
};

}  // namespace ringlb::core
