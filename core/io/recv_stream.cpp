// SPDX-License-Identifier: MIT
// RecvStream: multishot recv with buffer select, its completion handler and its chunk queue.
#include "core/io/recv_stream.hpp"

#include <liburing.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>

#include "core/assert.hpp"
#include "core/io/chunk_queue.hpp"
#include "core/task_header.hpp"
#include "core/uring/op_state.hpp"
#include "core/uring/ring.hpp"
#include "core/uring/uring_compat.hpp"
#include "core/uring/user_data.hpp"

namespace ringlb::core {

namespace {
// A recv ioprio flag no kernel defines (they end at 1 << 5 in 6.18): RingOptions::fault_bundles.
constexpr unsigned kNoSuchRecvFlag = 1u << 15;
}  // namespace

// Every connection keeps two: the small fields go first, together, so that the state fits
// 152 bytes (a 160-byte heap chunk). The buffer ring is the arming ring's (ring->buffers()).
struct RecvStreamState : OpStateBase {
    int fd = -1;
    std::uint32_t max_queued = 4;
    // Buffers in the queue: the handler adds, the consumer subtracts.
    std::atomic<std::uint32_t> queued{0};
    // Set by the consumer when it submits, cleared by the handler on the final CQE.
    std::atomic<bool> armed{false};
    // The ring thread of the current arming only (handed over by `armed`).
    bool pausing = false;  // we cancelled the recv because the queue was full
    bool bundled = false;  // armed as a recv bundle
    detail::ChunkQueue queue;

    BufferRing& pool() const noexcept { return *ring->buffers(); }
};
static_assert(sizeof(RecvStreamState) <= 152, "two per idle connection: keep it small");

namespace detail {

void free_recv_stream_state(OpStateBase* s) noexcept {
    delete static_cast<RecvStreamState*>(s);
}

void complete_recv_stream(void* target, const io_uring_cqe& cqe) noexcept {
    auto* s = static_cast<RecvStreamState*>(target);
    const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0;
    if (cqe.res > 0) {
        RINGLB_ASSERT((cqe.flags & IORING_CQE_F_BUFFER) != 0);
        const auto first = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
        auto left = static_cast<std::uint32_t>(cqe.res);
        std::uint32_t n = 0;
        // A bundle fills consecutive ring entries, each to its end but the last (the first
        // from where earlier recvs left it, when consumed incrementally).
        while (left > 0) {
            const std::uint16_t bid = n == 0 ? first : s->pool().bundle_bid(first, n);
            const std::uint32_t len = std::min(left, s->pool().room(bid));
            // A full buffer in the middle of a CQE: our offsets and the kernel's disagree
            // (lend() would also refuse it). Better stopped than spinning or lending garbage.
            RINGLB_CHECK(len > 0, "a received chunk in a buffer with no room left");
            left -= len;
            // Not bundled, the kernel commits one buffer per CQE; finished with it, it says so
            // by leaving IORING_CQE_F_BUF_MORE out, also where it committed more than it
            // received: a recv issued from io-wq (when the kernel cannot arm a poll) commits
            // the buffer's rest up front. No test forces that path: IOSQE_ASYNC on a multishot
            // recv still receives inline on 6.18.
            const bool finished = s->pool().incremental() && !s->bundled
                    && (cqe.flags & IORING_CQE_F_BUF_MORE) == 0;
            s->queue.push(static_cast<std::int32_t>(len), s->pool().lend(bid, len, finished));
            ++n;
        }
        // relaxed: a count for the pause decision; the queue itself carries the chunks.
        const std::uint32_t queued = s->queued.fetch_add(n, std::memory_order_relaxed) + n;
        if (more && queued >= s->max_queued && !s->pausing) {
            s->pausing = true;
            s->ring->request_cancel(s);  // on the owner thread: an SQE, submitted right away
            s->ring->submit_now();
        }
    } else {
        if ((cqe.flags & IORING_CQE_F_BUFFER) != 0 && !s->pool().incremental()) {
            // No data but a buffer was picked (an unlocked selection that failed): it is ours
            // to give back, or the ring would lose it for good. (Consumed incrementally, a
            // recv without data commits nothing: the buffer is still in the ring.)
            const auto bid = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
            (void)s->pool().lend(bid, 0);
        }
        if (cqe.res == -ENOBUFS) {
            s->pool().count_empty();
        }
        if (cqe.res == 0) {
            s->queue.push(0, Buffer{});  // EOF
        } else if (cqe.res == -EINVAL && s->bundled) {
            // An older kernel with bundles but no multishot length: without them from now
            // on; the consumer sees the recv ended with nothing queued (-EAGAIN), re-arms.
            s->ring->stop_bundles();
        } else if (
                cqe.res == -ENOBUFS
                && (s->queued.load(std::memory_order_relaxed) >= s->max_queued
                    || s->pool().starved())) {
            // Not an error for the consumer, who sees the recv end (-EAGAIN) once its queue
            // is empty and arms it again: either this stream took the window itself (a plain
            // multishot drains its socket in one pass; its pause was coming anyway), or other
            // streams did and the window has just grown.
        } else if (cqe.res != -ECANCELED) {
            s->queue.push(cqe.res, Buffer{});
        }
        // -ECANCELED is never the socket's error: our pause, the owner going away, runtime
        // shutdown, or a pause's cancel that waited (ring full) until after the recv it aimed
        // at had ended and the stream was armed again with the same user_data. The recv just
        // ends; the consumer sees -EAGAIN and arms it again if it still wants data.
    }
    if (!more) {
        s->pausing = false;
        // release: pairs with the acquire in NextOp's readiness check and re-arm.
        s->armed.store(false, std::memory_order_release);
    }
    s->waker.wake();
    if (!more) {
        release(s);  // the kernel's reference
    }
}

}  // namespace detail

namespace {

bool stream_ready(const RecvStreamState* s) noexcept {
    return s->queue.has_items() || !s->armed.load(std::memory_order_acquire);
}

bool stream_poll(void* ctx, TaskHeader& task) noexcept {
    auto* s = static_cast<RecvStreamState*>(ctx);
    return poll_or_register(s->waker, task, [s] { return stream_ready(s); });
}

// Arms the recv if it is not armed: 0 when it is armed now, or the result the consumer gets
// instead: -EAGAIN (not armed and `arm` false: drained), -EOPNOTSUPP (this worker has no buffer
// ring), -EBUSY (the ring is full).
std::int32_t arm_unless_armed(RecvStreamState& s, Ring& ring, bool arm) noexcept {
    if (s.armed.load(std::memory_order_acquire)) {
        return 0;
    }
    if (!arm) {
        return -EAGAIN;  // drained: the recv has ended and nothing is queued
    }
    if (ring.buffers() == nullptr) {
        return -EOPNOTSUPP;
    }
    io_uring_sqe* sqe = ring.get_sqe();
    if (sqe == nullptr) {
        return -EBUSY;
    }
    retain(&s);  // the kernel's reference, dropped by the final CQE
    s.ring = &ring;
    if (ring.features().defer_taskrun) {
        io_uring_prep_recv_multishot(sqe, s.fd, nullptr, 0, 0);
    } else {
        // Without DEFER_TASKRUN (kernels before 6.1, or forced) the kernel runs a multishot
        // recv's retries whenever this thread enters it, so the pause's cancel can arrive
        // after a whole ring's worth of buffers: one recv per next() keeps the bound.
        io_uring_prep_recv(sqe, s.fd, nullptr, 0, 0);
    }
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BufferRing::kGroup;
    s.bundled = ring.features().bundles;
    if (s.bundled) {
        sqe->ioprio |= IORING_RECVSEND_BUNDLE;
        // Caps one CQE's bundle (the kernel otherwise takes up to 256 buffers at once).
        sqe->len = s.max_queued * s.pool().buffer_bytes();
        if (ring.fault_bundles()) {
            sqe->ioprio |= kNoSuchRecvFlag;  // tests: the kernel rejects it (-EINVAL)
        }
    }
    io_uring_sqe_set_data64(sqe, s.submitted_user_data());
    s.armed.store(true, std::memory_order_release);
    return 0;
}

// The next queued chunk. \pre s.queue.has_items(); the consumer.
Received pop_chunk(RecvStreamState& s) noexcept {
    detail::ChunkQueue::Chunk c = s.queue.pop();
    if (c.res > 0) {
        // relaxed: see the handler's fetch_add.
        s.queued.fetch_sub(1, std::memory_order_relaxed);
    }
    return {IoResult::from_res(c.res), std::move(c.buf)};
}

}  // namespace

RecvStream::RecvStream(int fd, std::uint32_t max_queued) : state_(new RecvStreamState()) {
    state_->refs.store(1, std::memory_order_relaxed);
    state_->kind = CompletionKind::kRecvStream;
    state_->fd = fd;
    state_->max_queued = std::max<std::uint32_t>(1, max_queued);
}

RecvStream::~RecvStream() {
    if (state_->armed.load(std::memory_order_acquire)) {
        state_->ring->request_cancel(state_);
    }
    release(state_);
}

bool RecvStream::NextOp::await_ready() const noexcept {
    return state_->queue.has_items();
}

bool RecvStream::NextOp::await_suspend(std::coroutine_handle<> h) noexcept {
    Ring* ring = Ring::current();
    TaskHeader* task = TaskHeader::current();
    RINGLB_CHECK(ring != nullptr && task != nullptr, "recv stream awaited outside a task");
    RecvStreamState& s = *state_;
    early_res_ = arm_unless_armed(s, *ring, arm_);
    if (early_res_ != 0) {
        return false;
    }
    task->suspend_on(h, &stream_poll, &s);
    s.waker.register_waker(task->waker());  // register ...
    if (stream_ready(&s)) {                 // ... then check
        task->clear_suspension();
        return false;
    }
    return true;
}

void RecvStream::stop() noexcept {
    // acquire: the arming's writes (ring, user_data) happened before; a recv that ends right
    // now makes this cancel find nothing, which is harmless (its CQE only drops a reference).
    if (state_->armed.load(std::memory_order_acquire)) {
        state_->ring->request_cancel(state_);
    }
}

Received RecvStream::NextOp::await_resume() noexcept {
    RecvStreamState& s = *state_;
    if (s.queue.has_items()) {
        return pop_chunk(s);
    }
    if (early_res_ != 0) {
        return {IoResult::from_res(early_res_), Buffer{}};
    }
    // The recv ended with nothing queued (our own pause took effect first): call again.
    return {IoResult::from_errno(EAGAIN), Buffer{}};
}

std::optional<Received> RecvStream::poll_next(bool arm) noexcept {
    Ring* ring = Ring::current();
    RINGLB_CHECK(ring != nullptr, "recv stream polled outside a task");
    RecvStreamState& s = *state_;
    if (s.queue.has_items()) {
        return pop_chunk(s);
    }
    const std::int32_t early = arm_unless_armed(s, *ring, arm);
    // Race: the recv may have ended, queuing its last chunks, between the check above and
    // the look at `armed` (a consumer on another worker than the ring's). Its acquire pairs
    // with the handler's release: those chunks are visible now, and they come first.
    if (s.queue.has_items()) {
        return pop_chunk(s);
    }
    if (early != 0) {
        return Received{IoResult::from_res(early), Buffer{}};
    }
    return std::nullopt;
}

bool RecvStream::eof_is_next() const noexcept {
    return state_->queue.eof_is_next();
}

bool RecvStream::ready_or_register(TaskHeader& task) noexcept {
    return stream_poll(state_, task);
}

}  // namespace ringlb::core
