// SPDX-License-Identifier: MIT
// Pool: a named set of backends with its balancer. Immutable once built except for the
// backends' live counters; sessions hold a shared_ptr to the pool they picked from, so the
// backend states they count into outlive any reload.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "daemon/backend.hpp"
#include "daemon/balance/balancer.hpp"

namespace ringlb::daemon {

class Pool {
public:
    explicit Pool(const config::Pool& cfg);

    const std::string& name() const noexcept { return name_; }
    std::size_t size() const noexcept { return backends_.size(); }
    BackendState& backend(std::size_t i) noexcept { return *backends_[i]; }

    /// See Balancer::pick.
    std::int64_t
    pick(const core::SocketAddress& client, std::span<const std::uint32_t> tried) noexcept {
        return balancer_.pick(client, tried);
    }

private:
    static std::vector<BackendState*> raw(const std::vector<std::shared_ptr<BackendState>>& v);

    std::string name_;
    std::vector<std::shared_ptr<BackendState>> backends_;
    Balancer balancer_;  // after backends_: it points into them
};

}  // namespace ringlb::daemon
