// SPDX-License-Identifier: MIT
// Active health checks: one task per backend of a pool with `health_check`, on the runtime.
// Each round (interval ± 10% jitter, the first at a random point of the interval so checks of
// many backends spread out) connects with the timeout, optionally sends `send` and expects the
// reply to start with `expect`. One check in flight per backend, by construction: the task
// awaits each check before it sleeps. `fall` failures in a row mark the backend down, `rise`
// successes up; each transition is logged and seen by the balancer, the metrics and ringlbctl.
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "core/net/address.hpp"
#include "core/task.hpp"
#include "daemon/backend.hpp"

namespace ringlb::daemon {

/// Runs until cancelled (abort at reload, runtime shutdown). `name` is "pool/address".
core::Task<void> health_check_loop(
        std::shared_ptr<BackendState> state,
        core::SocketAddress address,
        std::string name,
        config::HealthCheck check);

}  // namespace ringlb::daemon
