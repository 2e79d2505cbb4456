// SPDX-License-Identifier: MIT
// OpState recycling and the completion handlers of single-shot operations.
#include "core/uring/op_state.hpp"

#include <liburing.h>

#include <vector>

namespace ringlb::core {
namespace {

#ifdef NDEBUG
constexpr bool kCountLive = false;
#else
// Debug builds count live OpStates so leak tests can assert zero; one relaxed RMW per op.
constexpr bool kCountLive = true;
#endif
std::atomic<std::int64_t> g_live{0};

/// Per-thread cache of recycled OpStates. OpStates are the runtime's kernel-visible memory:
/// this is one of the few places that owns raw allocations.
class OpStateCache {
public:
    static constexpr std::size_t kMaxCached = 4096;

    OpStateCache() { free_.reserve(256); }
    OpStateCache(const OpStateCache&) = delete;
    OpStateCache& operator=(const OpStateCache&) = delete;
    ~OpStateCache() {
        for (OpState* op : free_) {
            delete op;
        }
    }

    OpState* take() {
        if (free_.empty()) {
            return new OpState();
        }
        OpState* op = free_.back();
        free_.pop_back();
        return op;
    }
    void give(OpState* op) noexcept {
        if (free_.size() < kMaxCached) {
            free_.push_back(op);  // capacity grows only up to kMaxCached; no throw in practice
        } else {
            delete op;
        }
    }

private:
    std::vector<OpState*> free_;
};

thread_local OpStateCache t_cache;

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
