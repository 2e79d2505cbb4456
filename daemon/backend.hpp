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

/// Why a connect attempt failed, for ringlb_backend_connect_errors_total{reason}.
enum class ConnectError { kRefused, kTimeout, kOther };
inline constexpr int kConnectErrorKinds = 3;
const char* to_string(ConnectError e) noexcept;

struct BackendState {
    // Any thread. Read-modify-writes happen once per connection, never per forwarded chunk.
    std::atomic<std::int64_t> active{0};        // sessions connected to it now
    std::atomic<std::uint64_t> connections{0};  // sessions ever connected
    std::atomic<std::uint64_t> connect_errors[kConnectErrorKinds]{};
    std::atomic<bool> healthy{true};  // health checks (none yet): false takes it out

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

    /// May the balancer send it a new connection? Any thread.
    bool usable() const noexcept {
        return admin == AdminState::kEnabled && state->healthy.load(std::memory_order_relaxed);
    }
    std::int64_t active() const noexcept { return state->active.load(std::memory_order_relaxed); }
};

}  // namespace ringlb::daemon
