// SPDX-License-Identifier: MIT
// The built-in echo service: everything a client sends comes back, in order, until it closes.
// Used for probes, demos and tests ; the proxy daemon will serve it for `"service": "echo"`.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/task.hpp"
#include "core/unique_fd.hpp"

namespace ringlb::daemon {

struct EchoStats {
    std::atomic<std::uint64_t> connections{0};
    std::atomic<std::uint64_t> bytes{0};
};

/// Accepts on `listen_fd` (multishot) and spawns one echo task per connection, until the
/// task is aborted or the runtime shuts down. `stats` may be null; it must outlive the task.
core::Task<void> serve_echo(int listen_fd, EchoStats* stats);

/// Echoes one connection until the client shuts down its side, then closes it.
core::Task<void> echo_connection(core::UniqueFd fd, EchoStats* stats);

}  // namespace ringlb::daemon
