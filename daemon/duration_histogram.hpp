// SPDX-License-Identifier: MIT
// DurationHistogram: a Prometheus histogram of durations kept per worker (single-writer
// counters, see per_worker.hpp) and summed at scrape time. Observed once per connection.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "daemon/per_worker.hpp"

namespace ringlb::daemon {

class DurationHistogram {
public:
    /// Upper bounds in seconds (le="..."); +Inf is implicit.
    static constexpr std::array<double, 16> kBounds{
            0.0005,
            0.001,
            0.0025,
            0.005,
            0.01,
            0.025,
            0.05,
            0.1,
            0.25,
            0.5,
            1,
            2.5,
            5,
            10,
            60,
            300};

    explicit DurationHistogram(unsigned workers) : slots_(workers) {}

    /// From a worker thread.
    void observe(std::chrono::nanoseconds d) noexcept {
        Slot& s = slots_.mine();
        const double seconds = std::chrono::duration<double>(d).count();
        std::size_t bucket = 0;
        while (bucket < kBounds.size() && seconds > kBounds[bucket]) {
            ++bucket;
        }
        add_single_writer(s.buckets[bucket], 1);
        add_single_writer(s.sum_ns, static_cast<std::uint64_t>(d.count() > 0 ? d.count() : 0));
    }

    struct Snapshot {
        std::array<std::uint64_t, kBounds.size() + 1> buckets{};  // not cumulative; last: +Inf
        std::uint64_t count = 0;
        double sum_seconds = 0;
    };
    /// Any thread.
    Snapshot snapshot() const noexcept {
        Snapshot out;
        std::uint64_t sum_ns = 0;
        for (unsigned w = 0; w < slots_.size(); ++w) {
            const Slot& s = slots_.at(w);
            for (std::size_t b = 0; b < out.buckets.size(); ++b) {
                const std::uint64_t n = s.buckets[b].load(std::memory_order_relaxed);
                out.buckets[b] += n;
                out.count += n;
            }
            sum_ns += s.sum_ns.load(std::memory_order_relaxed);
        }
        out.sum_seconds = static_cast<double>(sum_ns) / 1e9;
        return out;
    }

private:
    struct Slot {
        std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets{};
        std::atomic<std::uint64_t> sum_ns{0};
    };
    PerWorker<Slot> slots_;
};

}  // namespace ringlb::daemon
