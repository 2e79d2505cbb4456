// SPDX-License-Identifier: MIT
// TaskHeader's state machine: wake, abort, run and the final release.
#include "core/task_header.hpp"

#include "core/assert.hpp"
#include "core/uring/ring.hpp"

namespace ringlb::core {
namespace {

thread_local TaskHeader* t_current = nullptr;

void waker_wake(void* data) noexcept {
    static_cast<TaskHeader*>(data)->wake();
}
void waker_clone(void* data) noexcept {
    static_cast<TaskHeader*>(data)->add_ref();
}
void waker_drop(void* data) noexcept {
    static_cast<TaskHeader*>(data)->release();
}
constexpr WakerVTable kTaskWakerVTable{&waker_wake, &waker_clone, &waker_drop};

}  // namespace

TaskHeader* TaskHeader::current() noexcept {
    return t_current;
}

void TaskHeader::set_current(TaskHeader* t) noexcept {
    t_current = t;
}

Waker TaskHeader::waker() noexcept {
    add_ref();
    return Waker(&kTaskWakerVTable, this);
}

void TaskHeader::release() noexcept {
    // acq_rel: the last owner must see every write made through the other references.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) {
        return;
    }
    // The runtime's reference is dropped only in finish(), after the frame is gone.
    RINGLB_ASSERT(!root_);
    vtable_->destroy(this);
    detail::count_task_header(-1);
}

void TaskHeader::wake() noexcept {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
        std::uint32_t next;
        switch (lifecycle(s)) {
            case Lifecycle::kIdle:
                next = with(s, Lifecycle::kScheduled);
                break;
            case Lifecycle::kScheduled:
            case Lifecycle::kRunning:
                // Race: even when nothing changes we must write. The waker published a result
                // (say, a done flag) before calling us; the runner reads that flag after its
                // own RMW on state_. Without an RMW here the waker's store and the runner's
                // load form a store/load pair that x86 may reorder, and the runner can miss
                // the result while we see "already scheduled": a lost wake-up (seen under
                // load in the ping-pong test). An RMW puts us in state_'s modification order.
                next = s | kNotified;
                break;
            default:
                return;  // finished: nothing to do
        }
        // acq_rel: acquire the runner's writes (resume_ and friends) before queueing the task;
        // release the producer's result to whoever runs the task next.
        if (state_.compare_exchange_weak(s, next, std::memory_order_acq_rel)) {
            if (lifecycle(s) == Lifecycle::kIdle) {
                detail::schedule(runtime_, this);
            }
            return;
        }
    }
}

void TaskHeader::abort() noexcept {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
        std::uint32_t next;
        switch (lifecycle(s)) {
            case Lifecycle::kIdle:
                next = with(s, Lifecycle::kScheduled) | kAbort;
                break;
            case Lifecycle::kScheduled:
            case Lifecycle::kRunning:
                if ((s & kAbort) != 0) {
                    return;
                }
                next = s | kAbort;
                break;
            default:
                return;
        }
        // acq_rel: as in wake().
        if (state_.compare_exchange_weak(s, next, std::memory_order_acq_rel)) {
            if (lifecycle(s) == Lifecycle::kIdle) {
                detail::schedule(runtime_, this);
            }
            return;
        }
    }
}

TaskHeader::RunOutcome TaskHeader::run(bool stopping) noexcept {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
        RINGLB_ASSERT(lifecycle(s) == Lifecycle::kScheduled);
        const std::uint32_t next = with(s & ~kNotified, Lifecycle::kRunning);
        // acquire: pairs with the releasing CAS that made us SCHEDULED (wake/abort/idle).
        if (state_.compare_exchange_weak(s, next, std::memory_order_acquire)) {
            s = next;
            break;
        }
    }
    TaskHeader* const outer = t_current;
    t_current = this;
    RunOutcome outcome;
    for (;;) {
        if ((s & kAbort) != 0 || stopping) {
            cancel_frame();
            finish(Lifecycle::kCancelled);
            outcome = RunOutcome::kFinished;
            break;
        }
        if (poll_ == nullptr || poll_(poll_ctx_, *this)) {
            poll_ = nullptr;
            resume_.resume();
        }
        if (root_.done()) {
            vtable_->complete(this);
            finish(Lifecycle::kCompleted);
            outcome = RunOutcome::kFinished;
            break;
        }
        s = state_.load(std::memory_order_relaxed);
        bool retry = false;
        for (;;) {
            if ((s & kAbort) != 0) {
                retry = true;  // cancel now, at the suspension point
                break;
            }
            const bool notified = (s & kNotified) != 0;
            const std::uint32_t next = notified ? with(s & ~kNotified, Lifecycle::kScheduled)
                                                : with(s, Lifecycle::kIdle);
            // release: publishes resume_/poll_ to the next runner (via wake()'s acq_rel CAS).
            // Race: a wake() between our readiness check and this CAS sets NOTIFIED, so the
            // CAS fails and we reschedule instead of idling with a ready result.
            if (state_.compare_exchange_weak(s, next, std::memory_order_acq_rel)) {
                outcome = notified ? RunOutcome::kRescheduled : RunOutcome::kSuspended;
                break;
            }
        }
        if (!retry) {
            break;
        }
        s = state_.load(std::memory_order_relaxed);
    }
    t_current = outer;
    return outcome;
}

void TaskHeader::cancel_frame() noexcept {
    // Destroying the root frame destroys the frames it awaits and their awaiters, which
    // request cancellation of their in-flight operations (the CQEs free the OpStates).
    if (root_) {
        root_.destroy();
        root_ = nullptr;
        // An operation the frame prepared but the worker has not submitted yet names its
        // descriptor by number. Submit it (and its cancel) now, before the joiner learns the
        // task is gone and closes that descriptor: once submitted the kernel holds the file,
        // so a reused descriptor number can never receive it.
        if (Ring* ring = Ring::current()) {
            ring->submit_and_poll();
        }
    }
}

void TaskHeader::finish(Lifecycle final_state) noexcept {
    // release: pairs with the acquire in was_cancelled().
    state_.exchange(static_cast<std::uint32_t>(final_state), std::memory_order_acq_rel);
    // Counted before anyone can see finished_, so a joiner never sees its task unfinished.
    detail::count_task_finished(runtime_);
    // release: the output written by complete() is visible to whoever sees finished_.
    finished_.store(true, std::memory_order_release);
    finished_.notify_all();  // block_on(); no syscall when nobody waits
    join_waker_.wake();
    release();  // the runtime's reference, held from spawn to finish
}

void TaskHeader::wait_finished() const noexcept {
    while (!finished_.load(std::memory_order_acquire)) {
        finished_.wait(false, std::memory_order_acquire);
    }
}

namespace {
#ifdef NDEBUG
constexpr bool kCountHeaders = false;
#else
constexpr bool kCountHeaders = true;
#endif
std::atomic<std::int64_t> g_live_headers{0};
}  // namespace

std::int64_t live_task_headers() noexcept {
    return kCountHeaders ? g_live_headers.load(std::memory_order_relaxed) : -1;
}

void detail::count_task_header(int delta) noexcept {
    if constexpr (kCountHeaders) {
        // relaxed: a statistic for leak tests.
        g_live_headers.fetch_add(delta, std::memory_order_relaxed);
    }
}

const char* TaskHeader::to_string(Lifecycle l) noexcept {
    switch (l) {
        case Lifecycle::kIdle:
            return "IDLE";
        case Lifecycle::kScheduled:
            return "SCHEDULED";
        case Lifecycle::kRunning:
            return "RUNNING";
        case Lifecycle::kCompleted:
            return "COMPLETED";
        case Lifecycle::kCancelled:
            return "CANCELLED";
    }
    return "?";
}

}  // namespace ringlb::core
