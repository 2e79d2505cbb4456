// SPDX-License-Identifier: MIT
// TaskHeader: the reference-counted, type-erased control block of a spawned task.
//
// The model: a spawned coroutine (its root frame and every frame it awaits directly) is
// owned by one TaskHeader. The header holds the lifecycle state word, the reference count,
// the point where the task is suspended, the AtomicWaker of its joiner, and (in the typed
// TaskCell<T> of core/join_handle.hpp) the output until the JoinHandle takes it. The frame is
// destroyed as soon as the coroutine finishes or is cancelled; the header lives on until its
// last reference (runtime, JoinHandle, Wakers) goes.
//
// State word (state_): bits 0-2 the lifecycle, plus two flags.
//   IDLE       suspended, waiting for a wake.           -> SCHEDULED (wake, abort)
//   SCHEDULED  in exactly one run queue.                -> RUNNING (a worker pops it)
//   RUNNING    a worker is inside run().                -> IDLE, SCHEDULED, COMPLETED, CANCELLED
//   COMPLETED  the coroutine returned or threw; frame freed.   (final)
//   CANCELLED  aborted or shut down before finishing; frame freed. (final)
//   NOTIFIED   (flag) a wake arrived while SCHEDULED or RUNNING. run() clears it when it
//              starts (it checks readiness afterwards anyway) and reschedules instead of
//              idling when it is set again by the end of the run.
//   ABORT      (flag) abort() was requested: the next run() destroys the frame.
//
// Resumption rule (DESIGN "a wake means check again"): every suspension records the handle
// to resume and a poll function (suspend_on()). run() calls the poll and resumes the
// coroutine only when it reports ready. A spurious wake (it can arrive while the task runs,
// or after it moved past the operation) puts the task back to IDLE without touching the
// coroutine; the poll has registered the task's waker again first, because the wake that
// brought us here consumed the registration (AtomicWaker).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>

#include "core/atomic_waker.hpp"
#include "core/waker.hpp"

namespace ringlb::core {

class Runtime;

class TaskHeader {
public:
    /// The poll recorded at a suspension: true when the awaited result is ready; otherwise
    /// registers `task`'s waker where the result will come from, re-checks, and returns the
    /// re-check. Runs on the worker that runs `task`.
    using PollFn = bool (*)(void* ctx, TaskHeader& task) noexcept;

    /// What the typed cell implements.
    struct VTable {
        /// Moves the finished coroutine's output into the cell, then destroys the frame.
        void (*complete)(TaskHeader* self) noexcept;
        /// Frees the cell (the header's last reference went).
        void (*destroy)(TaskHeader* self) noexcept;
    };

    enum class Lifecycle : std::uint32_t {
        kIdle = 0,
        kScheduled = 1,
        kRunning = 2,
        kCompleted = 3,
        kCancelled = 4,
    };

    /// What run() left the task as; the worker acts on it.
    enum class RunOutcome {
        kSuspended,    // IDLE: a wake will schedule it again
        kRescheduled,  // SCHEDULED again (woken while running): the worker re-queues it
        kFinished,     // COMPLETED or CANCELLED
    };

    TaskHeader(const TaskHeader&) = delete;
    TaskHeader& operator=(const TaskHeader&) = delete;

    /// Any thread.
    void add_ref() noexcept {
        // relaxed: taking a reference needs no ordering; an existing one keeps us alive.
        refs_.fetch_add(1, std::memory_order_relaxed);
    }
    /// Any thread. The last release destroys the frame (if still alive) and frees the cell.
    void release() noexcept;

    /// Makes the task check again: IDLE -> SCHEDULED (and queued), RUNNING -> NOTIFIED.
    /// Any thread.
    void wake() noexcept;
    /// Requests cancellation: an idle or scheduled task is cancelled by its worker at once,
    /// a running one when it next suspends. No effect on a finished task. Any thread.
    void abort() noexcept;

    /// Runs the task once. Called by a worker on a task it popped (state SCHEDULED).
    /// `stopping`: the runtime is shutting down, so the task is cancelled instead of resumed.
    RunOutcome run(bool stopping) noexcept;

    /// Records where the running task suspends and how to poll for its result.
    /// Owner worker only (the task is RUNNING on this thread).
    void suspend_on(std::coroutine_handle<> h, PollFn poll, void* ctx) noexcept {
        resume_ = h;
        poll_ = poll;
        poll_ctx_ = ctx;
    }
    /// Forgets the recorded suspension (an awaiter completed synchronously after all).
    void clear_suspension() noexcept { poll_ = nullptr; }

    /// A Waker holding one reference to this task. Any thread.
    Waker waker() noexcept;

    /// The task running on this thread, or nullptr outside a task.
    static TaskHeader* current() noexcept;
    /// Set by the worker around run(); tests use it to run tasks by hand.
    static void set_current(TaskHeader* t) noexcept;

    /// True once the task completed or was cancelled; the output (if any) is then readable.
    /// acquire: pairs with the release store in finish(). Any thread.
    bool is_finished() const noexcept { return finished_.load(std::memory_order_acquire); }
    /// True if the task finished by cancellation. \pre is_finished().
    bool was_cancelled() const noexcept {
        return lifecycle(state_.load(std::memory_order_acquire)) == Lifecycle::kCancelled;
    }
    /// Blocks the calling (non-worker) thread until is_finished(). Any thread but a worker's.
    void wait_finished() const noexcept;
    /// The lifecycle at this instant (diagnostics and tests). Any thread.
    Lifecycle lifecycle_now() const noexcept {
        return lifecycle(state_.load(std::memory_order_acquire));
    }
    /// The joiner's waker slot; finish() wakes it.
    AtomicWaker& join_waker() noexcept { return join_waker_; }

    Runtime* runtime() const noexcept { return runtime_; }
    /// The worker index that last ran the task (where wakes send it). Any thread.
    std::uint32_t owner() const noexcept { return owner_.load(std::memory_order_relaxed); }
    /// Set by whoever queues the task on a worker (the task is not running). Any thread.
    void set_owner(std::uint32_t w) noexcept { owner_.store(w, std::memory_order_relaxed); }

    /// Intrusive link for run queues; valid only while SCHEDULED.
    TaskHeader* next_in_queue = nullptr;

    static const char* to_string(Lifecycle l) noexcept;

protected:
    /// Adopts `root` (a suspended, never-started coroutine). refs = 1 (the caller's).
    TaskHeader(const VTable* vtable, Runtime* runtime, std::coroutine_handle<> root) noexcept
            : vtable_(vtable), runtime_(runtime), root_(root), resume_(root) {}
    ~TaskHeader() = default;

    std::coroutine_handle<> root() const noexcept { return root_; }
    void forget_root() noexcept { root_ = nullptr; }

private:
    static constexpr std::uint32_t kLifecycleMask = 7;
    static constexpr std::uint32_t kNotified = 1u << 3;
    static constexpr std::uint32_t kAbort = 1u << 4;

    static Lifecycle lifecycle(std::uint32_t s) noexcept { return Lifecycle(s & kLifecycleMask); }
    static std::uint32_t with(std::uint32_t s, Lifecycle l) noexcept {
        return (s & ~kLifecycleMask) | static_cast<std::uint32_t>(l);
    }

    void cancel_frame() noexcept;
    void finish(Lifecycle final_state) noexcept;

    // Immutable after construction.
    const VTable* vtable_;
    Runtime* runtime_;

    // Any thread (atomics).
    std::atomic<std::uint32_t> state_{0};
    std::atomic<std::uint32_t> refs_{1};
    std::atomic<std::uint32_t> owner_{0};
    std::atomic<bool> finished_{false};
    AtomicWaker join_waker_;

    // Owned by the thread that runs the task; handed between workers through state_.
    std::coroutine_handle<> root_;
    std::coroutine_handle<> resume_;
    PollFn poll_ = nullptr;
    void* poll_ctx_ = nullptr;
};

/// The body of every PollFn: ready if `is_ready()`; otherwise register `task` with `waker`
/// (the wake that brought us here consumed the registration), then check again.
template <class IsReady>
bool poll_or_register(AtomicWaker& waker, TaskHeader& task, IsReady is_ready) noexcept {
    if (is_ready()) {
        return true;
    }
    waker.register_waker(task.waker());
    return is_ready();
}

namespace detail {
/// Queues a task that just became SCHEDULED on its runtime (defined in runtime.cpp).
void schedule(Runtime* runtime, TaskHeader* task) noexcept;
/// Counts a task that finished by an exception (ringlb_task_failures_total).
void count_task_failure(Runtime* runtime) noexcept;
/// Counts a task that finished (completed or cancelled) on its runtime.
void count_task_finished(Runtime* runtime) noexcept;
}  // namespace detail

/// Task headers alive in this process (debug builds; -1 in release). For leak tests.
std::int64_t live_task_headers() noexcept;

namespace detail {
/// Debug accounting of task headers (created in TaskCell::create, freed in release()).
void count_task_header(int delta) noexcept;
}  // namespace detail

}  // namespace ringlb::core
