// SPDX-License-Identifier: MIT
// A backend as a pool snapshot sees it (BackendEntry: address, weight, admin state; immutable)
// and as every snapshot shares it (BackendState: live counters and health; survives reloads
// and admin changes, so least_conn and the metrics never lose the connections in flight).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/net/address.hpp"

namespace ringlb::daemon {

/// CLOCK_MONOTONIC_COARSE in nanoseconds: the clock of health, ejection and slow start.
std::int64_t coarse_now_ns() noexcept;

/// Why a connect attempt failed, for ringlb_backend_connect_errors_total{reason}.
enum class ConnectError { kRefused, kTimeout, kOther };
inline constexpr int kConnectErrorKinds = 3;
const char* to_string(ConnectError e) noexcept;

struct BackendState {
    // Any thread. Read-modify-writes happen once per connection, never per forwarded chunk.
    std::atomic<std::int64_t> active{0};        // sessions connected to it now
    std::atomic<std::uint64_t> connections{0};  // sessions ever connected
    std::atomic<std::uint64_t> connect_errors[kConnectErrorKinds]{};
    std::atomic<bool> healthy{true};  // active health checks: false takes it out

    // Passive ejection (config `outlier`) and slow start; times are CLOCK_MONOTONIC_COARSE ns.
    std::atomic<std::uint32_t> consecutive_failures{0};
    std::atomic<std::uint32_t> ejections{0};  // how often it was ejected: the back-off exponent
    std::atomic<std::int64_t> ejected_until_ns{0};
    std::atomic<std::int64_t> up_since_ns{0};  // when it (re)joined; 0: from the start

    bool ejected(std::int64_t now_ns) const noexcept {
        return now_ns < ejected_until_ns.load(std::memory_order_relaxed);
    }

    void count_connect_error(ConnectError e) noexcept {
        connect_errors[static_cast<int>(e)].fetch_add(1, std::memory_order_relaxed);
    }
};

/// Set through the admin socket (ringlbctl enable|disable|drain); reset by a reload.
enum class AdminState {
    kEnabled,
    kDisabled,  // no new connections
    kDraining,  // no new connections; reported as draining until its last one ends
};
const char* to_string(AdminState s) noexcept;

struct BackendEntry {
    std::string address;  // as written in the config: the admin API's name for it
    core::SocketAddress resolved;
    std::uint32_t weight = 1;
    AdminState admin = AdminState::kEnabled;
    std::shared_ptr<BackendState> state;
    std::uint32_t max_connections = 0;  // 0: no limit

    /// In service: enabled, healthy, not ejected (it may still be at its connection limit).
    bool in_service(std::int64_t now_ns) const noexcept {
        return admin == AdminState::kEnabled && state->healthy.load(std::memory_order_relaxed)
                && !state->ejected(now_ns);
    }
    /// May the balancer send it a new connection (in service and below max_connections)?
    bool usable(std::int64_t now_ns) const noexcept {
        return in_service(now_ns)
                && (max_connections == 0 || active() < static_cast<std::int64_t>(max_connections));
    }
    std::int64_t active() const noexcept { return state->active.load(std::memory_order_relaxed); }
};

}  // namespace ringlb::daemon
