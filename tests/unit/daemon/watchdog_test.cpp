// SPDX-License-Identifier: MIT
// The watchdog rule, and that a real worker's heartbeat stops while it is stuck in a task.
#include "daemon/watchdog.hpp"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/runtime.hpp"
#include "daemon/backend.hpp"
#include "tests/support/loopback.hpp"

namespace ringlb::daemon {
namespace {

using std::chrono::milliseconds;
constexpr std::int64_t kMs = 1'000'000;

TEST(Watchdog, FreshHeartbeatsPing) {
    const std::vector<std::int64_t> beats{1000 * kMs, 1010 * kMs};
    EXPECT_TRUE(all_workers_alive(beats, 1100 * kMs, milliseconds(200)));
}

TEST(Watchdog, OneStaleWorkerStopsThePings) {
    const std::vector<std::int64_t> beats{1000 * kMs, 500 * kMs};
    EXPECT_FALSE(all_workers_alive(beats, 1100 * kMs, milliseconds(200)));
}

TEST(Watchdog, NoWorkersNeverPing) {
    EXPECT_FALSE(all_workers_alive({}, 1100 * kMs, milliseconds(200)));
}

core::Task<void> spin_for(std::chrono::milliseconds d, std::atomic<bool>* started) {
    started->store(true);
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
        // A task that never yields: its worker's loop cannot turn.
    }
    co_return;
}

std::vector<std::int64_t> beats_of(const core::Runtime& rt) {
    std::vector<std::int64_t> beats;
    for (unsigned i = 0; i < rt.worker_count(); ++i) {
        beats.push_back(rt.worker(i).stats().heartbeat_ns.load());
    }
    return beats;
}

bool eventually_alive(const core::Runtime& rt, milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
        if (all_workers_alive(beats_of(rt), coarse_now_ns(), limit)) {
            return true;
        }
        std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
}

TEST(Watchdog, AWorkerStuckInATaskGoesStaleAndRecovers) {
    core::RuntimeOptions options;
    options.workers = 2;
    options.max_idle_wait = milliseconds(20);  // idle workers turn at least this often
    auto rt = core::Runtime::create(options);
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    const milliseconds limit(200);
    // Idle workers keep their heartbeats fresh (polled: a loaded machine may be slow to start).
    EXPECT_TRUE(eventually_alive(**rt, limit));
    std::atomic<bool> started{false};
    auto stuck = (*rt)->spawn_on_worker(0, spin_for(milliseconds(800), &started));
    while (!started.load()) {
        std::this_thread::yield();
    }
    std::this_thread::sleep_for(milliseconds(500));
    EXPECT_FALSE(all_workers_alive(beats_of(**rt), coarse_now_ns(), limit))
            << "a stuck worker must stop the pings";
    stuck.header()->wait_finished();
    std::this_thread::sleep_for(milliseconds(100));
    EXPECT_TRUE(all_workers_alive(beats_of(**rt), coarse_now_ns(), limit))
            << "and they resume when it turns again";
    (*rt)->shutdown();
}

}  // namespace
}  // namespace ringlb::daemon
