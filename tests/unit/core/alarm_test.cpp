// SPDX-License-Identifier: MIT
// Alarm: rings when nobody sets the event; one timer serves many event-woken waits (counted
// in ring submissions: none); it still rings after waits the event ended; an armed alarm
// destroyed, or destroyed by an aborted task, leaks nothing; alarms armed on one worker and
// dropped on another, while they ring, under stress (TSan); a cancel queued from another
// thread after the ring's last look is freed with the ring.
#include "core/alarm.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/join_handle.hpp"
#include "core/runtime.hpp"
#include "core/sync/event.hpp"
#include "core/task_header.hpp"
#include "core/timer.hpp"
#include "core/uring/op_state.hpp"
#include "core/uring/ring.hpp"
#include "core/uring/timer_heap.hpp"
#include "core/yield.hpp"
#include "tests/support/loopback.hpp"

namespace ringlb::core {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class AlarmModes : public ::testing::TestWithParam<bool> {};  // DEFER_TASKRUN allowed?

Task<Clock::duration> wait_for_the_alarm(std::chrono::nanoseconds d) {
    Alarm alarm;
    Event ev;
    EXPECT_FALSE(alarm.armed());
    EXPECT_TRUE(alarm.arm(d));
    EXPECT_TRUE(alarm.armed());
    EXPECT_FALSE(alarm.take_ring());
    const Clock::time_point start = Clock::now();
    co_await alarm.wait(ev);
    const Clock::duration elapsed = Clock::now() - start;
    EXPECT_FALSE(ev.is_set());
    EXPECT_TRUE(alarm.take_ring()) << "the wait ended without the alarm ringing";
    EXPECT_FALSE(alarm.armed());
    EXPECT_FALSE(alarm.take_ring()) << "a ring is taken once";
    co_return elapsed;
}

TEST_P(AlarmModes, AWaitNobodySetsEndsWhenTheAlarmRings) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    JoinResult<Clock::duration> r = rt->block_on(wait_for_the_alarm(50ms));
    ASSERT_TRUE(r.has_value());
    EXPECT_GE(*r, 50ms);
}

Task<void> set_rounds(Event* ev, Event* ack, int rounds, const bool* waiter_gone) {
    for (int i = 0; i < rounds && !*waiter_gone; ++i) {
        ev->set();
        (void)co_await ack->wait();
        ack->reset();
    }
}

struct Rounds {
    int woken_by_event = 0;
    std::uint64_t submissions = 0;  // SQEs the worker submitted meanwhile
    bool rang_in_the_end = false;
};

// Waits `rounds` times on one alarm, each wait ended by a sibling task setting the event, then
// once more until the alarm rings.
Task<Rounds> many_waits_one_alarm(int rounds) {
    Rounds out;
    Event ev;
    Event ack;
    Alarm alarm;
    // Long enough for the rounds even under a sanitizer; the last wait below sits out the rest.
    EXPECT_TRUE(alarm.arm(2s));
    const std::uint64_t before = Ring::current()->stats().submissions.load();
    bool waiter_gone = false;  // one worker: no race
    JoinHandle<void> setter = spawn(set_rounds(&ev, &ack, rounds, &waiter_gone));
    for (int i = 0; i < rounds; ++i) {
        co_await alarm.wait(ev);
        if (!ev.is_set()) {
            break;  // the alarm rang first: the count below reports it
        }
        ++out.woken_by_event;
        ev.reset();
        ack.set();
    }
    waiter_gone = true;
    ack.set();  // a setter still waiting for an ack sees the flag and ends
    JoinResult<void> joined = co_await setter;
    EXPECT_TRUE(joined.has_value());
    co_await yield_now();  // let the worker submit whatever the rounds prepared
    out.submissions = Ring::current()->stats().submissions.load() - before;
    co_await alarm.wait(ev);  // nobody sets it now: the same timeout must end this wait
    out.rang_in_the_end = alarm.take_ring();
    co_return out;
}

TEST_P(AlarmModes, OneTimeoutServesManyWaitsTheEventEnds) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    constexpr int kRounds = 1000;
    JoinResult<Rounds> r = rt->block_on(many_waits_one_alarm(kRounds));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->woken_by_event, kRounds);
    // wait_for() would have submitted a timeout and a cancel per round (2,000 SQEs).
    EXPECT_LT(r->submissions, 10u) << "waits on an armed alarm submitted SQEs";
    EXPECT_TRUE(r->rang_in_the_end);
}

Task<void> arm_and_hold(std::atomic<bool>* armed) {
    Alarm alarm;  // destroyed with the aborted frame, on whichever thread destroys it
    EXPECT_TRUE(alarm.arm(1h));
    armed->store(true);
    Event never;
    co_await alarm.wait(never);  // aborted here
}

Task<void> arm_then_drop() {
    Alarm alarm;
    EXPECT_TRUE(alarm.arm(1h));
    co_await yield_now();  // submitted: the timeout is in the kernel when the alarm goes
}

TEST_P(AlarmModes, AnArmedAlarmDestroyedOrAbortedLeaksNothing) {
    const std::int64_t timers_before = live_timer_states();
    const std::int64_t ops_before = live_op_states();
    const std::int64_t tasks_before = live_task_headers();
    {
        RINGLB_RUNTIME_OR_SKIP(rt, 2, GetParam());
        for (int i = 0; i < 20; ++i) {
            ASSERT_TRUE(rt->block_on(arm_then_drop()).has_value());
        }
        // An aborted task whose frame owns an armed alarm, on another worker than the test.
        std::atomic<bool> armed{false};
        JoinHandle<void> h = rt->spawn_on_worker(1, arm_and_hold(&armed));
        ASSERT_TRUE(test::run_until([&] { return armed.load(); }));
        h.abort();  // the frame, and the alarm in it, go; its cancel goes to worker 1's ring
        h.header()->wait_finished();
        if (timers_before >= 0) {
            EXPECT_TRUE(test::run_until([&] { return live_timer_states() == timers_before; }))
                    << "cancelled alarms not freed: " << live_timer_states() - timers_before;
        }
        const Clock::time_point start = Clock::now();
        rt->shutdown();
        EXPECT_LT(Clock::now() - start, 3s) << "shutdown waited for a 1 h timeout";
    }
    if (ops_before >= 0) {
        EXPECT_EQ(live_op_states(), ops_before);
    }
    if (timers_before >= 0) {
        EXPECT_EQ(live_timer_states(), timers_before);
    }
    if (tasks_before >= 0) {
        EXPECT_EQ(live_task_headers(), tasks_before);
    }
}

// One connection's idle check, many times over and raced: each task arms an alarm of 0 to
// 2 ms on its worker and waits on it and on an event that a task on the other worker sets at
// a random moment; half of them then yield (and may be stolen) before the alarm goes with
// the frame. The other half are aborted by the test thread while armed. Every wait ends,
// every timer is freed, whoever drops it and wherever it was armed.
Task<void> race_one_alarm(Event* ev, std::uint32_t seed, std::atomic<int>* ended) {
    Alarm alarm;
    EXPECT_TRUE(alarm.arm(std::chrono::microseconds(seed % 2000)));
    co_await alarm.wait(*ev);
    if (seed % 2 == 0) {
        co_await yield_now();
    }
    ended->fetch_add(1);
}

Task<void> set_after(Event* ev, std::uint32_t seed) {
    for (std::uint32_t i = 0; i < seed % 4; ++i) {
        co_await yield_now();
    }
    ev->set();
}

Task<void> hold_an_alarm() {
    Alarm alarm;
    EXPECT_TRUE(alarm.arm(1h));
    Event never;
    co_await alarm.wait(never);
}

TEST_P(AlarmModes, AlarmsArmedAndDroppedAcrossWorkersUnderStress) {
    const std::int64_t timers_before = live_timer_states();
    {
        RINGLB_RUNTIME_OR_SKIP(rt, 2, GetParam());
        constexpr int kTasks = 2000;
        std::vector<std::unique_ptr<Event>> events;
        std::vector<JoinHandle<void>> waits;
        std::vector<JoinHandle<void>> held;
        std::atomic<int> ended{0};
        for (int i = 0; i < kTasks; ++i) {
            const auto seed = static_cast<std::uint32_t>(i * 2654435761u);
            events.push_back(std::make_unique<Event>());
            waits.push_back(rt->spawn_on_worker(
                    static_cast<std::uint32_t>(i % 2),
                    race_one_alarm(events.back().get(), seed, &ended)));
            waits.push_back(rt->spawn_on_worker(
                    static_cast<std::uint32_t>((i + 1) % 2), set_after(events.back().get(), seed)));
            if (i % 4 == 0) {
                held.push_back(
                        rt->spawn_on_worker(static_cast<std::uint32_t>(i % 2), hold_an_alarm()));
            }
        }
        for (JoinHandle<void>& h : held) {
            h.abort();  // from this thread: each alarm's cancel goes to its worker's ring
        }
        for (JoinHandle<void>& h : waits) {
            h.header()->wait_finished();
        }
        for (JoinHandle<void>& h : held) {
            h.header()->wait_finished();
        }
        EXPECT_EQ(ended.load(), kTasks) << "a wait on an alarm never ended";
        if (timers_before >= 0) {
            EXPECT_TRUE(test::run_until([&] { return live_timer_states() == timers_before; }))
                    << "timers not freed: " << live_timer_states() - timers_before;
        }
    }
}

// A cancel another thread queues after the owner's last look (a timer whose task finished on
// another worker as this one stopped) holds a reference in the ring's remote-cancel list. The
// owner never submits it: ~Ring must let that reference go, or the timer leaks.
TEST(RingTimers, ACancelQueuedAfterTheOwnersLastLookIsFreedWithTheRing) {
    const std::int64_t live_before = live_timer_states();
    CompletionTable table;
    RingOptions options;
    options.provided_buffers = false;
    auto made = Ring::create(options, &table);
    if (!made) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    std::unique_ptr<Ring> ring = std::move(*made);
    TimerState* timer = acquire_timer_state();  // our reference
    timer->ring = ring.get();
    timer->deadline_ns = monotonic_now_ns() + 3'600'000'000'000;  // an hour: never rings here
    ring->timers().add(timer);
    std::thread([&] { ring->request_cancel(timer); }).join();  // queued, not submitted
    EXPECT_TRUE(ring->has_remote_cancels());
    ring.reset();
    release(timer);
    if (live_before >= 0) {
        EXPECT_EQ(live_timer_states(), live_before) << "the queued cancel's reference leaked";
    }
}

INSTANTIATE_TEST_SUITE_P(
        Ring,
        AlarmModes,
        ::testing::Values(true, false),
        [](const ::testing::TestParamInfo<bool>& info) {
            return info.param ? "DeferTaskrun" : "Fallback";
        });

}  // namespace
}  // namespace ringlb::core
