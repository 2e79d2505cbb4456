// SPDX-License-Identifier: MIT
// back_off(): what a task does when the ring was full (-EBUSY) or descriptors ran out: it
// suspends for real (a timer, or at least a yield that lets the worker reap), so it never
// spins on a worker and starves the completions that would free the ring.
#pragma once

#include <chrono>

#include "core/task.hpp"
#include "core/timer.hpp"
#include "core/yield.hpp"

namespace ringlb::core {

inline Task<void> back_off(std::chrono::milliseconds pause) {
    IoResult slept = co_await sleep(pause);
    if (slept.is(std::errc::device_or_resource_busy)) {
        co_await yield_now();  // not even a timer fits: let the worker reap first
    }
}

}  // namespace ringlb::core
