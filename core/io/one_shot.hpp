// SPDX-License-Identifier: MIT
// OneShotAwaiter: what every single-shot io_uring awaiter shares. It gets an OpState and the
// SQEs, records the suspension, registers the task's waker and re-checks; on destruction with
// the operation still in flight it requests cancellation and lets the CQE free the state.
#pragma once

#include <coroutine>
#include <cstdint>

#include "core/buffer.hpp"
#include "core/io/deadline.hpp"
#include "core/io_result.hpp"

struct io_uring_sqe;

namespace ringlb::core {

struct OpState;
class TaskHeader;

namespace detail {

/// Fills `sqe` for one operation; `op` holds its kernel-visible memory, `self` the awaiter.
using PrepFn = void (*)(io_uring_sqe* sqe, OpState* op, const void* self) noexcept;

class OneShotAwaiter {
public:
    OneShotAwaiter(const OneShotAwaiter&) = delete;  // our OpState address is in the kernel
    OneShotAwaiter& operator=(const OneShotAwaiter&) = delete;

    bool await_ready() const noexcept { return false; }

protected:
    explicit OneShotAwaiter(Deadline deadline = {}) noexcept : deadline_(deadline) {}
    OneShotAwaiter(OneShotAwaiter&& other) noexcept;
    ~OneShotAwaiter();

    /// The body of await_suspend. False: completed synchronously (-EBUSY when the ring is
    /// full). Owner worker only, inside a task.
    bool submit(std::coroutine_handle<> h, PrepFn prep, const void* self) noexcept;
    /// The operation's result; a linked-timeout cancellation becomes -ETIMEDOUT.
    IoResult result() const noexcept;
    /// True once submit() handed an SQE to the ring (false before, or after -EBUSY).
    bool submitted() const noexcept { return op_ != nullptr; }
    /// The buffer lent to the kernel, handed back after completion.
    Buffer take_buffer() noexcept;

    /// The in-flight operation's state (nullptr before submit or after -EBUSY), for awaiters
    /// that poll more than their own completion (wait_for).
    OpState* op_state() const noexcept { return op_; }

    /// Lent to the kernel at submit().
    Buffer buffer_;

private:
    static bool poll(void* op, TaskHeader& task) noexcept;

    Deadline deadline_;
    OpState* op_ = nullptr;
    std::int32_t early_res_ = 0;
};

}  // namespace detail
}  // namespace ringlb::core
