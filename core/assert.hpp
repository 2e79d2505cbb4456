// SPDX-License-Identifier: MIT
// Invariant checks: RINGLB_ASSERT (debug only), RINGLB_CHECK (always on, aborts) and
// RINGLB_BUG (counts and logs in release, aborts in debug). See STYLE.md §5.4.
#pragma once

#include <atomic>
#include <cstdint>

namespace ringlb::core {

/// Prints `file:line: msg` to stderr and aborts. Any thread.
[[noreturn]] void check_failed(const char* file, int line, const char* msg) noexcept;

/// Counts an internal bug (`ringlb_internal_bugs_total`), logs it; aborts in debug builds.
void report_bug(const char* file, int line, const char* msg) noexcept;

/// Number of RINGLB_BUG reports since start. Any thread.
std::uint64_t internal_bug_count() noexcept;

}  // namespace ringlb::core

#define RINGLB_CHECK(cond, msg)                                                                    \
    do {                                                                                           \
        if (!(cond)) [[unlikely]] {                                                                \
            ::ringlb::core::check_failed(__FILE__, __LINE__, (msg));                               \
        }                                                                                          \
    } while (false)

#ifdef NDEBUG
#    define RINGLB_ASSERT(cond)                                                                    \
        do {                                                                                       \
        } while (false)
#else
#    define RINGLB_ASSERT(cond) RINGLB_CHECK(cond, "assertion failed: " #    cond)
#endif

#define RINGLB_BUG(msg) ::ringlb::core::report_bug(__FILE__, __LINE__, (msg))
