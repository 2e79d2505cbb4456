// SPDX-License-Identifier: MIT
// Maglev table population (Algorithm 1 of the paper, with weighted turns).
#include "daemon/balance/maglev_table.hpp"

#include "core/assert.hpp"

namespace ringlb::daemon {

std::uint64_t hash_bytes(const void* data, std::size_t len, std::uint64_t seed) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < len; ++i) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

MaglevTable::MaglevTable(
        std::span<const std::string> names,
        std::span<const std::uint32_t> weights,
        std::uint32_t size) {
    RINGLB_CHECK(!names.empty() && names.size() == weights.size(), "maglev: bad backend list");
    const std::size_t n = names.size();
    backends_ = n;
    std::vector<std::uint64_t> offset(n);
    std::vector<std::uint64_t> skip(n);
    std::vector<std::uint64_t> next(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
        offset[i] = hash_bytes(names[i].data(), names[i].size(), 0x6d61676c) % size;
        skip[i] = hash_bytes(names[i].data(), names[i].size(), 0x65762121) % (size - 1) + 1;
    }
    constexpr std::uint32_t kEmpty = UINT32_MAX;
    table_.assign(size, kEmpty);
    std::uint32_t filled = 0;
    while (filled < size) {
        for (std::size_t i = 0; i < n && filled < size; ++i) {
            // A backend of weight w takes w turns per round: its share of entries is w/sum.
            for (std::uint32_t turn = 0; turn < weights[i] && filled < size; ++turn) {
                std::uint64_t c = (offset[i] + next[i] * skip[i]) % size;
                while (table_[c] != kEmpty) {
                    ++next[i];
                    c = (offset[i] + next[i] * skip[i]) % size;
                }
                table_[c] = static_cast<std::uint32_t>(i);
                ++next[i];
                ++filled;
            }
        }
    }
}

}  // namespace ringlb::daemon
