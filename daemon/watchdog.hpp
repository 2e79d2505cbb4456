// SPDX-License-Identifier: MIT
// The watchdog's liveness rule: ping systemd (WATCHDOG=1) only while every worker's loop has
// turned recently. A worker stuck in a task (an endless loop, a blocking call) stops turning,
// its heartbeat goes stale, the pings stop, and systemd restarts the service.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>

namespace ringlb::daemon {

/// True if every heartbeat (CLOCK_MONOTONIC_COARSE ns, WorkerStats::heartbeat_ns) is at most
/// `limit` older than `now_ns`. No workers: false (nothing proves the daemon is alive).
inline bool all_workers_alive(
        std::span<const std::int64_t> heartbeats_ns,
        std::int64_t now_ns,
        std::chrono::milliseconds limit) noexcept {
    const std::int64_t max_age = std::chrono::nanoseconds(limit).count();
    for (const std::int64_t beat : heartbeats_ns) {
        if (now_ns - beat > max_age) {
            return false;
        }
    }
    return !heartbeats_ns.empty();
}

}  // namespace ringlb::daemon
