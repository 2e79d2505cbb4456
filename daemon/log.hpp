// SPDX-License-Identifier: MIT
// Logging: one line per event on stderr, with a level. Under systemd (JOURNAL_STREAM set) each
// line starts with the sd-daemon priority prefix ("<6>") so journald files it at that level;
// otherwise with a UTC timestamp. One write(2) per line, so lines from workers never interleave.
#pragma once

#include <atomic>
#include <cstdarg>

#include "config/config.hpp"

namespace ringlb::daemon {

using config::LogLevel;

/// The process-wide threshold; lines below it are dropped before they are formatted.
void set_log_level(LogLevel level) noexcept;
LogLevel log_level() noexcept;
bool log_enabled(LogLevel level) noexcept;

/// printf-style; the line ends with a newline added here.
void log_line(LogLevel level, const char* format, ...) noexcept
        __attribute__((format(printf, 2, 3)));

#define RINGLB_LOG(level, ...)                                                                     \
    do {                                                                                           \
        if (::ringlb::daemon::log_enabled(level)) {                                                \
            ::ringlb::daemon::log_line(level, __VA_ARGS__);                                        \
        }                                                                                          \
    } while (0)
#define LOG_DEBUG(...) RINGLB_LOG(::ringlb::config::LogLevel::kDebug, __VA_ARGS__)
#define LOG_INFO(...) RINGLB_LOG(::ringlb::config::LogLevel::kInfo, __VA_ARGS__)
#define LOG_WARN(...) RINGLB_LOG(::ringlb::config::LogLevel::kWarn, __VA_ARGS__)
#define LOG_ERROR(...) RINGLB_LOG(::ringlb::config::LogLevel::kError, __VA_ARGS__)

}  // namespace ringlb::daemon
