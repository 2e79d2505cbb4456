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
#include "core/task_header.hpp"
#include "core/uring/op_state.hpp"
#include "core/uring/ring.hpp"
#include "core/uring/user_data.hpp"

namespace ringlb::core {

/// Accepted descriptors waiting for the consumer: an unbounded single-producer
/// single-consumer queue of 256-entry chunks. A burst of accepts (one io_uring_enter can
/// post thousands) is never shed; steady state allocates nothing, because the consumer hands
/// its exhausted chunk back as the producer's spare.
class ReadyFds {
public:
    ReadyFds() : head_(new Chunk()), tail_(head_) {}
    ReadyFds(const ReadyFds&) = delete;
    ReadyFds& operator=(const ReadyFds&) = delete;
    ~ReadyFds() {
        while (head_ != nullptr) {
            Chunk* next = head_->next.load(std::memory_order_acquire);
            for (std::uint32_t i = read_; i < head_->count.load(std::memory_order_acquire); ++i) {
                if (head_->res[i] >= 0) {
                    ::close(head_->res[i]);  // accepted but never handed out
                }
            }
            delete head_;
            head_ = next;
            read_ = 0;
        }
        delete spare_.load(std::memory_order_acquire);
    }

    /// Producer (the completion handler on the ring thread).
    void push(std::int32_t res) {
        std::uint32_t n = tail_->count.load(std::memory_order_relaxed);
        if (n == Chunk::kSize) {
            Chunk* c = spare_.exchange(nullptr, std::memory_order_acquire);
            if (c == nullptr) {
                c = new Chunk();  // a burst beyond what the consumer drained: grow
            }
            // release: the consumer sees the new chunk's initial state once it sees `next`.
            tail_->next.store(c, std::memory_order_release);
            tail_ = c;
            n = 0;
        }
        tail_->res[n] = res;
        // release: publishes res[n] to the acquire load of count in pop().
        tail_->count.store(n + 1, std::memory_order_release);
    }

    /// Consumer: true when pop() will return something.
    bool has_items() const noexcept {
        if (read_ < head_->count.load(std::memory_order_acquire)) {
            return true;
        }
        if (read_ != Chunk::kSize) {
            return false;
        }
        // Race: the producer links a new chunk before it writes the chunk's first entry; the
        // entry is ours only once that chunk's count says so.
        const Chunk* next = head_->next.load(std::memory_order_acquire);
        return next != nullptr && next->count.load(std::memory_order_acquire) > 0;
    }

    /// Consumer. \pre has_items().
    std::int32_t pop() noexcept {
        if (read_ == Chunk::kSize) {
            Chunk* next = head_->next.load(std::memory_order_acquire);
            Chunk* done = head_;
            head_ = next;
            read_ = 0;
            // The producer moved on from `done` before publishing `next`: recycle it.
            done->count.store(0, std::memory_order_relaxed);
            done->next.store(nullptr, std::memory_order_relaxed);
            // release: pairs with the acquire exchange in push().
            delete spare_.exchange(done, std::memory_order_release);
        }
        return head_->res[read_++];
    }

private:
    struct Chunk {
        static constexpr std::uint32_t kSize = 256;
        std::array<std::int32_t, kSize> res{};
        std::atomic<std::uint32_t> count{0};
        std::atomic<Chunk*> next{nullptr};
    };
    // Consumer only.
    Chunk* head_;
    std::uint32_t read_ = 0;
    // Producer only.
    Chunk* tail_;
    // Both (atomic): the consumer's exhausted chunk, for the producer to reuse.
    std::atomic<Chunk*> spare_{nullptr};
};

struct AcceptStreamState : OpState {
    int listen_fd = -1;
    ReadyFds ready;
    std::atomic<bool> armed{false};  // set by the consumer when it submits, cleared by the
                                     // handler on the final CQE

    static void free(OpState* self) noexcept { delete static_cast<AcceptStreamState*>(self); }
};

namespace detail {

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
    state_->free_fn = &AcceptStreamState::free;
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
        s.user_data = user_data::encode(CompletionKind::kAcceptStream, &s);
        io_uring_prep_multishot_accept(
                sqe, s.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, s.user_data);
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
