// SPDX-License-Identifier: MIT
// Per-worker counters: one cache line per worker, written only by that worker's thread with a
// relaxed load and store (no read-modify-write, no lock), read by the metrics scrape, which
// sums them. This is how the per-chunk counters (bytes) stay off the shared cache lines.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "core/worker.hpp"

namespace ringlb::daemon {

/// Adds `n` to a counter only the calling thread writes.
inline void add_single_writer(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

/// The index of the calling worker (0 outside a worker: the control thread never counts).
inline unsigned current_worker_index() noexcept {
    const core::Worker* w = core::Worker::current();
    return w != nullptr ? w->index() : 0;
}

/// `Slot` is a struct of std::atomic<std::uint64_t> counters; one is kept per worker.
template <class Slot>
class PerWorker {
public:
    explicit PerWorker(unsigned workers)
            : count_(workers), slots_(std::make_unique<Padded[]>(workers)) {}

    /// The calling worker's slot. Its thread is its only writer.
    Slot& mine() noexcept { return slots_[current_worker_index() % count_].slot; }
    const Slot& at(unsigned i) const noexcept { return slots_[i].slot; }
    unsigned size() const noexcept { return count_; }

    /// Sums one counter over the workers. Any thread.
    std::uint64_t sum(std::atomic<std::uint64_t> Slot::*counter) const noexcept {
        std::uint64_t total = 0;
        for (unsigned i = 0; i < count_; ++i) {
            total += (slots_[i].slot.*counter).load(std::memory_order_relaxed);
        }
        return total;
    }

private:
    struct alignas(64) Padded {
        Slot slot;
    };
    unsigned count_;
    std::unique_ptr<Padded[]> slots_;
};

}  // namespace ringlb::daemon
