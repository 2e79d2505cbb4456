// SPDX-License-Identifier: MIT
// TimerHeap: a binary min-heap with each state's slot kept in the state, so a cancel takes it
// out in O(log n) without a search.
#include "core/uring/timer_heap.hpp"

#include <time.h>

#include <atomic>
#include <cerrno>

#include "core/uring/state_cache.hpp"

namespace ringlb::core {

namespace {

thread_local detail::StateCache<TimerState> t_timer_cache;

#ifdef NDEBUG
constexpr bool kCountLive = false;
#else
constexpr bool kCountLive = true;  // one relaxed RMW per timer, for leak tests
#endif
std::atomic<std::int64_t> g_live{0};

}  // namespace

TimerState* acquire_timer_state() {
    TimerState* t = t_timer_cache.take();
    t->refs.store(1, std::memory_order_relaxed);
    if constexpr (kCountLive) {
        g_live.fetch_add(1, std::memory_order_relaxed);
    }
    return t;
}

std::int64_t live_timer_states() noexcept {
    return kCountLive ? g_live.load(std::memory_order_relaxed) : -1;
}

std::int64_t monotonic_now_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

namespace detail {

void recycle_timer_state(OpStateBase* base) noexcept {
    auto* t = static_cast<TimerState*>(base);
    t->done.store(false, std::memory_order_relaxed);
    Waker stale = t->waker.take();  // drops the task reference, if one is left
    t->res = 0;
    t->ring = nullptr;
    t->next_cancel = nullptr;
    t->cancel_queued.store(false, std::memory_order_relaxed);
    t->deadline_ns = 0;
    t->slot = 0;
    if constexpr (kCountLive) {
        g_live.fetch_sub(1, std::memory_order_relaxed);
    }
    t_timer_cache.give(t);
}

}  // namespace detail

TimerHeap::~TimerHeap() {
    // The ring goes with its worker: no task is woken any more, the references just go.
    for (TimerState* t : heap_) {
        t->res = -ECANCELED;
        t->done.store(true, std::memory_order_release);
        release(t);
    }
}

void TimerHeap::add(TimerState* t) {
    heap_.push_back(t);  // first: if it throws, nothing changed
    retain(t);           // the heap's
    place(heap_.size() - 1, t);
    sift_up(heap_.size() - 1);
}

void TimerHeap::cancel(TimerState* t) noexcept {
    if (pending(t)) {
        remove_at(t->slot);
        // Only its owner cancels a timer, as it lets go of it (~Alarm): nobody waits on it
        // any more, so its waker is dropped, not woken (a wake would reschedule that task).
        Waker unused = t->waker.take();
        t->res = -ECANCELED;
        t->done.store(true, std::memory_order_release);
        release(t);  // the heap's reference
    }
}

unsigned TimerHeap::expire(std::int64_t now_ns) noexcept {
    unsigned n = 0;
    while (!heap_.empty() && heap_.front()->deadline_ns <= now_ns) {
        TimerState* t = heap_.front();
        remove_at(0);
        complete(t, -ETIME);
        ++n;
    }
    return n;
}

void TimerHeap::cancel_all() noexcept {
    while (!heap_.empty()) {
        TimerState* t = heap_.back();
        heap_.pop_back();
        complete(t, -ECANCELED);
    }
}

void TimerHeap::remove_at(std::size_t i) noexcept {
    TimerState* last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) {
        return;  // it was the last
    }
    place(i, last);
    sift_up(i);
    sift_down(last->slot);
}

void TimerHeap::sift_up(std::size_t i) noexcept {
    TimerState* t = heap_[i];
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (heap_[parent]->deadline_ns <= t->deadline_ns) {
            break;
        }
        place(i, heap_[parent]);
        i = parent;
    }
    place(i, t);
}

void TimerHeap::sift_down(std::size_t i) noexcept {
    TimerState* t = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= n) {
            break;
        }
        if (child + 1 < n && heap_[child + 1]->deadline_ns < heap_[child]->deadline_ns) {
            ++child;
        }
        if (t->deadline_ns <= heap_[child]->deadline_ns) {
            break;
        }
        place(i, heap_[child]);
        i = child;
    }
    place(i, t);
}

void TimerHeap::complete(TimerState* t, std::int32_t res) noexcept {
    t->res = res;
    // release: publishes res to the acquire in the owner's poll.
    t->done.store(true, std::memory_order_release);
    t->waker.wake();
    release(t);  // the heap's reference
}

}  // namespace ringlb::core
