// SPDX-License-Identifier: MIT
// BackendState: one backend's identity and live counters, shared by every pool snapshot that
// names it (so a reload keeps its counts) and by the sessions connected to it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "core/net/address.hpp"

namespace ringlb::daemon {

struct BackendState {
    BackendState(std::string address_text, core::SocketAddress address, std::uint32_t w)
            : address(std::move(address_text)), resolved(address), weight(w) {}

    const std::string address;  // as written in the config: the admin API's name for it
    const core::SocketAddress resolved;
    const std::uint32_t weight;

    // Any thread. Read-modify-writes happen once per connection, never per forwarded chunk.
    std::atomic<std::int64_t> active{0};        // sessions connected to it now
    std::atomic<std::uint64_t> connections{0};  // sessions ever connected
    std::atomic<std::uint64_t> connect_errors{0};
    std::atomic<bool> available{true};  // false: the balancer skips it (disabled, down)
};

}  // namespace ringlb::daemon
