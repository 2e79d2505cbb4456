// SPDX-License-Identifier: MIT
// TimerHeap: timers complete in deadline order whatever order they were added in; a cancel
// takes out exactly the one it names (the heap stays ordered) and completes it as cancelled,
// once, without waking the owner that cancels it; nothing is left referenced. Driven by hand,
// without a ring.
#include "core/uring/timer_heap.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/counting_waker.hpp"

namespace ringlb::core {
namespace {

// `n` timers with shuffled deadlines 1..n (ns); the caller holds one reference to each.
std::vector<TimerState*> add_shuffled(TimerHeap& heap, int n, std::uint32_t seed) {
    std::vector<std::int64_t> deadlines(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        deadlines[static_cast<std::size_t>(i)] = i + 1;
    }
    std::mt19937 rng(seed);
    std::shuffle(deadlines.begin(), deadlines.end(), rng);
    std::vector<TimerState*> timers;
    for (std::int64_t d : deadlines) {
        TimerState* t = acquire_timer_state();
        t->deadline_ns = d;
        heap.add(t);
        timers.push_back(t);
    }
    return timers;
}

using test::CountingTarget;
using test::waker_for;

bool completed(const TimerState* t) {
    return t->done.load(std::memory_order_acquire);
}

TEST(TimerHeap, TimersCompleteInDeadlineOrder) {
    const std::int64_t live_before = live_timer_states();
    {
        TimerHeap heap;
        std::vector<TimerState*> timers = add_shuffled(heap, 1000, 1);
        EXPECT_EQ(heap.size(), 1000u);
        EXPECT_EQ(heap.earliest(), 1);
        for (std::int64_t now = 0; now < 1000 + 7; now += 7) {
            heap.expire(now);
            for (const TimerState* t : timers) {
                ASSERT_EQ(completed(t), t->deadline_ns <= now) << "deadline " << t->deadline_ns;
            }
            EXPECT_EQ(heap.earliest(), now < 1000 ? now + 1 : TimerHeap::kNever);
        }
        EXPECT_EQ(heap.expire(TimerHeap::kNever), 0u);
        for (TimerState* t : timers) {
            EXPECT_EQ(t->res, -ETIME);
            release(t);
        }
    }
    if (live_before >= 0) {
        EXPECT_EQ(live_timer_states(), live_before) << "timers left referenced";
    }
}

TEST(TimerHeap, ACancelTakesOutOnlyTheTimerItNames) {
    const std::int64_t live_before = live_timer_states();
    {
        TimerHeap heap;
        std::vector<TimerState*> timers = add_shuffled(heap, 500, 2);
        // Cancel every third timer, from all over the heap.
        for (std::size_t i = 0; i < timers.size(); i += 3) {
            heap.cancel(timers[i]);
            EXPECT_TRUE(completed(timers[i]));
            EXPECT_EQ(timers[i]->res, -ECANCELED);
        }
        heap.cancel(timers[0]);  // a second cancel finds nothing
        EXPECT_EQ(heap.size(), 500u - 167u);
        // The rest ring in deadline order, one at a time.
        std::vector<TimerState*> rest;
        for (std::size_t i = 0; i < timers.size(); ++i) {
            if (i % 3 != 0) {
                rest.push_back(timers[i]);
            }
        }
        std::sort(rest.begin(), rest.end(), [](const TimerState* a, const TimerState* b) {
            return a->deadline_ns < b->deadline_ns;
        });
        for (TimerState* t : rest) {
            EXPECT_EQ(heap.earliest(), t->deadline_ns);
            EXPECT_EQ(heap.expire(t->deadline_ns), 1u);
            EXPECT_EQ(t->res, -ETIME);
            heap.cancel(t);  // too late: it rang
            EXPECT_EQ(t->res, -ETIME);
        }
        EXPECT_EQ(heap.size(), 0u);
        for (TimerState* t : timers) {
            release(t);
        }
    }
    if (live_before >= 0) {
        EXPECT_EQ(live_timer_states(), live_before) << "timers left referenced";
    }
}

// Shutdown: every pending timer completes as cancelled, however far its deadline.
// Who is woken: a timer that rings, or that shutdown cancels, wakes its owner, who waits on
// it; one its owner cancels (~Alarm, letting go of it) must not, or the owner's task would be
// scheduled for nothing, once per connection end. Every waker reference is let go either way.
TEST(TimerHeap, OnlyTheOwnersCancelLeavesItsWakerUnwoken) {
    const std::int64_t live_before = live_timer_states();
    CountingTarget rang;
    CountingTarget let_go;
    CountingTarget shut_down;
    {
        TimerHeap heap;
        TimerState* timers[3];
        CountingTarget* targets[] = {&rang, &let_go, &shut_down};
        for (int i = 0; i < 3; ++i) {
            timers[i] = acquire_timer_state();
            timers[i]->deadline_ns = i + 1;
            heap.add(timers[i]);
            timers[i]->waker.register_waker(waker_for(*targets[i]));
        }
        EXPECT_EQ(heap.expire(1), 1u);  // deadline 1 rings
        heap.cancel(timers[1]);         // its owner lets go of deadline 2
        heap.cancel_all();              // shutdown takes deadline 3
        EXPECT_EQ(timers[0]->res, -ETIME);
        EXPECT_EQ(timers[1]->res, -ECANCELED);
        EXPECT_EQ(timers[2]->res, -ECANCELED);
        for (TimerState* t : timers) {
            EXPECT_TRUE(completed(t));
            release(t);
        }
    }
    EXPECT_EQ(rang.wakes.load(), 1);
    EXPECT_EQ(let_go.wakes.load(), 0) << "the owner's own cancel woke it";
    EXPECT_EQ(shut_down.wakes.load(), 1);
    for (const CountingTarget* t : {&rang, &let_go, &shut_down}) {
        EXPECT_EQ(t->refs.load(), 0) << "a waker reference was kept";
    }
    if (live_before >= 0) {
        EXPECT_EQ(live_timer_states(), live_before) << "timers left referenced";
    }
}

TEST(TimerHeap, CancelAllCompletesEveryTimerAsCancelled) {
    TimerHeap heap;
    std::vector<TimerState*> timers = add_shuffled(heap, 100, 4);
    EXPECT_EQ(heap.expire(10), 10u);
    heap.cancel_all();
    EXPECT_EQ(heap.size(), 0u);
    EXPECT_EQ(heap.earliest(), TimerHeap::kNever);
    for (TimerState* t : timers) {
        EXPECT_TRUE(completed(t));
        EXPECT_EQ(t->res, t->deadline_ns <= 10 ? -ETIME : -ECANCELED);
        release(t);
    }
}

// The heap's own reference keeps a timer whose owner let go; the heap's end drops it.
TEST(TimerHeap, AnAbandonedTimerIsFreedByTheHeap) {
    const std::int64_t live_before = live_timer_states();
    {
        TimerHeap heap;
        for (TimerState* t : add_shuffled(heap, 50, 3)) {
            release(t);  // the owner goes first
        }
        EXPECT_EQ(heap.expire(25), 25u);
        if (live_before >= 0) {
            EXPECT_EQ(live_timer_states(), live_before + 25);
        }
    }
    if (live_before >= 0) {
        EXPECT_EQ(live_timer_states(), live_before) << "the heap's end leaked its timers";
    }
}

}  // namespace
}  // namespace ringlb::core
