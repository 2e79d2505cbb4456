// SPDX-License-Identifier: MIT
// Balancer: picks the backend for a new connection from one pool snapshot, by the pool's
// algorithm. Backends that are not available (disabled, down) are skipped; on a retry the
// backends already tried are avoided while another one is available.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "config/config.hpp"
#include "core/net/address.hpp"
#include "daemon/backend.hpp"
#include "daemon/balance/maglev_table.hpp"
#include "daemon/balance/smooth_round_robin.hpp"

namespace ringlb::daemon {

class Balancer {
public:
    /// \pre `backends` is non-empty and outlives the balancer (the Pool owns both).
    /// `slow_start_ns`: a backend that (re)joined less than this ago is offered a share of
    /// new connections growing linearly from 0 to its full weight (0: no slow start).
    Balancer(
            config::Balance kind,
            std::span<const BackendEntry> backends,
            std::int64_t slow_start_ns = 0);

    /// The index of the backend for a connection from `client`, or -1 when none is available.
    /// Any thread; lock-free (round robin uses one relaxed atomic counter).
    std::int64_t
    pick(const core::SocketAddress& client, std::span<const std::uint32_t> tried) noexcept;

    config::Balance kind() const noexcept { return kind_; }

private:
    template <class Usable>
    std::int64_t pick_with(const core::SocketAddress& client, Usable usable) noexcept;
    template <class Usable>
    std::int64_t least_loaded(Usable usable) noexcept;
    template <class Usable>
    std::int64_t power_of_two(Usable usable) noexcept;

    config::Balance kind_;
    std::span<const BackendEntry> backends_;
    std::optional<SmoothRoundRobin> round_robin_;
    std::optional<MaglevTable> maglev_;
    std::int64_t slow_start_ns_ = 0;
};

/// The key Maglev hashes for a client: its IP address without the port, so every connection
/// from one client lands on the same backend.
std::uint64_t client_key(const core::SocketAddress& client) noexcept;

}  // namespace ringlb::daemon
