// SPDX-License-Identifier: MIT
// OneShotAwaiter: submission with an optional linked timeout, register-then-check, result
// mapping, and cancellation on destruction.
#include "core/io/one_shot.hpp"

#include <liburing.h>

#include <cerrno>
#include <utility>

#include "core/assert.hpp"
#include "core/task_header.hpp"
#include "core/uring/op_state.hpp"
#include "core/uring/ring.hpp"
#include "core/uring/user_data.hpp"

namespace ringlb::core::detail {

OneShotAwaiter::OneShotAwaiter(OneShotAwaiter&& other) noexcept
        : buffer_(std::move(other.buffer_))
        , deadline_(other.deadline_)
        , op_(std::exchange(other.op_, nullptr))
        , early_res_(other.early_res_) {}

OpState*
start_one_shot(Ring& ring, PrepFn prep, const void* self, Buffer& buf, Deadline deadline) noexcept {
    const unsigned needed = deadline.is_set() ? 2 : 1;
    io_uring_sqe* sqe = ring.get_sqe(needed);
    if (sqe == nullptr) {
        return nullptr;
    }
    OpState* state = acquire_op_state();  // the caller's reference
    OpState& op = *state;
    op.ring = &ring;
    op.pending_cqes = static_cast<std::uint8_t>(needed);
    op.buf = std::move(buf);  // Lifetime: owned by the OpState until the CQE
    op.refs.fetch_add(needed, std::memory_order_relaxed);  // one per SQE in flight
    prep(sqe, state, self);
    io_uring_sqe_set_data64(sqe, op.submitted_user_data());
    if (deadline.is_set()) {
        sqe->flags |= IOSQE_IO_LINK;
        io_uring_sqe* tsqe = ring.get_sqe();
        RINGLB_ASSERT(tsqe != nullptr);  // get_sqe(2) reserved room for it
        const auto ns = deadline.after.count();
        op.ts.tv_sec = ns / 1'000'000'000;
        op.ts.tv_nsec = ns % 1'000'000'000;
        io_uring_prep_link_timeout(tsqe, &op.ts, 0);
        io_uring_sqe_set_data64(tsqe, user_data::encode(CompletionKind::kLinkTimeout, state));
    }
    return state;
}

void abandon_one_shot(OpState* op) noexcept {
    // acquire: pairs with the release in the completion handler.
    if (!op->done.load(std::memory_order_acquire)) {
        // Cancellation is a request: the CQE still arrives and frees the state.
        op->ring->request_cancel(op);
    }
    release(op);
}

OneShotAwaiter::~OneShotAwaiter() {
    if (op_ != nullptr) {
        abandon_one_shot(op_);  // the task went with the operation in flight (abort, shutdown)
    }
}

bool poll_one_shot(void* ctx, TaskHeader& task) noexcept {
    auto* op = static_cast<OpState*>(ctx);
    // acquire: pairs with the release in the completion handler.
    return poll_or_register(
            op->waker, task, [op] { return op->done.load(std::memory_order_acquire); });
}

bool OneShotAwaiter::submit(std::coroutine_handle<> h, PrepFn prep, const void* self) noexcept {
    Ring* ring = Ring::current();
    TaskHeader* task = TaskHeader::current();
    RINGLB_CHECK(ring != nullptr && task != nullptr, "I/O awaited outside a runtime task");
    op_ = start_one_shot(*ring, prep, self, buffer_, deadline_);
    if (op_ == nullptr) {
        early_res_ = -EBUSY;
        return false;
    }
    OpState& op = *op_;
    task->suspend_on(h, &poll_one_shot, op_);
    op.waker.register_waker(task->waker());         // register ...
    if (op.done.load(std::memory_order_acquire)) {  // ... then check
        task->clear_suspension();
        return false;
    }
    return true;
}

IoResult OneShotAwaiter::result() const noexcept {
    if (op_ == nullptr) {
        return IoResult::from_res(early_res_);
    }
    const IoResult res = IoResult::from_res(op_->res);
    const bool timed_out = IoResult::from_res(op_->timeout_res).is(std::errc::stream_timeout);
    if (timed_out && (res.is(std::errc::operation_canceled) || res.is(std::errc::interrupted))) {
        return IoResult::from_errno(ETIMEDOUT);
    }
    return res;
}

Buffer OneShotAwaiter::take_buffer() noexcept {
    if (op_ == nullptr) {
        return std::move(buffer_);
    }
    return std::move(op_->buf);
}

}  // namespace ringlb::core::detail
