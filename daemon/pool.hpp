// SPDX-License-Identifier: MIT
// Pool: one immutable snapshot of a named set of backends and its balancer. A change (reload,
// ringlbctl disable/weight) builds a new Pool that shares the BackendStates of the old one and
// is published through the listeners' ArcSwap; sessions keep the snapshot they started with.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "daemon/backend.hpp"
#include "daemon/balance/balancer.hpp"

namespace ringlb::daemon {

class Pool {
public:
    /// From the config; backends whose address `previous` also has keep their BackendState
    /// (live counters), everything else (weight, admin state) comes from the config.
    /// `reloaded`: the pool comes from a reload, so a backend new to it slow-starts.
    static std::shared_ptr<const Pool>
    from_config(const config::Pool& cfg, const Pool* previous, bool reloaded);

    /// This pool with backend `index` changed; every BackendState is shared.
    std::shared_ptr<const Pool> with_admin(std::size_t index, AdminState admin) const;
    std::shared_ptr<const Pool> with_weight(std::size_t index, std::uint32_t weight) const;

    Pool(std::string name,
         config::Balance balance,
         std::vector<BackendEntry> backends,
         std::optional<config::Outlier> outlier = std::nullopt,
         std::optional<config::HealthCheck> health_check = std::nullopt,
         std::uint32_t slow_start_ms = 0);
    Pool(const Pool&) = delete;  // the balancer points into backends_
    Pool& operator=(const Pool&) = delete;

    const std::string& name() const noexcept { return name_; }
    config::Balance balance() const noexcept { return balance_; }
    std::size_t size() const noexcept { return backends_.size(); }
    const BackendEntry& backend(std::size_t i) const noexcept { return backends_[i]; }
    std::span<const BackendEntry> backends() const noexcept { return backends_; }
    /// The index of the backend with this address as written in the config.
    std::optional<std::size_t> find(const std::string& address) const noexcept;

    const std::optional<config::HealthCheck>& health_check() const noexcept {
        return health_check_;
    }

    /// True when no backend can take a connection only because each in service is at its
    /// max_connections: then a client may queue (queue_size, queue_timeout_ms).
    bool saturated() const noexcept;
    std::uint32_t queue_size() const noexcept { return queue_size_; }
    std::chrono::milliseconds queue_timeout() const noexcept {
        return std::chrono::milliseconds(queue_timeout_ms_);
    }
    /// Clients waiting for a slot now, shared by the pool's snapshots across reloads.
    std::atomic<std::int64_t>& queued() const noexcept { return *queued_; }

    /// Passive ejection bookkeeping after a connect attempt to backend `i`. Any thread.
    void report_connect_success(std::size_t i) const noexcept;
    void report_connect_failure(std::size_t i) const noexcept;

    /// See Balancer::pick. Any thread.
    std::int64_t
    pick(const core::SocketAddress& client, std::span<const std::uint32_t> tried) const noexcept {
        return balancer_.pick(client, tried);
    }

private:
    std::shared_ptr<const Pool> copy_with(std::vector<BackendEntry> entries) const;

    std::string name_;
    config::Balance balance_;
    std::vector<BackendEntry> backends_;
    std::optional<config::Outlier> outlier_;
    std::optional<config::HealthCheck> health_check_;
    std::uint32_t slow_start_ms_ = 0;
    std::uint32_t queue_size_ = 0;
    std::uint32_t queue_timeout_ms_ = 5000;
    std::shared_ptr<std::atomic<std::int64_t>> queued_ =
            std::make_shared<std::atomic<std::int64_t>>(0);
    mutable Balancer balancer_;  // after backends_: it points into them. Picking moves cursors.
};

}  // namespace ringlb::daemon
