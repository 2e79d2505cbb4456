// SPDX-License-Identifier: MIT
// Runtime micro-benchmarks: handler-table dispatch, spawn+join, same-worker and cross-worker
// wake latency. Run: build/tests/bench/core_bench (numbers go to docs/performance.md).
#include <atomic>

#include <benchmark/benchmark.h>

#include "core/handler_table.hpp"
#include "core/join_handle.hpp"
#include "core/runtime.hpp"
#include "core/sync/event.hpp"

namespace ringlb::core {
namespace {

std::uint64_t g_sink = 0;
void count_handler(void* target, const io_uring_cqe& /*cqe*/) noexcept {
    g_sink += reinterpret_cast<std::uintptr_t>(target);
}

void BM_HandlerTableDispatch(benchmark::State& state) {
    HandlerTable<16> table;
    table.register_handler(5, &count_handler);
    alignas(16) static unsigned char cqe_storage[32] = {};
    const auto& cqe = *reinterpret_cast<const io_uring_cqe*>(cqe_storage);
    std::size_t slot = 5;
    for (auto _ : state) {
        benchmark::DoNotOptimize(slot);
        table.handle(slot, &slot, cqe);
    }
    benchmark::DoNotOptimize(g_sink);
}
BENCHMARK(BM_HandlerTableDispatch);

std::unique_ptr<Runtime> runtime(unsigned workers) {
    RuntimeOptions o;
    o.workers = workers;
    auto rt = Runtime::create(o);
    return rt ? std::move(*rt) : nullptr;
}

Task<int> leaf() {
    co_return 1;
}

Task<long> spawn_join(long n) {
    long sum = 0;
    for (long i = 0; i < n; ++i) {
        JoinHandle<int> h = spawn(leaf());
        JoinResult<int> r = co_await h;
        sum += *r;
    }
    co_return sum;
}

void BM_SpawnJoin(benchmark::State& state) {
    auto rt = runtime(static_cast<unsigned>(state.range(0)));
    if (!rt) {
        state.SkipWithError("io_uring unavailable");
        return;
    }
    constexpr long kBatch = 10'000;
    for (auto _ : state) {
        auto r = rt->block_on(spawn_join(kBatch));
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_SpawnJoin)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

struct PingPong {
    Event ping;
    Event pong;
};

Task<void> pinger(PingPong* pp, long rounds) {
    for (long i = 0; i < rounds; ++i) {
        pp->ping.set();
        bool ok = co_await pp->pong.wait();
        (void)ok;
        pp->pong.reset();
    }
}

Task<void> ponger(PingPong* pp, long rounds) {
    for (long i = 0; i < rounds; ++i) {
        bool ok = co_await pp->ping.wait();
        (void)ok;
        pp->ping.reset();
        pp->pong.set();
    }
}

/// One round trip = two wakes. Arg 0: both tasks on one worker; 1: on two workers.
void BM_WakeRoundTrip(benchmark::State& state) {
    const bool cross = state.range(0) == 1;
    auto rt = runtime(cross ? 2 : 1);
    if (!rt) {
        state.SkipWithError("io_uring unavailable");
        return;
    }
    constexpr long kRounds = 20'000;
    for (auto _ : state) {
        PingPong pp;
        auto b = rt->spawn_on_worker(cross ? 1 : 0, ponger(&pp, kRounds));
        auto a = rt->spawn_on_worker(0, pinger(&pp, kRounds));
        a.header()->wait_finished();
        b.header()->wait_finished();
    }
    state.SetItemsProcessed(state.iterations() * kRounds);
    state.SetLabel(cross ? "cross-worker" : "same-worker");
}
BENCHMARK(BM_WakeRoundTrip)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace ringlb::core

BENCHMARK_MAIN();
