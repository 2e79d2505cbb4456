// SPDX-License-Identifier: MIT
// Read-side cost of ArcSwap::load() against std::atomic<std::shared_ptr>::load() and a
// mutex-guarded shared_ptr copy, with 1/2/4 reader threads, with and without a busy writer.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include <benchmark/benchmark.h>

#include "core/arc_swap.hpp"

namespace ringlb::core {
namespace {

struct Payload {
    std::uint64_t value;
};

std::shared_ptr<const Payload> make_payload(std::uint64_t v) {
    return std::make_shared<const Payload>(Payload{v});
}

// The three cells under test. Each reader iteration reads one field through a fresh
// reference, as a forwarding path reads its config.
ArcSwap<Payload>& arc_swap_cell() {
    static ArcSwap<Payload> cell(make_payload(1));
    return cell;
}

std::atomic<std::shared_ptr<const Payload>>& atomic_cell() {
    static std::atomic<std::shared_ptr<const Payload>> cell(make_payload(1));
    return cell;
}

struct MutexCell {
    std::mutex mutex;
    std::shared_ptr<const Payload> value = make_payload(1);

    std::shared_ptr<const Payload> load() {
        std::lock_guard lock(mutex);
        return value;
    }
    void store(std::shared_ptr<const Payload> v) {
        std::lock_guard lock(mutex);
        value.swap(v);
    }
};

MutexCell& mutex_cell() {
    static MutexCell cell;
    return cell;
}

// A thread that stores into one cell as fast as it can, alternating between two preallocated
// values (so the benchmark measures readers against stores, not against the allocator).
// Started by reader thread 0 before the timed loop; the loop's start barrier makes every
// reader see it running.
class BackgroundWriter {
public:
    template <class Store>
    void start(Store store) {
        stop_.store(false, std::memory_order_relaxed);
        thread_ = std::thread([this, store] {
            const std::shared_ptr<const Payload> values[] = {make_payload(2), make_payload(3)};
            std::uint64_t i = 0;
            // relaxed: a stop request; nothing is published through it.
            while (!stop_.load(std::memory_order_relaxed)) {
                store(values[++i & 1]);
            }
        });
    }
    void stop() {
        stop_.store(true, std::memory_order_relaxed);
        thread_.join();
    }

private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

BackgroundWriter g_writer;

template <class Load, class Store>
void run_readers(benchmark::State& state, bool with_writer, Load load, Store store) {
    if (with_writer && state.thread_index() == 0) {
        g_writer.start(store);
    }
    for (auto _ : state) {
        auto ref = load();
        benchmark::DoNotOptimize(ref->value);
    }
    if (with_writer && state.thread_index() == 0) {
        g_writer.stop();
    }
    state.SetItemsProcessed(state.iterations());
}

void run_arc_swap(benchmark::State& state, bool with_writer) {
    run_readers(
            state,
            with_writer,
            [] { return arc_swap_cell().load(); },
            [](std::shared_ptr<const Payload> v) { arc_swap_cell().store(std::move(v)); });
}

void run_atomic_shared_ptr(benchmark::State& state, bool with_writer) {
    run_readers(
            state,
            with_writer,
            [] { return atomic_cell().load(); },
            [](std::shared_ptr<const Payload> v) { atomic_cell().store(std::move(v)); });
}

void run_mutex_shared_ptr(benchmark::State& state, bool with_writer) {
    run_readers(
            state,
            with_writer,
            [] { return mutex_cell().load(); },
            [](std::shared_ptr<const Payload> v) { mutex_cell().store(std::move(v)); });
}

void arc_swap_load(benchmark::State& state) {
    run_arc_swap(state, false);
}
void atomic_shared_ptr_load(benchmark::State& state) {
    run_atomic_shared_ptr(state, false);
}
void mutex_shared_ptr_copy(benchmark::State& state) {
    run_mutex_shared_ptr(state, false);
}
void arc_swap_load_with_writer(benchmark::State& state) {
    run_arc_swap(state, true);
}
void atomic_shared_ptr_load_with_writer(benchmark::State& state) {
    run_atomic_shared_ptr(state, true);
}
void mutex_shared_ptr_copy_with_writer(benchmark::State& state) {
    run_mutex_shared_ptr(state, true);
}

BENCHMARK(arc_swap_load)->Threads(1)->Threads(2)->Threads(4);
BENCHMARK(atomic_shared_ptr_load)->Threads(1)->Threads(2)->Threads(4);
BENCHMARK(mutex_shared_ptr_copy)->Threads(1)->Threads(2)->Threads(4);
BENCHMARK(arc_swap_load_with_writer)->Threads(1)->Threads(2)->Threads(4);
BENCHMARK(atomic_shared_ptr_load_with_writer)->Threads(1)->Threads(2)->Threads(4);
BENCHMARK(mutex_shared_ptr_copy_with_writer)->Threads(1)->Threads(2)->Threads(4);

}  // namespace
}  // namespace ringlb::core

BENCHMARK_MAIN();
