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
class Ring;
class TaskHeader;

namespace detail {

/// Fills `sqe` for one operation; `op` holds its kernel-visible memory, `self` the awaiter.
using PrepFn = void (*)(io_uring_sqe* sqe, OpState* op, const void* self) noexcept;

/// Fills the SQE of one operation on `ring` (and its linked timeout's, with a deadline) and
/// gives it a fresh OpState that takes `buf` (moved from) and one reference per SQE. Returns
/// the state with one more reference, the caller's; nullptr when the ring has no room, and
/// then `buf` is untouched. Owner worker of `ring` only.
OpState*
start_one_shot(Ring& ring, PrepFn prep, const void* self, Buffer& buf, Deadline deadline) noexcept;

/// Lets go of a started operation: cancels it if it is still in flight (its CQE then frees
/// the state), and drops the caller's reference. Any thread.
void abandon_one_shot(OpState* op) noexcept;

/// A started operation's PollFn (ctx: its OpState): true once it completed; otherwise
/// registers `task`'s waker with it and checks again.
bool poll_one_shot(void* op, TaskHeader& task) noexcept;

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
    Deadline deadline_;
    OpState* op_ = nullptr;
    std::int32_t early_res_ = 0;
};

}  // namespace detail
}  // namespace ringlb::core
