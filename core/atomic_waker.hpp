// SPDX-License-Identifier: MIT
// AtomicWaker: the one bridge between "a result was published" (any thread) and "the task
// waiting for it becomes runnable".
//
// The model (tokio's AtomicWaker): one stored Waker guarded by a state word with two bits.
// REGISTERING means a register_waker() owns the slot, WAKING means a wake() owns it. The
// waiter registers, *then* re-checks its condition; the producer publishes its result,
// *then* wakes. Whatever the interleaving, either the waiter sees the result on its re-check
// or the producer's wake reaches the registered waker: a wake-up is never lost. A wake that
// finds no registered waker is a no-op, which is fine because the waiter's re-check follows.
//
// A wake means "check again", not "resume": in the register/wake race a wake can reach a
// task that is running or already past the awaited operation, and a wake consumes the
// registration. The task runner therefore *polls* a woken task before resuming it: the poll
// re-checks the awaited flag and, if it is not set, registers the waker again and re-checks
// (core/task_header.hpp). Without that re-registration a stale wake (one whose result the
// task already consumed on a fast path) would leave the task idle and unregistered: a lost
// wake-up, which the ping-pong stress test caught.
//
//     // waiter                              // producer (any thread)
//     aw.register_waker(self.waker());       result = x; done.store(true, release);
//     if (done.load(acquire)) { ... }        aw.wake();
#pragma once

#include <atomic>
#include <cstdint>

#include "core/assert.hpp"
#include "core/waker.hpp"

namespace ringlb::core {

/// One registering thread at a time; wake() from any thread.
class AtomicWaker {
public:
    AtomicWaker() noexcept = default;
    AtomicWaker(const AtomicWaker&) = delete;
    AtomicWaker& operator=(const AtomicWaker&) = delete;

    /// Stores `w` as the party to wake. Only one thread may register at a time.
    void register_waker(Waker w) noexcept {
        std::uint8_t prev = kWaiting;
        // acquire: pairs with the release in wake()'s fetch_and, so the previous waker_ is ours.
        if (state_.compare_exchange_strong(prev, kRegistering, std::memory_order_acquire)) {
            waker_ = std::move(w);
            prev = kRegistering;
            // acq_rel: release publishes waker_ to the acq_rel fetch_or in wake().
            if (!state_.compare_exchange_strong(prev, kWaiting, std::memory_order_acq_rel)) {
                // Race: a wake() arrived while we held REGISTERING. It could not touch waker_
                // and left the wake to us; we deliver it after leaving the critical section.
                RINGLB_ASSERT(prev == (kRegistering | kWaking));
                Waker pending = std::move(waker_);
                waker_ = Waker{};
                // release: pairs with the acquire of the next register/wake.
                state_.store(kWaiting, std::memory_order_release);
                pending.wake();
            }
        } else if (prev == kWaking) {
            // Race: a wake() is in progress and may have taken the old waker, missing `w`.
            // Waking `w` ourselves makes sure its owner checks again.
            w.wake();
        } else {
            // Two concurrent registrations break the single-registrant contract.
            RINGLB_ASSERT(false);
        }
    }

    /// Wakes the registered waker, if any, and leaves the slot empty. Any thread.
    void wake() noexcept {
        Waker w = take();
        w.wake();  // outside the WAKING section; an empty Waker is a no-op
    }

    /// Removes and returns the registered waker without waking it. Any thread.
    Waker take() noexcept {
        // acq_rel: acquire pairs with register_waker()'s releasing CAS (waker_ is complete).
        if (state_.fetch_or(kWaking, std::memory_order_acq_rel) == kWaiting) {
            Waker w = std::move(waker_);
            waker_ = Waker{};
            // release: pairs with the acquiring CAS of the next register_waker().
            state_.fetch_and(static_cast<std::uint8_t>(~kWaking), std::memory_order_release);
            return w;
        }
        // Another wake() owns the slot, or a register is in progress and will see WAKING.
        return Waker{};
    }

private:
    // State bits. Legal words: WAITING (0), REGISTERING, WAKING, REGISTERING|WAKING (a wake
    // arrived during a registration; the registrant delivers it).
    static constexpr std::uint8_t kWaiting = 0;
    static constexpr std::uint8_t kRegistering = 1;
    static constexpr std::uint8_t kWaking = 2;

    // Any thread (atomics).
    std::atomic<std::uint8_t> state_{kWaiting};
    // Owned by whoever holds REGISTERING or WAKING.
    Waker waker_;
};

}  // namespace ringlb::core
