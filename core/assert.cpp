// SPDX-License-Identifier: MIT
// Out-of-line halves of the invariant checks: kept out of the header so <cstdio> is not
// dragged into every translation unit.
#include "core/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace ringlb::core {
namespace {
std::atomic<std::uint64_t> g_bugs{0};
}  // namespace

void check_failed(const char* file, int line, const char* msg) noexcept {
    std::fprintf(stderr, "ringlb: fatal: %s:%d: %s\n", file, line, msg);
    std::fflush(stderr);
    std::abort();
}

void report_bug(const char* file, int line, const char* msg) noexcept {
    // relaxed: a statistic; nothing is published through it.
    g_bugs.fetch_add(1, std::memory_order_relaxed);
    std::fprintf(stderr, "ringlb: internal bug: %s:%d: %s\n", file, line, msg);
#ifndef NDEBUG
    std::abort();
#endif
}

std::uint64_t internal_bug_count() noexcept {
    return g_bugs.load(std::memory_order_relaxed);
}

}  // namespace ringlb::core
