// SPDX-License-Identifier: MIT
// Worker: one thread, one Ring, one run queue and the loop that drives them.
//
// Each iteration: take tasks other threads injected, run up to a budget of local tasks, then
// one io_uring_enter that submits every SQE the tasks prepared and reaps the completions,
// whose handlers wake more tasks. An idle worker steals from the others before it sleeps in
// io_uring_enter; other threads rouse it through an eventfd read armed on its ring.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

#include "core/result.hpp"
#include "core/run_queue.hpp"
#include "core/unique_fd.hpp"
#include "core/uring/ring.hpp"

struct io_uring_cqe;

namespace ringlb::core {

class Runtime;

/// Counters any thread reads; the owner writes them with plain load/store, except
/// tasks_spawned, which other threads add to as well.
struct WorkerStats {
    std::atomic<std::uint64_t> tasks_run{0};
    std::atomic<std::uint64_t> tasks_spawned{0};
    std::atomic<std::uint64_t> steals{0};
    std::atomic<std::uint64_t> wakeups{0};  // times the worker was roused from sleep
    /// CLOCK_MONOTONIC_COARSE at the worker's latest loop turn: a watchdog sees a worker
    /// stuck in a task (with RuntimeOptions::max_idle_wait, an idle one still turns).
    std::atomic<std::int64_t> heartbeat_ns{0};
};

class alignas(64) Worker {  // 64: it holds cache-line-aligned members
public:
    Worker(Runtime& runtime, std::uint32_t index) noexcept;
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    /// Starts the thread, which creates the ring. Returns once the ring exists or failed.
    Result<void> start(const RingOptions& options);
    /// Waits for the thread to leave its loop (after the runtime asked it to stop).
    void join();

    /// Queues a runnable task on this worker. Owner thread only.
    void push_local(TaskHeader* t) noexcept;
    /// Queues a runnable task from any thread and rouses the worker if it sleeps.
    void push_remote(TaskHeader* t) noexcept;
    /// Makes a sleeping worker look at its queues again. Any thread.
    void rouse() noexcept;
    /// Takes one runnable task for another worker. Any thread.
    TaskHeader* steal() noexcept { return local_.pop(); }
    /// True when this worker is asleep in io_uring_enter. Any thread.
    bool is_sleeping() const noexcept { return sleeping_.load(std::memory_order_relaxed); }

    std::uint32_t index() const noexcept { return index_; }
    Runtime& runtime() const noexcept { return runtime_; }
    /// The ring (valid between start() and the end of the thread). Any thread for stats.
    const Ring* ring() const noexcept { return ring_.get(); }
    const WorkerStats& stats() const noexcept { return stats_; }
    /// Counts a task placed on this worker. Any thread.
    void count_spawn() noexcept;
    /// Tasks spawned on this worker minus tasks finished on it (the sum over workers is the
    /// number of unfinished tasks). Any thread.
    std::int64_t unfinished_delta() const noexcept {
        return unfinished_delta_.load(std::memory_order_relaxed);
    }
    void add_unfinished(std::int64_t d) noexcept {
        // relaxed: a count read at shutdown after the workers are roused.
        unfinished_delta_.fetch_add(d, std::memory_order_relaxed);
    }

    /// The worker whose thread is calling, or nullptr.
    static Worker* current() noexcept;
    /// Ends the current run budget after the running task: the worker submits and reaps its
    /// ring before it runs another task (yield_now() after -EBUSY). Owner thread only.
    void request_ring_turn() noexcept { ring_turn_requested_ = true; }
    /// The completion handler of the eventfd read (CompletionKind::kWakeup).
    static void on_wakeup(void* target, const io_uring_cqe& cqe) noexcept;

private:
    void thread_main(const RingOptions& options);
    void loop() noexcept;
    void drain_injected() noexcept;
    TaskHeader* pop_runnable() noexcept;
    void run_task(TaskHeader* t) noexcept;
    void stamp_heartbeat() noexcept;
    void arm_wakeup() noexcept;
    bool shutdown_step() noexcept;

    // Immutable after construction.
    Runtime& runtime_;
    const std::uint32_t index_;

    // Any thread (atomics).
    LocalQueue local_;
    InjectionQueue injection_;
    std::atomic<bool> sleeping_{false};
    std::atomic<std::int64_t> unfinished_delta_{0};
    WorkerStats stats_;
    UniqueFd eventfd_;

    // Owner thread only.
    std::unique_ptr<Ring> ring_;
    TaskHeader* overflow_head_ = nullptr;  // when local_ is full
    TaskHeader* overflow_tail_ = nullptr;
    std::uint64_t eventfd_value_ = 0;  // Lifetime: the kernel writes here while the read is armed
    bool wakeup_armed_ = false;
    bool ring_turn_requested_ = false;
    bool cancelled_all_ = false;
    std::chrono::steady_clock::time_point shutdown_deadline_{};
    std::chrono::steady_clock::time_point next_cancel_all_{};
    std::uint32_t steal_cursor_ = 0;

    std::thread thread_;
};

}  // namespace ringlb::core
