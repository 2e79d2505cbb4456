// SPDX-License-Identifier: MIT
// Worker: the per-thread loop (run tasks, one io_uring_enter, dispatch CQEs), sleep and rouse,
// stealing, and the shutdown drain.
#include "core/worker.hpp"

#include <liburing.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <future>

#include "core/runtime.hpp"

namespace ringlb::core {
namespace {

thread_local Worker* t_worker = nullptr;

/// Tasks run per iteration before the worker looks at I/O again (fairness vs. latency).
constexpr unsigned kRunBudget = 64;

}  // namespace

Worker::Worker(Runtime& runtime, std::uint32_t index) noexcept : runtime_(runtime), index_(index) {}

Worker::~Worker() {
    join();
}

Worker* Worker::current() noexcept {
    return t_worker;
}

Result<void> Worker::start(const RingOptions& options) {
    eventfd_.reset(::eventfd(0, EFD_CLOEXEC));
    if (!eventfd_) {
        return Unexpected(std::error_code(errno, std::system_category()));
    }
    std::promise<std::error_code> started;
    std::future<std::error_code> result = started.get_future();
    // The promise moves into the thread: the thread may still be inside set_value() when
    // start() returns.
    thread_ = std::thread([this, options, started = std::move(started)]() mutable {
        auto ring = Ring::create(options, &runtime_.table_);
        if (!ring) {
            started.set_value(ring.error());
            return;
        }
        ring_ = std::move(*ring);
        ring_->set_rouse([](void* ctx) noexcept { static_cast<Worker*>(ctx)->rouse(); }, this);
        started.set_value({});
        loop();
    });
    const std::error_code err = result.get();
    if (err) {
        thread_.join();
        return Unexpected(err);
    }
    return {};
}

void Worker::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

void Worker::count_spawn() noexcept {
    // relaxed RMW: other threads spawn onto this worker too (spawn_on_worker, block_on).
    stats_.tasks_spawned.fetch_add(1, std::memory_order_relaxed);
}

void Worker::push_local(TaskHeader* t) noexcept {
    RINGLB_ASSERT(t_worker == this);
    t->set_owner(index_);
    if (overflow_head_ != nullptr || !local_.try_push(t)) {
        t->next_in_queue = nullptr;
        if (overflow_tail_ != nullptr) {
            overflow_tail_->next_in_queue = t;
        } else {
            overflow_head_ = t;
        }
        overflow_tail_ = t;
    }
    if (local_.size() > 1) {
        runtime_.rouse_a_sleeper(*this);  // let an idle worker steal
    }
}

void Worker::push_remote(TaskHeader* t) noexcept {
    t->set_owner(index_);
    injection_.push(t);
    rouse();
}

void Worker::rouse() noexcept {
    // seq_cst: the other half of the handshake in loop(): either the sleeper sees the queued
    // work in its re-check, or we see sleeping_ and write the eventfd.
    if (sleeping_.exchange(false, std::memory_order_seq_cst)) {
        const std::uint64_t one = 1;
        // A blocking eventfd write blocks only at a counter of 2^64-2: never in practice.
        [[maybe_unused]] ssize_t n = ::write(eventfd_.get(), &one, sizeof one);
    }
}

void Worker::on_wakeup(void* target, const io_uring_cqe& /*cqe*/) noexcept {
    auto* w = static_cast<Worker*>(target);
    w->wakeup_armed_ = false;
    w->stats_.wakeups.store(
            w->stats_.wakeups.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void Worker::arm_wakeup() noexcept {
    io_uring_sqe* sqe = ring_->get_sqe(1, true);
    if (sqe == nullptr) {
        return;  // ring full; retried next iteration
    }
    io_uring_prep_read(sqe, eventfd_.get(), &eventfd_value_, sizeof eventfd_value_, 0);
    io_uring_sqe_set_data64(sqe, user_data::encode(CompletionKind::kWakeup, this));
    wakeup_armed_ = true;
}

void Worker::drain_injected() noexcept {
    TaskHeader* t = injection_.take_all();
    while (t != nullptr) {
        TaskHeader* next = t->next_in_queue;
        push_local(t);
        t = next;
    }
}

TaskHeader* Worker::pop_runnable() noexcept {
    if (TaskHeader* t = local_.pop()) {
        return t;
    }
    if (overflow_head_ != nullptr) {
        TaskHeader* t = overflow_head_;
        overflow_head_ = t->next_in_queue;
        if (overflow_head_ == nullptr) {
            overflow_tail_ = nullptr;
        }
        return t;
    }
    return nullptr;
}

void Worker::stamp_heartbeat() noexcept {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    stats_.heartbeat_ns.store(
            now.tv_sec * 1'000'000'000LL + now.tv_nsec, std::memory_order_relaxed);
}

void Worker::run_task(TaskHeader* t) noexcept {
    stats_.tasks_run.store(
            stats_.tasks_run.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (t->run(runtime_.is_stopping()) == TaskHeader::RunOutcome::kRescheduled) {
        push_local(t);
    }
}

void Worker::loop() noexcept {
    t_worker = this;
    Ring::set_current(ring_.get());
    arm_wakeup();
    for (;;) {
        stamp_heartbeat();
        drain_injected();
        for (unsigned i = 0; i < kRunBudget; ++i) {
            TaskHeader* t = pop_runnable();
            if (t == nullptr) {
                break;
            }
            run_task(t);
            if (ring_turn_requested_) {
                ring_turn_requested_ = false;
                break;  // a yielding task waits for completions: reap before running more
            }
        }
        ring_->submit_remote_cancels();
        ring_->recycle_remote_buffers();
        ring_->expire_timers();
        if (!wakeup_armed_) {
            arm_wakeup();
        }
        if (runtime_.is_stopping() && shutdown_step()) {
            break;
        }
        const bool runnable = local_.size() > 0 || overflow_head_ != nullptr;
        if (runnable) {
            ring_->submit_and_poll();
        } else if (TaskHeader* stolen = runtime_.steal_for(*this, steal_cursor_)) {
            stats_.steals.store(
                    stats_.steals.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            push_local(stolen);
            ring_->submit_and_poll();
        } else {
            // seq_cst: the sleep/rouse handshake (see rouse()).
            sleeping_.store(true, std::memory_order_seq_cst);
            if (!injection_.empty() || ring_->has_remote_cancels() || ring_->has_remote_buffers()) {
                sleeping_.store(false, std::memory_order_relaxed);
                ring_->submit_and_poll();
            } else {
                using std::chrono::milliseconds;
                // Without an armed wake-up read (ring full) or while shutting down, poll.
                const bool poll = !wakeup_armed_ || runtime_.is_stopping();
                ring_->submit_and_wait(ring_->sleep_limit(
                        poll ? milliseconds(10) : runtime_.options().max_idle_wait));
                sleeping_.store(false, std::memory_order_relaxed);
            }
        }
        ring_->reap();
    }
    Ring::set_current(nullptr);
    t_worker = nullptr;
}

bool Worker::shutdown_step() noexcept {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point now = Clock::now();
    if (!cancelled_all_) {
        ring_->cancel_all();
        cancelled_all_ = true;
        shutdown_deadline_ = now + runtime_.options().shutdown_timeout;
        next_cancel_all_ = now + std::chrono::milliseconds(100);
        return false;
    }
    const std::uint32_t own = wakeup_armed_ ? 1 : 0;
    const bool idle = local_.size() == 0 && overflow_head_ == nullptr && injection_.empty();
    if (idle && ring_->in_flight() <= own && runtime_.unfinished_tasks() == 0) {
        return true;
    }
    if (now > shutdown_deadline_) {
        std::fprintf(
                stderr,
                "ringlb: worker %u: shutdown timed out with %u operations in flight and %lld "
                "unfinished tasks; leaking them\n",
                index_,
                ring_->in_flight() - own,
                static_cast<long long>(runtime_.unfinished_tasks()));
        return true;
    }
    if (ring_->in_flight() > own && now > next_cancel_all_) {
        // Safety net for operations that were not yet submitted when the first cancel ran.
        ring_->cancel_all();
        next_cancel_all_ = now + std::chrono::milliseconds(100);
    }
    return false;
}

}  // namespace ringlb::core
