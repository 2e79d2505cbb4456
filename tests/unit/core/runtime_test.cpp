// SPDX-License-Identifier: MIT
// Runtime: cross-worker wakes, sleeping workers, stealing, spurious wakes, and shutdown.
#include "core/runtime.hpp"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/sync/event.hpp"
#include "core/timer.hpp"
#include "core/uring/op_state.hpp"
#include "tests/support/loopback.hpp"

namespace ringlb::core {
namespace {

using test::LifetimeCounter;

class RuntimeModes : public ::testing::TestWithParam<bool> {};  // DEFER_TASKRUN allowed?

struct PingPong {
    Event ping;
    Event pong;
    std::atomic<int> pinger_worker{-1};
    std::atomic<int> ponger_worker{-1};
};

Task<int> pinger(PingPong* pp, int rounds) {
    pp->pinger_worker = static_cast<int>(Worker::current()->index());
    for (int i = 0; i < rounds; ++i) {
        pp->ping.set();
        bool ok = co_await pp->pong.wait();
        if (!ok) {
            co_return i;
        }
        pp->pong.reset();
    }
    co_return rounds;
}

Task<int> ponger(PingPong* pp, int rounds) {
    pp->ponger_worker = static_cast<int>(Worker::current()->index());
    for (int i = 0; i < rounds; ++i) {
        bool ok = co_await pp->ping.wait();
        if (!ok) {
            co_return i;
        }
        pp->ping.reset();
        pp->pong.set();
    }
    co_return rounds;
}

TEST_P(RuntimeModes, HundredThousandPingPongsAcrossWorkersComplete) {
    RINGLB_RUNTIME_OR_SKIP(rt, 2, GetParam());
    constexpr int kRounds = 100'000;
    PingPong pp;
    JoinHandle<int> b = rt->spawn_on_worker(1, ponger(&pp, kRounds));
    JoinHandle<int> a = rt->spawn_on_worker(0, pinger(&pp, kRounds));
    a.header()->wait_finished();
    b.header()->wait_finished();
    JoinResult<int> ra = a.take();
    JoinResult<int> rb = b.take();
    ASSERT_TRUE(ra.has_value() && rb.has_value());
    EXPECT_EQ(*ra, kRounds);
    EXPECT_EQ(*rb, kRounds);
}

Task<int> leaf(int i) {
    co_return i;
}

Task<long> fan_out(int n) {
    std::vector<JoinHandle<int>> handles;
    handles.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        handles.push_back(spawn(leaf(i)));
    }
    long sum = 0;
    for (auto& h : handles) {
        JoinResult<int> r = co_await h;
        sum += r.has_value() ? *r : -1'000'000;
    }
    co_return sum;
}

TEST_P(RuntimeModes, HundredThousandTasksCompleteAndIdleWorkersSteal) {
    RINGLB_RUNTIME_OR_SKIP(rt, 2, GetParam());
    constexpr int kTasks = 100'000;
    JoinResult<long> r = rt->block_on(fan_out(kTasks));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, static_cast<long>(kTasks) * (kTasks - 1) / 2);
    std::uint64_t steals = 0;
    for (unsigned i = 0; i < rt->worker_count(); ++i) {
        steals += rt->worker(i).stats().steals.load();
    }
    // One worker spawned all of them; the other, idle, must have taken some.
    EXPECT_GT(steals, 0u);
}

Task<bool> await_event(Event* e) {
    bool set = co_await e->wait();
    co_return set;
}

TEST_P(RuntimeModes, AWorkerAsleepInTheKernelIsWokenByAnotherThread) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    Event e;
    JoinHandle<bool> h = rt->spawn(await_event(&e));
    // The only worker has nothing to do: it sleeps in io_uring_enter.
    ASSERT_TRUE(test::run_until([&] { return rt->worker(0).is_sleeping(); }));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_FALSE(h.is_finished());
    const auto wakeups = rt->worker(0).stats().wakeups.load();
    e.set();  // from the test thread, not a worker
    ASSERT_TRUE(test::run_until([&] { return h.is_finished(); }, std::chrono::seconds(5)));
    JoinResult<bool> r = h.take();
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(*r);
    EXPECT_GT(rt->worker(0).stats().wakeups.load(), wakeups);
}

struct TwoStep {
    Event first;
    Event second;
    std::atomic<int> wrong_resumes{0};
    std::atomic<int> rounds_done{0};
};

Task<void> two_step_loop(TwoStep* s, int rounds) {
    for (int i = 0; i < rounds; ++i) {
        bool a = co_await s->first.wait();
        if (!a) {
            s->wrong_resumes.fetch_add(1);
        }
        s->first.reset();
        bool b = co_await s->second.wait();
        if (!b) {
            s->wrong_resumes.fetch_add(1);
        }
        s->second.reset();
        s->rounds_done.fetch_add(1, std::memory_order_release);
    }
}

TEST_P(RuntimeModes, SpuriousWakesNeverResumeAtTheWrongSuspensionPoint) {
    // A hostile thread wakes the task continuously while it runs and while it waits on an
    // event that is not set; the task must resume only when the awaited event is set.
    RINGLB_RUNTIME_OR_SKIP(rt, 2, GetParam());
    constexpr int kRounds = 20'000;
    TwoStep s;
    JoinHandle<void> h = rt->spawn(two_step_loop(&s, kRounds));
    std::atomic<bool> stop{false};
    std::atomic<long> spurious{0};
    std::thread hostile([&] {
        while (!stop.load()) {
            h.header()->wake();
            spurious.fetch_add(1, std::memory_order_relaxed);
        }
    });
    for (int i = 0; i < kRounds; ++i) {
        s.first.set();
        // Give the spurious wakes a window while `second` is unset.
        while (s.first.is_set() && !h.is_finished()) {
            std::this_thread::yield();
        }
        s.second.set();
        const bool progressed = test::run_until(
                [&] { return s.rounds_done.load(std::memory_order_acquire) > i; },
                std::chrono::seconds(30));
        ASSERT_TRUE(progressed) << "stalled in round " << i;
    }
    stop = true;
    hostile.join();
    h.header()->wait_finished();
    EXPECT_EQ(s.wrong_resumes.load(), 0);
    EXPECT_GT(spurious.load(), kRounds);
}

/// A flag with a public AtomicWaker, so a test can deliver a wake without a result.
struct BareFlag {
    std::atomic<bool> set{false};
    AtomicWaker waker;
};

struct BareFlagWait {
    BareFlag* f;
    bool await_ready() const noexcept { return f->set.load(); }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
        TaskHeader* task = TaskHeader::current();
        task->suspend_on(h, &BareFlagWait::poll, f);
        f->waker.register_waker(task->waker());
        return !f->set.load();
    }
    bool await_resume() const noexcept { return f->set.load(); }
    static bool poll(void* ctx, TaskHeader& task) noexcept {
        auto* f = static_cast<BareFlag*>(ctx);
        return poll_or_register(f->waker, task, [f] { return f->set.load(); });
    }
};

Task<bool> wait_bare(BareFlag* f) {
    bool ok = co_await BareFlagWait{f};
    co_return ok;
}

TEST_P(RuntimeModes, AStaleWakeDoesNotLeaveTheTaskUnregistered) {
    // A wake consumes the registration. One that finds the result not ready (a stale wake
    // whose result the task already consumed) must leave the task registered again, or the
    // real wake that follows finds nobody: the lost wake-up the ping-pong test once hit.
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    BareFlag f;
    JoinHandle<bool> h = rt->spawn(wait_bare(&f));
    const auto runs = [&] {
        return rt->worker(0).stats().tasks_run.load();
    };
    ASSERT_TRUE(test::run_until([&] {
        return h.header()->lifecycle_now() == TaskHeader::Lifecycle::kIdle && runs() == 1;
    }));
    f.waker.wake();  // stale: nothing is set
    ASSERT_TRUE(test::run_until([&] {
        return h.header()->lifecycle_now() == TaskHeader::Lifecycle::kIdle && runs() == 2;
    }));
    EXPECT_FALSE(h.is_finished());
    f.set.store(true);
    f.waker.wake();  // the real one
    ASSERT_TRUE(test::run_until([&] { return h.is_finished(); }, std::chrono::seconds(5)))
            << "the task was not registered any more";
    JoinResult<bool> r = h.take();
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(*r);
}

Task<void> sleep_long_counted() {
    LifetimeCounter counted;
    IoResult r = co_await sleep(std::chrono::hours(1));
    (void)r;
}

TEST_P(RuntimeModes, ShutdownCancelsRemainingTasksAndFreesEverything) {
    LifetimeCounter::reset();
    const std::int64_t ops_before = live_op_states();
    {
        RINGLB_RUNTIME_OR_SKIP(rt, 2, GetParam());
        std::vector<JoinHandle<void>> handles;
        for (int i = 0; i < 100; ++i) {
            handles.push_back(rt->spawn(sleep_long_counted()));
        }
        ASSERT_TRUE(test::run_until([] { return LifetimeCounter::live.load() == 100; }));
        rt->shutdown();
        EXPECT_EQ(LifetimeCounter::live.load(), 0);
        for (auto& h : handles) {
            ASSERT_TRUE(h.is_finished());
            JoinResult<void> r = h.take();
            ASSERT_FALSE(r.has_value());
            EXPECT_TRUE(r.error().is_cancelled());
        }
    }
    if (ops_before >= 0) {
        EXPECT_EQ(live_op_states(), ops_before);
    }
}

TEST_P(RuntimeModes, RingFeaturesFollowTheRequestedMode) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    const RingFeatures& f = rt->worker(0).ring()->features();
    if (!GetParam()) {
        EXPECT_FALSE(f.defer_taskrun);
    }
    EXPECT_TRUE(f.defer_taskrun || f.coop_taskrun || f.kernel_features != 0);
}

INSTANTIATE_TEST_SUITE_P(
        Ring,
        RuntimeModes,
        ::testing::Values(true, false),
        [](const ::testing::TestParamInfo<bool>& info) {
            return info.param ? "DeferTaskrun" : "Fallback";
        });

}  // namespace
}  // namespace ringlb::core
