// SPDX-License-Identifier: MIT
// back_off(): what a task does when the ring was full (-EBUSY) or descriptors ran out: it
// suspends for real (a timer, or at least a yield that lets the worker reap), so it never
// spins on a worker and starves the completions that would free the ring.
//
// An awaiter, not a Task: no frame of its own per back-off. And measured with g++ 12.2 at -O2
// (not under ASan, not with a print added): `co_await` of a Task<void> back_off() followed by
// `continue` in send_all()'s loop left its Buffer with a null data pointer and its old size,
// and the retried send failed with EFAULT (io_test SendAllOnAFullRingWaitsForRoomAndSendsEvery-
// ByteOnce). The same loop without `continue`, with a bare yield_now(), or with this awaiter
// is correct. No GCC PR was found for it offline, and the Task protocol was not proven
// innocent either; forward.cpp's pumps had the same loop shape.
#pragma once

#include <chrono>
#include <coroutine>

#include "core/timer.hpp"
#include "core/yield.hpp"

namespace ringlb::core {

class [[nodiscard]] BackOffOp : public SleepOp {
public:
    explicit BackOffOp(std::chrono::nanoseconds pause) noexcept : SleepOp(pause) {}
    bool await_suspend(std::coroutine_handle<> h) noexcept {
        if (SleepOp::await_suspend(h)) {
            return true;  // the timer is armed
        }
        if (submitted()) {
            return false;  // it has fired already
        }
        return YieldOp{}.await_suspend(h);  // not even a timer fits: let the worker reap first
    }
    void await_resume() const noexcept {}
};

/// co_await back_off(pause). Inside a runtime task only.
inline BackOffOp back_off(std::chrono::milliseconds pause) noexcept {
    return BackOffOp(pause);
}

}  // namespace ringlb::core
