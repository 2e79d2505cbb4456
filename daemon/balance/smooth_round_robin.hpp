// SPDX-License-Identifier: MIT
// Smooth weighted round robin (nginx's algorithm), precomputed: the sequence it produces has
// period sum(weights), so one shared atomic cursor into that sequence gives every worker the
// exact weighted order without a lock. Weights {5,1,1} give a,a,b,a,c,a,a: spread, not bursty.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

namespace ringlb::daemon {

/// One period of nginx's smooth weighted round robin over `weights` (indices into them).
std::vector<std::uint32_t> smooth_weighted_sequence(std::span<const std::uint32_t> weights);

class SmoothRoundRobin {
public:
    explicit SmoothRoundRobin(std::span<const std::uint32_t> weights)
            : sequence_(smooth_weighted_sequence(weights)) {}

    /// The next index in the sequence for which `usable(index)` holds, or -1 if none does.
    /// One atomic increment per call. Any thread.
    template <class Usable>
    std::int64_t pick(Usable usable) noexcept {
        if (sequence_.empty()) {
            return -1;
        }
        // relaxed: the cursor only spreads picks; no other memory hangs on it.
        const std::uint64_t start = cursor_.fetch_add(1, std::memory_order_relaxed);
        for (std::size_t k = 0; k < sequence_.size(); ++k) {
            const std::uint32_t i = sequence_[(start + k) % sequence_.size()];
            if (usable(i)) {
                return i;
            }
        }
        return -1;
    }

private:
    std::vector<std::uint32_t> sequence_;
    std::atomic<std::uint64_t> cursor_{0};
};

}  // namespace ringlb::daemon
