// SPDX-License-Identifier: MIT
// OpState recycling and the completion handlers of single-shot operations.
#include "core/uring/op_state.hpp"

#include <liburing.h>

#include <bit>
#include <cstdlib>
#include <new>

#include "core/uring/state_cache.hpp"

namespace ringlb::core {
namespace {

#ifdef NDEBUG
constexpr bool kCountLive = false;
#else
// Debug builds count live OpStates so leak tests can assert zero; one relaxed RMW per op.
constexpr bool kCountLive = true;
#endif
std::atomic<std::int64_t> g_live{0};

thread_local detail::StateCache<OpState> t_cache;

void reset(OpState& op) noexcept {
    op.done.store(false, std::memory_order_relaxed);
    Waker stale = op.waker.take();  // drops the task reference, if one is left
    op.res = 0;
    op.cqe_flags = 0;
    op.timeout_res = 0;
    op.pending_cqes = 0;
    op.ring = nullptr;
    op.next_cancel = nullptr;
    op.cancel_queued.store(false, std::memory_order_relaxed);
    op.buf = Buffer{};
    op.addrlen = 0;
}

void finish_one(OpState* op) noexcept {
    if (--op->pending_cqes == 0) {
        // release: publishes res/cqe_flags/timeout_res to the acquire in the awaiter.
        op->done.store(true, std::memory_order_release);
        op->waker.wake();
    }
    release(op);  // this CQE's reference
}

}  // namespace

void* OpStateBase::operator new(std::size_t n) {
    // glibc's malloc (and the sanitizers') aligns to 16 on 64-bit targets; an allocator that
    // aligns to 8 only gets an aligned allocation instead, rounded up to 16 bytes.
    void* p = std::malloc(n);
    if (p != nullptr && std::bit_cast<std::uintptr_t>(p) % 16 != 0) {
        std::free(p);
        p = std::aligned_alloc(16, (n + 15) / 16 * 16);
    }
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    return p;
}

void OpStateBase::operator delete(void* p) noexcept {
    std::free(p);
}

OpState* acquire_op_state() {
    OpState* op = t_cache.take();
    op->refs.store(1, std::memory_order_relaxed);
    if constexpr (kCountLive) {
        g_live.fetch_add(1, std::memory_order_relaxed);
    }
    return op;
}

void retain(OpStateBase* op) noexcept {
    // relaxed: the caller already holds a reference.
    op->refs.fetch_add(1, std::memory_order_relaxed);
}

void release(OpStateBase* op) noexcept {
    // acq_rel: the last owner sees every write made through the other references.
    if (op->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) {
        return;
    }
    switch (op->kind) {
        case CompletionKind::kRecvStream:
            detail::free_recv_stream_state(op);
            return;
        case CompletionKind::kAcceptStream:
            detail::free_accept_stream_state(op);
            return;
        case CompletionKind::kTimer:
            detail::recycle_timer_state(op);
            return;
        default:
            break;  // a pooled OpState
    }
    if constexpr (kCountLive) {
        g_live.fetch_sub(1, std::memory_order_relaxed);
    }
    auto* pooled = static_cast<OpState*>(op);
    reset(*pooled);
    t_cache.give(pooled);
}

std::int64_t live_op_states() noexcept {
    return kCountLive ? g_live.load(std::memory_order_relaxed) : -1;
}

namespace detail {

void complete_one_shot(void* target, const io_uring_cqe& cqe) noexcept {
    auto* op = static_cast<OpState*>(target);
    op->res = cqe.res;
    op->cqe_flags = cqe.flags;
    finish_one(op);
}

void complete_link_timeout(void* target, const io_uring_cqe& cqe) noexcept {
    auto* op = static_cast<OpState*>(target);
    op->timeout_res = cqe.res;
    finish_one(op);
}

void complete_cancel(void* target, const io_uring_cqe& /*cqe*/) noexcept {
    // The cancel's result does not matter: the target's own CQE reports the outcome.
    release(static_cast<OpStateBase*>(target));
}

void complete_ignore(void* /*target*/, const io_uring_cqe& /*cqe*/) noexcept {}

}  // namespace detail
}  // namespace ringlb::core
