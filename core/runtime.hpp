// SPDX-License-Identifier: MIT
// Runtime: the multithreaded executor. N workers, each with its own io_uring, run queue and
// completion loop; spawn() starts tasks, block_on() runs one from a non-worker thread (main),
// shutdown() cancels what is left and frees everything.
//
//     auto rt = Runtime::create({.workers = 2});
//     if (!rt) { /* io_uring unavailable: rt.error() says why */ }
//     JoinResult<int> r = (*rt)->block_on(compute());
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/join_handle.hpp"
#include "core/result.hpp"
#include "core/task.hpp"
#include "core/uring/ring.hpp"
#include "core/worker.hpp"

namespace ringlb::core {

struct RuntimeOptions {
    /// Worker threads; 0 means one per CPU.
    unsigned workers = 0;
    RingOptions ring{};
    /// The longest an idle worker sleeps in io_uring_enter before it turns its loop again
    /// (and stamps WorkerStats::heartbeat_ns); zero: as long as nothing happens.
    std::chrono::milliseconds max_idle_wait{0};
    /// How long shutdown() waits for cancelled operations' CQEs before it gives up.
    std::chrono::milliseconds shutdown_timeout{5000};
};

class Runtime {
public:
    /// Starts the workers. Fails with the errno of the first ring that could not be created
    /// (EPERM: io_uring disabled by sysctl or a seccomp filter; ENOSYS: no io_uring).
    static Result<std::unique_ptr<Runtime>> create(RuntimeOptions options = {});
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    /// Starts `task` on this runtime. Any thread.
    template <class T>
    JoinHandle<T> spawn(Task<T> task) {
        return spawn_on(*this, std::move(task));
    }

    /// Starts `task` on worker `worker` (it may still be stolen while runnable). Any thread.
    template <class T>
    JoinHandle<T> spawn_on_worker(unsigned worker, Task<T> task) {
        auto* cell = detail::TaskCell<T>::create(this, std::move(task));
        submit_to(worker, cell);
        return JoinHandle<T>(cell);
    }

    /// Runs `task` on the runtime and blocks the calling thread until it finishes.
    /// \pre not called from one of this runtime's workers (it would deadlock).
    template <class T>
    JoinResult<T> block_on(Task<T> task) {
        RINGLB_CHECK(Worker::current() == nullptr, "block_on() called from a worker thread");
        JoinHandle<T> handle = spawn(std::move(task));
        handle.header()->wait_finished();
        return handle.take();
    }

    /// Stops the workers: every task that runs again is cancelled (its frame destroyed), every
    /// operation in flight is cancelled and its CQE reaped, and the worker threads end (after
    /// `shutdown_timeout` at most). The rings close with the Runtime. A task idle on something
    /// only another task or thread can wake (an Event nobody sets) is not reached: it is
    /// reported and leaks. Idempotent. Not from a worker thread.
    void shutdown();

    unsigned worker_count() const noexcept { return static_cast<unsigned>(workers_.size()); }
    const Worker& worker(unsigned i) const noexcept { return *workers_[i]; }
    /// Spawned tasks that have not finished yet. Any thread.
    std::int64_t unfinished_tasks() const noexcept;
    /// Tasks that ended by an exception (ringlb_task_failures_total). Any thread.
    std::uint64_t task_failures() const noexcept {
        return task_failures_.load(std::memory_order_relaxed);
    }
    bool is_stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
    const RuntimeOptions& options() const noexcept { return options_; }

    /// The runtime whose worker is calling, or nullptr.
    static Runtime* current() noexcept;

    // Internal: used by tasks and workers.
    void schedule(TaskHeader* t) noexcept;
    void submit_new(TaskHeader* t) noexcept;
    void submit_to(unsigned worker, TaskHeader* t) noexcept;
    TaskHeader* steal_for(Worker& thief, std::uint32_t& cursor) noexcept;
    void rouse_a_sleeper(const Worker& except) noexcept;
    void count_failure() noexcept { task_failures_.fetch_add(1, std::memory_order_relaxed); }

private:
    explicit Runtime(RuntimeOptions options);

    // Immutable after create().
    RuntimeOptions options_;
    CompletionTable table_;
    std::vector<std::unique_ptr<Worker>> workers_;

    // Any thread (atomics).
    std::atomic<bool> stopping_{false};
    std::atomic<bool> shut_down_{false};
    std::atomic<bool> stopped_{false};  // the workers have exited
    std::atomic<std::uint32_t> next_worker_{0};
    std::atomic<std::uint64_t> task_failures_{0};

    friend class Worker;
};

}  // namespace ringlb::core
