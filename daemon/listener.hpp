// SPDX-License-Identifier: MIT
// ListenerState: one configured listener's socket, its pool (if it proxies) and its live
// counters; accept_loop(): one per worker, accepting on the shared socket with a multishot
// accept and spawning a session task per connection on the same worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "config/config.hpp"
#include "core/task.hpp"
#include "core/unique_fd.hpp"
#include "daemon/pool.hpp"

namespace ringlb::daemon {

struct ListenerState {
    ListenerState(config::Listener cfg, core::UniqueFd socket, std::shared_ptr<Pool> p)
            : config(std::move(cfg)), fd(std::move(socket)), pool(std::move(p)) {}

    const config::Listener config;
    core::UniqueFd fd;                 // the listening socket
    const std::shared_ptr<Pool> pool;  // nullptr for a built-in service

    // Any thread; one read-modify-write per connection, none per chunk.
    std::atomic<std::int64_t> active{0};          // sessions open now
    std::atomic<std::uint64_t> accepted{0};       // sessions started
    std::atomic<std::uint64_t> rejected_full{0};  // closed at once: max_connections reached
    std::atomic<std::uint64_t> no_backend{0};     // closed: no backend could be connected
};

/// Accepts on `listener` until cancelled (abort or runtime shutdown). Out of descriptors or
/// ring space, it pauses (100 ms) instead of spinning.
core::Task<void> accept_loop(std::shared_ptr<ListenerState> listener);

}  // namespace ringlb::daemon
