// SPDX-License-Identifier: MIT
// nginx's smooth weighted round robin, run for one period.
#include "daemon/balance/smooth_round_robin.hpp"

#include <numeric>

namespace ringlb::daemon {

std::vector<std::uint32_t> smooth_weighted_sequence(std::span<const std::uint32_t> weights) {
    const std::uint64_t total = std::accumulate(weights.begin(), weights.end(), std::uint64_t{0});
    std::vector<std::int64_t> current(weights.size(), 0);
    std::vector<std::uint32_t> sequence;
    sequence.reserve(total);
    for (std::uint64_t step = 0; step < total; ++step) {
        // Each step: every backend gains its weight; the largest is chosen and pays the total.
        std::size_t best = 0;
        for (std::size_t i = 0; i < weights.size(); ++i) {
            current[i] += weights[i];
            if (current[i] > current[best]) {
                best = i;
            }
        }
        current[best] -= static_cast<std::int64_t>(total);
        sequence.push_back(static_cast<std::uint32_t>(best));
    }
    return sequence;
}

}  // namespace ringlb::daemon
