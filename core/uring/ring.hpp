// SPDX-License-Identifier: MIT
// Ring: owns one io_uring, the only translation point between the runtime and the kernel.
//
// The model: one worker thread owns one Ring (SINGLE_ISSUER + DEFER_TASKRUN where the kernel
// has them, COOP_TASKRUN otherwise). Operations fill SQEs through get_sqe(); the worker submits
// them all with one io_uring_enter per loop iteration, which also reaps completions; reap()
// decodes each CQE's user_data and dispatches it through the HandlerTable. Handlers only record
// and wake.
//
// Invariants:
//  - Only the owner thread calls get_sqe(), submit*() and reap().
//  - In-flight operations never exceed the CQ size: get_sqe() declines instead (-EBUSY).
//  - Cancels are submitted on the ring that holds the operation. A cancel requested from
//    another thread is queued (request_cancel) and the owner is roused to submit it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "core/handler_table.hpp"
#include "core/result.hpp"
#include "core/uring/buffer_ring.hpp"
#include "core/uring/op_state.hpp"
#include "core/uring/timer_heap.hpp"
#include "core/uring/uring_compat.hpp"
#include "core/uring/user_data.hpp"

namespace ringlb::core {

using CompletionTable = HandlerTable<kCompletionKinds>;

struct RingOptions {
    unsigned sq_entries = 256;
    unsigned cq_entries = 16384;
    /// Try SINGLE_ISSUER + DEFER_TASKRUN first (tests turn this off to force the fallback).
    bool allow_defer_taskrun = true;
    /// Register io_uring restrictions so the ring runs only the operations ringlb issues
    /// (a seccomp filter cannot see operations submitted through a ring). Any other opcode
    /// completes with -EACCES.
    bool restrict_operations = true;
    /// Register a provided-buffer ring for multishot recv (RecvStream); tests turn it off to
    /// force the fallback (a buffer per connection and direction).
    bool provided_buffers = true;
    BufferRingOptions buffers{};  // `incremental` only with DEFER_TASKRUN (see Ring::create)
    /// Use recv bundles where the kernel has them (6.10); tests turn it off.
    bool allow_bundles = true;
    /// Tests only: bundled recvs carry a flag no kernel knows, so the kernel answers -EINVAL,
    /// as kernels 6.10 to 6.14 do for a capped bundle; forces that fallback on any kernel.
    bool fault_bundles = false;
};

/// Counters the owner thread writes and any thread may read (relaxed load/store, no RMW).
struct RingStats {
    std::atomic<std::uint64_t> submissions{0};
    std::atomic<std::uint64_t> enters{0};
    std::atomic<std::uint64_t> completions{0};
};

class alignas(16) Ring {
public:
    /// Creates a ring on the calling thread, which becomes its owner. Fails with the errno of
    /// io_uring_queue_init (EPERM under a seccomp filter or kernel.io_uring_disabled, ENOSYS
    /// without io_uring, ENOMEM past RLIMIT_MEMLOCK on old kernels).
    static Result<std::unique_ptr<Ring>>
    create(const RingOptions& options, const CompletionTable* table);
    ~Ring();
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    /// `needed` consecutive SQEs, flushing once if the SQ is full; nullptr when the ring
    /// cannot take `needed` more operations (the caller completes with -EBUSY). Operations
    /// leave kControlReserve CQ entries free; `control` SQEs (cancels, the worker's wake-up
    /// read) may use them, so a full ring can always be cancelled. Owner thread only.
    struct io_uring_sqe* get_sqe(unsigned needed = 1, bool control = false) noexcept;

    static constexpr std::uint32_t kControlReserve = 2;

    /// Submits pending SQEs at once, even from a completion handler (a stream pausing: the
    /// kernel must see the cancel before it fills more buffers). Owner only.
    void submit_now() noexcept;
    /// SQEs prepared and not yet submitted. A task that prepared some in its current run and
    /// is about to close a descriptor they name calls submit_now() first, so that the number
    /// cannot be reused by another socket before the kernel has looked the file up.
    unsigned unsubmitted() const noexcept;
    /// Submits pending SQEs and processes deferred completions without waiting.
    void submit_and_poll() noexcept;
    /// Submits pending SQEs and waits for at least one completion, up to `timeout` if given.
    void
    submit_and_wait(std::chrono::nanoseconds timeout = std::chrono::nanoseconds::zero()) noexcept;
    /// Dispatches every ready CQE through the handler table; returns how many. Owner only.
    unsigned reap() noexcept;
    /// Dispatches one CQE as if the kernel had posted it (tests drive handlers with it).
    void dispatch(const struct io_uring_cqe& cqe) noexcept;

    /// Asks for `op` to be cancelled on this ring. Any thread: from another thread the request
    /// is queued and the owner roused. Takes its own reference until the cancel completes.
    void request_cancel(OpStateBase* op) noexcept;
    /// Submits every cancel queued by other threads. Owner only.
    void submit_remote_cancels() noexcept;
    /// True when other threads queued cancels. seq_cst: see request_cancel(). Any thread.
    bool has_remote_cancels() const noexcept {
        return remote_cancels_.load(std::memory_order_seq_cst) != nullptr;
    }
    /// Cancels every operation in flight and every pending timer (shutdown). Owner only.
    void cancel_all() noexcept;

    /// The ring's userspace timers (Alarm). Owner thread only; a timer is cancelled from any
    /// thread with request_cancel().
    TimerHeap& timers() noexcept { return timers_; }
    /// Completes the timers that are due. Owner only; reads the clock only when one is pending.
    void expire_timers() noexcept {
        if (timers_.size() > 0) {
            (void)timers_.expire(monotonic_now_ns());
        }
    }
    /// How long the owner may sleep in submit_and_wait() before a timer is due: at most
    /// `limit` (zero: no limit), at least 1 ns while a timer is pending.
    std::chrono::nanoseconds sleep_limit(std::chrono::nanoseconds limit) const noexcept;

    /// Operations whose final CQE has not been reaped (the wake-up read included).
    std::uint32_t in_flight() const noexcept { return in_flight_; }
    const RingFeatures& features() const noexcept { return features_; }
    /// Stops using recv bundles on this ring (the kernel refused a capped bundle: 6.10 to
    /// 6.14 take bundles but not a length on a multishot recv). Owner only.
    void stop_bundles() noexcept { features_.bundles = false; }
    /// RingOptions::fault_bundles (tests only).
    bool fault_bundles() const noexcept { return fault_bundles_; }
    /// The provided-buffer ring, or nullptr when there is none (kernel or options).
    BufferRing* buffers() const noexcept { return buffers_; }
    /// True when other threads gave buffers back (checked before sleeping: a give-back that
    /// raced with the owner going to sleep found it awake and did not rouse it). Any thread.
    bool has_remote_buffers() const noexcept {
        return buffers_ != nullptr && buffers_->has_remote();
    }
    /// Puts buffers that other threads gave back into the buffer ring. Owner only.
    void recycle_remote_buffers() noexcept {
        if (buffers_ != nullptr) {
            buffers_->recycle_remote();
        }
    }
    const RingStats& stats() const noexcept { return stats_; }
    int fd() const noexcept;

    /// Wakes the owner if it sleeps in io_uring_enter. Any thread, while the ring lives.
    void rouse_owner() const noexcept {
        if (rouse_fn_ != nullptr) {
            rouse_fn_(rouse_ctx_);
        }
    }
    /// Called from request_cancel() on a foreign thread, to rouse the owner.
    void set_rouse(void (*fn)(void* ctx) noexcept, void* ctx) noexcept {
        rouse_fn_ = fn;
        rouse_ctx_ = ctx;
    }

    /// The ring owned by the calling thread, or nullptr.
    static Ring* current() noexcept;
    static void set_current(Ring* ring) noexcept;

private:
    Ring(const CompletionTable* table, unsigned cq_entries) noexcept;
    void prep_cancel(OpStateBase* op) noexcept;
    /// Pushes `op` on the remote-cancel list with a reference of its own, unless it is on
    /// it already (then false: one cancel is enough). Any thread.
    bool queue_remote_cancel(OpStateBase* op) noexcept;
    static void bump(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
        // Owner-thread counter: a plain load/store pair, no atomic RMW (readers only load).
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }

    // Immutable after construction.
    const CompletionTable* table_;
    std::uint32_t cq_capacity_;
    RingFeatures features_;          // except `bundles`, which stop_bundles() clears (owner thread)
    BufferRing* buffers_ = nullptr;  // owned: orphaned (and freed once unused) with the ring
    // Owner thread only.
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::uint32_t in_flight_ = 0;
    bool fault_bundles_ = false;
    TimerHeap timers_;
    // Any thread (atomics).
    std::atomic<OpStateBase*> remote_cancels_{nullptr};
    RingStats stats_;
    void (*rouse_fn_)(void*) noexcept = nullptr;
    void* rouse_ctx_ = nullptr;
};

}  // namespace ringlb::core
