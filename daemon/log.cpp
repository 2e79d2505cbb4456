// SPDX-License-Identifier: MIT
// log_line(): format into a stack buffer and write it with one syscall.
#include "daemon/log.hpp"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace ringlb::daemon {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

bool under_journald() noexcept {
    static const bool journald = std::getenv("JOURNAL_STREAM") != nullptr;
    return journald;
}

// sd-daemon(3) priorities: debug 7, info 6, warning 4, err 3.
int syslog_priority(LogLevel level) noexcept {
    switch (level) {
        case LogLevel::kDebug:
            return 7;
        case LogLevel::kInfo:
            return 6;
        case LogLevel::kWarn:
            return 4;
        case LogLevel::kError:
            return 3;
    }
    return 6;
}

}  // namespace

void set_log_level(LogLevel level) noexcept {
    g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

LogLevel log_level() noexcept {
    return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed));
}

bool log_enabled(LogLevel level) noexcept {
    return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void log_line(LogLevel level, const char* format, ...) noexcept {
    char line[1024];
    int n = 0;
    if (under_journald()) {
        n = std::snprintf(line, sizeof line, "<%d>", syslog_priority(level));
    } else {
        timespec now{};
        clock_gettime(CLOCK_REALTIME, &now);
        tm utc{};
        gmtime_r(&now.tv_sec, &utc);
        n = std::snprintf(
                line,
                sizeof line,
                "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                utc.tm_year + 1900,
                utc.tm_mon + 1,
                utc.tm_mday,
                utc.tm_hour,
                utc.tm_min,
                utc.tm_sec,
                now.tv_nsec / 1'000'000,
                config::to_string(level));
    }
    va_list args;
    va_start(args, format);
    const int body =
            std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n) - 1, format, args);
    va_end(args);
    std::size_t len = static_cast<std::size_t>(n) + (body > 0 ? static_cast<std::size_t>(body) : 0);
    if (len > sizeof line - 2) {
        len = sizeof line - 2;  // truncated: still one line
    }
    line[len++] = '\n';
    ssize_t written = ::write(STDERR_FILENO, line, len);
    (void)written;  // nowhere to report a failed log write
}

}  // namespace ringlb::daemon
