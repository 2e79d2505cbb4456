// SPDX-License-Identifier: MIT
// TimerHeap: a ring's userspace timers, for deadlines that are usually cancelled before they
// ring (a connection's idle check, a back-off). A min-heap of TimerStates by deadline, owned by
// the ring's thread; the worker expires what is due at every loop iteration and sleeps no
// longer than until the earliest deadline (io_uring_enter's own timeout: no SQE). An
// IORING_OP_TIMEOUT per timer cost each connection a 160-byte state, an SQE and a CQE to arm
// it, and a cancel SQE and two CQEs at its end; here it costs an 80-byte state and two
// O(log n) heap updates.
//
// A TimerState is an OpStateBase (kind kTimer, never seen in a CQE): referenced by its owner
// and, while pending, by the heap. Cancelling from another thread goes through the ring's
// remote-cancel list like any operation's cancel (Ring::request_cancel); the ring's thread
// then takes it out of the heap. Either way it completes once: res -ETIME when it rang,
// -ECANCELED when it was cancelled; `done` is release-stored and the waker woken (not when its
// owner cancelled it).
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "core/uring/op_state.hpp"

namespace ringlb::core {

struct TimerState : OpStateBase {
    TimerState() noexcept { kind = CompletionKind::kTimer; }

    std::int64_t deadline_ns = 0;  // CLOCK_MONOTONIC
    std::uint32_t slot = 0;        // its index in the heap while pending
};

/// A fresh TimerState (kind kTimer) with refs == 1 (the caller's). From the thread's cache.
TimerState* acquire_timer_state();
/// TimerStates acquired and not yet recycled (debug builds; -1 in release). For leak tests.
std::int64_t live_timer_states() noexcept;

/// CLOCK_MONOTONIC in nanoseconds (a vDSO read).
std::int64_t monotonic_now_ns() noexcept;

/// Owner thread only.
class TimerHeap {
public:
    static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

    TimerHeap() = default;
    TimerHeap(const TimerHeap&) = delete;
    TimerHeap& operator=(const TimerHeap&) = delete;
    /// Drops the references of what is still pending, waking nobody (the worker is gone).
    ~TimerHeap();

    /// Adds `t` (deadline_ns set), taking one more reference: the heap's.
    void add(TimerState* t);
    /// Completes `t` as cancelled, without waking its waker (the owner is letting go of it),
    /// if it is still pending; nothing otherwise.
    void cancel(TimerState* t) noexcept;
    /// Completes every timer due at `now_ns` (res -ETIME); returns how many.
    unsigned expire(std::int64_t now_ns) noexcept;
    /// Completes every pending timer as cancelled (shutdown).
    void cancel_all() noexcept;
    /// The earliest pending deadline, or kNever.
    std::int64_t earliest() const noexcept {
        return heap_.empty() ? kNever : heap_.front()->deadline_ns;
    }
    std::size_t size() const noexcept { return heap_.size(); }

private:
    bool pending(const TimerState* t) const noexcept {
        return t->slot < heap_.size() && heap_[t->slot] == t;
    }
    void remove_at(std::size_t i) noexcept;
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;
    void place(std::size_t i, TimerState* t) noexcept {
        heap_[i] = t;
        t->slot = static_cast<std::uint32_t>(i);
    }
    static void complete(TimerState* t, std::int32_t res) noexcept;

    std::vector<TimerState*> heap_;
};

}  // namespace ringlb::core
