// SPDX-License-Identifier: MIT
// AtomicWaker: wake-before-register, single delivery, and the register/wake race under load.
#include "core/atomic_waker.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/counting_waker.hpp"

namespace ringlb::core {
namespace {

using test::CountingTarget;
using test::waker_for;

TEST(AtomicWaker, WakeReachesTheRegisteredWakerOnce) {
    CountingTarget t;
    AtomicWaker aw;
    aw.register_waker(waker_for(t));
    aw.wake();
    EXPECT_EQ(t.wakes.load(), 1);
    aw.wake();  // the slot is empty now
    EXPECT_EQ(t.wakes.load(), 1);
    EXPECT_EQ(t.refs.load(), 0) << "the woken waker's reference was dropped";
}

TEST(AtomicWaker, WakeBeforeRegisterIsANoOpThatRegisterThenCheckDoesNotLose) {
    CountingTarget t;
    AtomicWaker aw;
    std::atomic<bool> ready{false};
    ready.store(true, std::memory_order_release);  // producer publishes ...
    aw.wake();                                     // ... and wakes nobody
    EXPECT_EQ(t.wakes.load(), 0);
    aw.register_waker(waker_for(t));                     // waiter registers ...
    EXPECT_TRUE(ready.load(std::memory_order_acquire));  // ... then checks: not lost
    EXPECT_EQ(t.wakes.load(), 0);
    aw.take();
    EXPECT_EQ(t.refs.load(), 0);
}

TEST(AtomicWaker, RegisterReplacesThePreviousWaker) {
    CountingTarget first;
    CountingTarget second;
    AtomicWaker aw;
    aw.register_waker(waker_for(first));
    aw.register_waker(waker_for(second));
    EXPECT_EQ(first.refs.load(), 0);
    aw.wake();
    EXPECT_EQ(first.wakes.load(), 0);
    EXPECT_EQ(second.wakes.load(), 1);
}

TEST(AtomicWaker, EmptyWakerIsANoOp) {
    Waker w;
    EXPECT_TRUE(w.empty());
    w.wake();
}

/// One waiter and one producer per pair race register-then-check against publish-then-wake,
/// once per round. Each round must end with the waiter having seen the value, either by its
/// own check or through exactly one wake-up; a lost wake-up hangs the waiter (caught by the
/// deadline), a doubled one shows as two wake-ups in one round.
void race_pairs(int pairs, int rounds) {
    struct Pair {
        AtomicWaker aw;
        std::atomic<int> published{0};
        std::atomic<int> round{0};  // the waiter starts round r by storing r
        std::atomic<int> finished{0};
        CountingTarget target;
        std::atomic<bool> failed{false};
        int doubled = 0;
        int by_wake = 0;
    };
    std::vector<std::unique_ptr<Pair>> ps;
    for (int i = 0; i < pairs; ++i) {
        ps.push_back(std::make_unique<Pair>());
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
    std::vector<std::thread> threads;
    for (auto& up : ps) {
        Pair* p = up.get();
        threads.emplace_back([p, rounds, deadline] {  // waiter
            for (int r = 1; r <= rounds && !p->failed; ++r) {
                const int wakes_before = p->target.wakes.load();
                p->round.store(r, std::memory_order_seq_cst);
                p->aw.register_waker(waker_for(p->target));
                bool seen = p->published.load(std::memory_order_acquire) >= r;
                while (!seen) {
                    // Not published at our check: the producer's wake must reach us.
                    if (p->target.wakes.load() > wakes_before) {
                        seen = p->published.load(std::memory_order_acquire) >= r;
                        if (!seen) {  // woken for nothing: impossible in this protocol
                            p->failed = true;
                        }
                        ++p->by_wake;
                        break;
                    }
                    if (std::chrono::steady_clock::now() > deadline) {
                        p->failed = true;  // lost wake-up
                        break;
                    }
                    std::this_thread::yield();
                }
                // Wait for the producer to leave wake() so the round's count is final.
                while (p->finished.load(std::memory_order_acquire) < r && !p->failed) {
                    std::this_thread::yield();
                }
                if (p->target.wakes.load() - wakes_before > 1) {
                    ++p->doubled;
                }
                p->aw.take();  // drop a registration no wake consumed
            }
        });
        threads.emplace_back([p, rounds] {  // producer
            for (int r = 1; r <= rounds && !p->failed; ++r) {
                while (p->round.load(std::memory_order_seq_cst) < r && !p->failed) {
                    std::this_thread::yield();
                }
                p->published.store(r, std::memory_order_release);
                p->aw.wake();
                p->finished.store(r, std::memory_order_release);
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (auto& p : ps) {
        EXPECT_FALSE(p->failed) << "a wake-up was lost (or spurious)";
        EXPECT_EQ(p->doubled, 0) << "a wake-up was delivered twice";
        EXPECT_EQ(p->target.refs.load(), 0) << "a waker reference leaked";
    }
}

int rounds_from_env(int fallback) {
    const char* env = std::getenv("RINGLB_WAKER_ROUNDS");
    return env != nullptr ? std::atoi(env) : fallback;
}

TEST(AtomicWaker, ConcurrentRegisterAndWakeNeverLoseOrDoubleAWakeUp) {
    // 4 threads: two waiter/producer pairs, 1,000,000 rounds each.
    race_pairs(2, rounds_from_env(1'000'000));
}

}  // namespace
}  // namespace ringlb::core
