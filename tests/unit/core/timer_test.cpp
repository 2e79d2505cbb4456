// SPDX-License-Identifier: MIT
// wait_for(): an Event with a time limit (timeout, set by a thread or a task, already set, the
// cancelled timeout freed, 10,000 rounds across workers); yield_now(): interleaving on one
// worker, 100,000 yields, and letting the worker reap its ring.
#include "core/timer.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/runtime.hpp"
#include "core/sync/event.hpp"
#include "core/task_header.hpp"
#include "core/uring/op_state.hpp"
#include "core/yield.hpp"
#include "tests/support/loopback.hpp"

namespace ringlb::core {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class TimerModes : public ::testing::TestWithParam<bool> {};  // DEFER_TASKRUN allowed?

struct Waited {
    bool set = false;
    Clock::duration elapsed{};
};

Task<Waited> timed_wait(Event* ev, std::chrono::nanoseconds d, std::atomic<bool>* waiting) {
    const Clock::time_point start = Clock::now();
    if (waiting != nullptr) {
        waiting->store(true);
    }
    const bool set = co_await wait_for(*ev, d);
    co_return Waited{set, Clock::now() - start};
}

TEST_P(TimerModes, WaitForReturnsFalseWhenTheDurationElapses) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    Event ev;
    JoinResult<Waited> r = rt->block_on(timed_wait(&ev, 50ms, nullptr));
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->set);
    EXPECT_GE(r->elapsed, 50ms);
    EXPECT_FALSE(ev.is_set());
}

TEST_P(TimerModes, WaitForWithZeroDurationOnAnUnsetEventReturnsFalse) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    Event ev;
    JoinResult<Waited> r = rt->block_on(timed_wait(&ev, 0ns, nullptr));
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->set);
}

TEST_P(TimerModes, WaitForReturnsTrueWhenAThreadSetsTheEventFirst) {
    RINGLB_RUNTIME_OR_SKIP(rt, 2, GetParam());
    Event ev;
    std::atomic<bool> waiting{false};
    std::thread setter([&] {
        test::run_until([&] { return waiting.load(); });
        std::this_thread::sleep_for(20ms);  // most likely suspended by now; either way is valid
        ev.set();
    });
    JoinResult<Waited> r = rt->block_on(timed_wait(&ev, 10s, &waiting));
    setter.join();
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->set);
    EXPECT_LT(r->elapsed, 5s) << "the set did not end the wait; the timeout did";
}

Task<void> sleep_then_set(Event* ev) {
    IoResult r = co_await sleep(20ms);
    (void)r;
    ev->set();
}

Task<Waited> wait_while_a_sibling_sets(std::chrono::nanoseconds d) {
    Event ev;
    JoinHandle<void> setter = spawn(sleep_then_set(&ev));
    const Clock::time_point start = Clock::now();
    const bool set = co_await wait_for(ev, d);
    const Clock::duration elapsed = Clock::now() - start;
    JoinResult<void> joined = co_await setter;
    EXPECT_TRUE(joined.has_value());
    co_return Waited{set, elapsed};
}

TEST_P(TimerModes, WaitForReturnsTrueWhenATaskOnTheSameWorkerSetsTheEvent) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    JoinResult<Waited> r = rt->block_on(wait_while_a_sibling_sets(10s));
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->set);
    EXPECT_LT(r->elapsed, 5s);
}

TEST_P(TimerModes, WaitForReturnsTrueAtOnceWhenAlreadySet) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    Event ev;
    ev.set();
    JoinResult<Waited> r = rt->block_on(timed_wait(&ev, 1h, nullptr));
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->set);
    EXPECT_LT(r->elapsed, 5s);
    // Zero duration too: the set flag wins over an already elapsed limit.
    JoinResult<Waited> z = rt->block_on(timed_wait(&ev, 0ns, nullptr));
    ASSERT_TRUE(z.has_value());
    EXPECT_TRUE(z->set);
}

Task<int> wait_rounds_set_by_thread(Event* ev, std::atomic<int>* armed, int rounds) {
    int won = 0;
    for (int i = 0; i < rounds; ++i) {
        ev->reset();
        armed->store(i + 1);
        if (co_await wait_for(*ev, 10s)) {
            ++won;
        }
    }
    co_return won;
}

TEST_P(TimerModes, ACancelledTimeoutLeaksNothing) {
    const std::int64_t ops_before = live_op_states();
    const std::int64_t tasks_before = live_task_headers();
    {
        RINGLB_RUNTIME_OR_SKIP(rt, 2, GetParam());
        constexpr int kRounds = 50;
        Event ev;
        std::atomic<int> armed{0};
        std::thread setter([&] {
            for (int i = 1; i <= kRounds; ++i) {
                if (!test::run_until([&] { return armed.load() == i; })) {
                    return;
                }
                std::this_thread::sleep_for(1ms);  // let the waiter arm its timeout first
                ev.set();
            }
        });
        JoinResult<int> r = rt->block_on(wait_rounds_set_by_thread(&ev, &armed, kRounds));
        setter.join();
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(*r, kRounds) << "a set event was reported as a timeout";
        // The cancelled timeouts' CQEs free their OpStates while the runtime runs, too.
        if (ops_before >= 0) {
            EXPECT_TRUE(test::run_until([&] { return live_op_states() == ops_before; }))
                    << "cancelled timeouts not freed: " << live_op_states() - ops_before;
        }
        rt->shutdown();
    }
    if (ops_before >= 0) {
        EXPECT_EQ(live_op_states(), ops_before);
    }
    if (tasks_before >= 0) {
        EXPECT_EQ(live_task_headers(), tasks_before);
    }
}

TEST_P(TimerModes, AnElapsedTimeoutLeaksNothing) {
    const std::int64_t ops_before = live_op_states();
    const std::int64_t tasks_before = live_task_headers();
    {
        RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
        for (int i = 0; i < 20; ++i) {
            Event ev;  // destroyed with the task's registration still in it
            JoinResult<Waited> r = rt->block_on(timed_wait(&ev, 1ms, nullptr));
            ASSERT_TRUE(r.has_value());
            EXPECT_FALSE(r->set);
        }
        rt->shutdown();
    }
    if (ops_before >= 0) {
        EXPECT_EQ(live_op_states(), ops_before);
    }
    if (tasks_before >= 0) {
        EXPECT_EQ(live_task_headers(), tasks_before);
    }
}

struct PingPong {
    Event ping;  // waiter -> setter: "I reset pong, set it now"
    Event pong;  // awaited with wait_for
};

Task<int> wait_for_pongs(PingPong* pp, int rounds) {
    int won = 0;
    for (int i = 0; i < rounds; ++i) {
        pp->pong.reset();
        pp->ping.set();
        if (co_await wait_for(pp->pong, 10s)) {
            ++won;
        } else {
            co_return won;  // a timeout here means a lost wake-up: stop at once
        }
    }
    co_return won;
}

Task<int> send_pongs(PingPong* pp, int rounds) {
    for (int i = 0; i < rounds; ++i) {
        if (!co_await pp->ping.wait()) {
            co_return i;
        }
        pp->ping.reset();
        pp->pong.set();
    }
    co_return rounds;
}

TEST_P(TimerModes, TenThousandWaitsSetFromAnotherWorkerAllSucceed) {
    const std::int64_t ops_before = live_op_states();
    const std::int64_t tasks_before = live_task_headers();
    {
        RINGLB_RUNTIME_OR_SKIP(rt, 2, GetParam());
        constexpr int kRounds = 10'000;
        PingPong pp;
        JoinHandle<int> setter = rt->spawn_on_worker(1, send_pongs(&pp, kRounds));
        JoinHandle<int> waiter = rt->spawn_on_worker(0, wait_for_pongs(&pp, kRounds));
        waiter.header()->wait_finished();
        setter.header()->wait_finished();
        JoinResult<int> w = waiter.take();
        JoinResult<int> s = setter.take();
        ASSERT_TRUE(w.has_value() && s.has_value());
        EXPECT_EQ(*w, kRounds);
        EXPECT_EQ(*s, kRounds);
        rt->shutdown();
    }
    if (ops_before >= 0) {
        EXPECT_EQ(live_op_states(), ops_before);
    }
    if (tasks_before >= 0) {
        EXPECT_EQ(live_task_headers(), tasks_before);
    }
}

Task<int> race_short_waits(Event* ev, std::atomic<int>* armed, int rounds) {
    int won = 0;
    for (int i = 0; i < rounds; ++i) {
        ev->reset();
        armed->store(i + 1);
        if (co_await wait_for(*ev, 200us)) {
            ++won;
        }
    }
    co_return won;
}

TEST_P(TimerModes, SetRacingTheTimeoutNeitherHangsNorLeaks) {
    const std::int64_t ops_before = live_op_states();
    {
        RINGLB_RUNTIME_OR_SKIP(rt, 2, GetParam());
        constexpr int kRounds = 2'000;
        Event ev;
        std::atomic<int> armed{0};
        std::atomic<bool> stop{false};
        std::thread setter([&] {
            int seen = 0;
            while (!stop.load()) {
                std::this_thread::yield();
                const int a = armed.load();
                if (a != seen) {
                    seen = a;
                    if ((a & 1) != 0) {
                        std::this_thread::sleep_for(std::chrono::microseconds(a % 300));
                    }
                    ev.set();
                }
            }
        });
        JoinResult<int> r = rt->block_on(race_short_waits(&ev, &armed, kRounds));
        stop.store(true);
        setter.join();
        ASSERT_TRUE(r.has_value());
        EXPECT_LE(*r, kRounds);
        rt->shutdown();
    }
    if (ops_before >= 0) {
        EXPECT_EQ(live_op_states(), ops_before);
    }
}

// ---- yield_now ----

struct Trace {
    std::mutex mu;
    std::vector<char> seq;
    void add(char c) {
        std::lock_guard<std::mutex> lock(mu);
        seq.push_back(c);
    }
};

Task<void> record_and_yield(Trace* trace, char id, int rounds) {
    for (int i = 0; i < rounds; ++i) {
        trace->add(id);
        co_await yield_now();
    }
}

Task<void> run_two_yielders(Trace* trace, int rounds) {
    // Both are queued on this (the only) worker before either runs.
    JoinHandle<void> a = spawn(record_and_yield(trace, 'A', rounds));
    JoinHandle<void> b = spawn(record_and_yield(trace, 'B', rounds));
    JoinResult<void> ra = co_await a;
    JoinResult<void> rb = co_await b;
    EXPECT_TRUE(ra.has_value());
    EXPECT_TRUE(rb.has_value());
}

TEST_P(TimerModes, YieldNowInterleavesTwoTasksOnOneWorker) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    constexpr int kRounds = 20;
    Trace trace;
    JoinResult<void> r = rt->block_on(run_two_yielders(&trace, kRounds));
    ASSERT_TRUE(r.has_value());
    const std::vector<char>& seq = trace.seq;
    ASSERT_EQ(seq.size(), 2u * kRounds);
    // Each yield goes behind the other runnable task: strictly alternating.
    for (std::size_t i = 1; i < seq.size(); ++i) {
        EXPECT_NE(seq[i], seq[i - 1]) << "at " << i << ": " << std::string(seq.begin(), seq.end());
    }
}

Task<void> two_yielders_from_outside(Trace* trace, char id, std::atomic<int>* started, int rounds) {
    started->fetch_add(1);
    // Wait (by yielding) for the other task; bounded so a broken yield fails, not hangs.
    const Clock::time_point deadline = Clock::now() + 5s;
    while (started->load() < 2 && Clock::now() < deadline) {
        co_await yield_now();
    }
    co_await record_and_yield(trace, id, rounds);
}

TEST_P(TimerModes, YieldNowLetsBothTasksProgressBeforeEitherFinishes) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    constexpr int kRounds = 50;
    Trace trace;
    std::atomic<int> started{0};
    JoinHandle<void> a =
            rt->spawn_on_worker(0, two_yielders_from_outside(&trace, 'A', &started, kRounds));
    JoinHandle<void> b =
            rt->spawn_on_worker(0, two_yielders_from_outside(&trace, 'B', &started, kRounds));
    a.header()->wait_finished();
    b.header()->wait_finished();
    ASSERT_TRUE(a.take().has_value());
    ASSERT_TRUE(b.take().has_value());
    const std::string seq(trace.seq.begin(), trace.seq.end());
    ASSERT_EQ(seq.size(), 2u * kRounds);
    const std::size_t first_a = seq.find('A');
    const std::size_t first_b = seq.find('B');
    const std::size_t last_a = seq.rfind('A');
    const std::size_t last_b = seq.rfind('B');
    EXPECT_LT(first_a, last_b) << seq;
    EXPECT_LT(first_b, last_a) << seq;
    std::size_t switches = 0;
    for (std::size_t i = 1; i < seq.size(); ++i) {
        switches += seq[i] != seq[i - 1] ? 1 : 0;
    }
    EXPECT_GE(switches, static_cast<std::size_t>(kRounds)) << seq;
}

Task<int> yield_many(int n) {
    int done = 0;
    for (int i = 0; i < n; ++i) {
        co_await yield_now();
        ++done;
    }
    co_return done;
}

TEST_P(TimerModes, AHundredThousandYieldsFinish) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    JoinResult<int> r = rt->block_on(yield_many(100'000));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, 100'000);
}

Task<void> sleep_then_flag(std::atomic<bool>* flag) {
    IoResult r = co_await sleep(5ms);
    (void)r;
    flag->store(true);
}

Task<bool> yield_until_a_sibling_sleeps() {
    std::atomic<bool> flag{false};
    JoinHandle<void> sleeper = spawn(sleep_then_flag(&flag));
    // The sleeper's CQE is reaped only if the worker gets the ring between our yields.
    const Clock::time_point deadline = Clock::now() + 5s;
    while (!flag.load() && Clock::now() < deadline) {
        co_await yield_now();
    }
    const bool woke = flag.load();
    JoinResult<void> joined = co_await sleeper;
    EXPECT_TRUE(joined.has_value());
    co_return woke;
}

TEST_P(TimerModes, AYieldingTaskDoesNotStarveTheRingsCompletions) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    JoinResult<bool> r = rt->block_on(yield_until_a_sibling_sleeps());
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(*r) << "the sleeping sibling never completed while we yielded";
}

Task<int> count_yields_without_an_enter(int n) {
    const Ring* ring = Ring::current();
    int missed = 0;
    for (int i = 0; i < n; ++i) {
        const std::uint64_t before = ring->stats().enters.load();
        co_await yield_now();
        if (ring->stats().enters.load() == before) {
            ++missed;
        }
    }
    co_return missed;
}

// yield.hpp: "the worker reaps its ring before it runs the task again".
TEST_P(TimerModes, YieldNowEntersTheRingBeforeTheTaskRunsAgain) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    JoinResult<int> r = rt->block_on(count_yields_without_an_enter(200));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, 0) << "of 200 yields, " << *r
                     << " resumed without the worker entering (and reaping) its ring";
}

INSTANTIATE_TEST_SUITE_P(
        Ring,
        TimerModes,
        ::testing::Values(true, false),
        [](const ::testing::TestParamInfo<bool>& info) {
            return info.param ? "DeferTaskrun" : "Fallback";
        });

}  // namespace
}  // namespace ringlb::core
