// SPDX-License-Identifier: MIT
// MaglevTable: Google's Maglev consistent hash (NSDI '16). Each backend fills a prime-sized
// lookup table along its own permutation (offset and skip hashed from its name), taking turns
// in proportion to its weight. A key maps to table[hash % size]; removing one of n backends
// moves about 1/n of the keys, and few others.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ringlb::daemon {

class MaglevTable {
public:
    /// 65537: prime, and ~100 entries per backend up to 650 backends.
    static constexpr std::uint32_t kDefaultSize = 65537;

    /// `names` identify the backends (their permutations depend only on the name, so a
    /// backend keeps its entries when others come or go). \pre size is prime, names non-empty.
    MaglevTable(
            std::span<const std::string> names,
            std::span<const std::uint32_t> weights,
            std::uint32_t size = kDefaultSize);

    /// The backend index for `key_hash`.
    std::uint32_t lookup(std::uint64_t key_hash) const noexcept {
        return table_[key_hash % table_.size()];
    }
    /// The first backend along the table from `key_hash`'s entry for which `usable` holds, or
    /// -1. The same key always walks the same entries, so a client keeps its fallback too.
    /// The walk is bounded (entries are spread uniformly, so a few per backend find a usable
    /// one unless almost all are out); past it, the backends are scanned in order, so a pool
    /// that is entirely down costs O(backends) per pick, not O(table).
    template <class Usable>
    std::int64_t lookup_usable(std::uint64_t key_hash, Usable usable) const noexcept {
        const std::size_t start = key_hash % table_.size();
        const std::size_t probes = std::min<std::size_t>(table_.size(), 4 * backends_ + 16);
        for (std::size_t k = 0; k < probes; ++k) {
            const std::uint32_t i = table_[(start + k) % table_.size()];
            if (usable(i)) {
                return i;
            }
        }
        for (std::size_t k = 0; k < backends_; ++k) {
            const std::size_t i = (key_hash + k) % backends_;
            if (usable(static_cast<std::uint32_t>(i))) {
                return static_cast<std::int64_t>(i);
            }
        }
        return -1;
    }
    std::size_t size() const noexcept { return table_.size(); }

private:
    std::vector<std::uint32_t> table_;
    std::size_t backends_ = 0;
};

/// 64-bit FNV-1a followed by a murmur3 finaliser (FNV alone clusters on similar keys).
std::uint64_t hash_bytes(const void* data, std::size_t len, std::uint64_t seed = 0) noexcept;

}  // namespace ringlb::daemon
