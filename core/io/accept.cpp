// SPDX-License-Identifier: MIT
// AcceptStream: multishot accept, its completion handler and its unbounded ready queue.
#include "core/io/accept.hpp"

#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>

#include "core/assert.hpp"
#include "core/io/ready_fds.hpp"
#include "core/task_header.hpp"
#include "core/uring/op_state.hpp"
#include "core/uring/ring.hpp"
#include "core/uring/user_data.hpp"

namespace ringlb::core {

struct AcceptStreamState : OpStateBase {
    int listen_fd = -1;
    detail::ReadyFds ready;
    std::atomic<bool> armed{false};  // set by the consumer when it submits, cleared by the
                                     // handler on the final CQE
};

namespace detail {

void free_accept_stream_state(OpStateBase* self) noexcept {
    auto* s = static_cast<AcceptStreamState*>(self);
    while (s->ready.has_items()) {
        const std::int32_t fd = s->ready.pop();
        if (fd >= 0) {
            ::close(fd);  // accepted but never handed out
        }
    }
    delete s;
}

void complete_accept_stream(void* target, const io_uring_cqe& cqe) noexcept {
    auto* s = static_cast<AcceptStreamState*>(target);
    const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0;
    if (cqe.res >= 0 || !more) {
        s->ready.push(cqe.res);  // a connection, or the error that ended the multishot
    }
    if (!more) {
        // release: pairs with the acquire in NextOp's readiness check.
        s->armed.store(false, std::memory_order_release);
    }
    s->waker.wake();
    if (!more) {
        release(s);  // the kernel's reference
    }
}

}  // namespace detail

namespace {

bool stream_ready(const AcceptStreamState* s) noexcept {
    return s->ready.has_items() || !s->armed.load(std::memory_order_acquire);
}

bool stream_poll(void* ctx, TaskHeader& task) noexcept {
    auto* s = static_cast<AcceptStreamState*>(ctx);
    return poll_or_register(s->waker, task, [s] { return stream_ready(s); });
}

}  // namespace

AcceptStream::AcceptStream(int listen_fd) : state_(new AcceptStreamState()) {
    state_->refs.store(1, std::memory_order_relaxed);
    state_->kind = CompletionKind::kAcceptStream;
    state_->listen_fd = listen_fd;
}

AcceptStream::~AcceptStream() {
    if (state_->armed.load(std::memory_order_acquire)) {
        state_->ring->request_cancel(state_);
    }
    release(state_);
}

bool AcceptStream::NextOp::await_ready() const noexcept {
    return state_->ready.has_items();
}

bool AcceptStream::NextOp::await_suspend(std::coroutine_handle<> h) noexcept {
    Ring* ring = Ring::current();
    TaskHeader* task = TaskHeader::current();
    RINGLB_CHECK(ring != nullptr && task != nullptr, "accept awaited outside a runtime task");
    AcceptStreamState& s = *state_;
    if (!s.armed.load(std::memory_order_acquire)) {
        io_uring_sqe* sqe = ring->get_sqe();
        if (sqe == nullptr) {
            early_res_ = -EBUSY;
            return false;
        }
        retain(&s);  // the kernel's reference, dropped by the final CQE
        s.ring = ring;
        io_uring_prep_multishot_accept(
                sqe, s.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, s.submitted_user_data());
        s.armed.store(true, std::memory_order_release);
    }
    task->suspend_on(h, &stream_poll, &s);
    s.waker.register_waker(task->waker());  // register ...
    if (stream_ready(&s)) {                 // ... then check
        task->clear_suspension();
        return false;
    }
    return true;
}

IoResult AcceptStream::NextOp::await_resume() noexcept {
    if (state_->ready.has_items()) {
        return IoResult::from_res(state_->ready.pop());
    }
    if (early_res_ != 0) {
        return IoResult::from_res(early_res_);
    }
    // Not reached: the runner resumes us only when an item is queued or the multishot ended,
    // and its final CQE always queues one. Kept as a defined answer.
    return IoResult::from_errno(EAGAIN);
}

}  // namespace ringlb::core
