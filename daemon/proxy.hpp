// SPDX-License-Identifier: MIT
// Proxy: the application object. Binds every configured listener, starts one accept loop per
// listener per worker, stops accepting on request, and reports how many sessions are open (so
// main can drain them before it exits).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/join_handle.hpp"
#include "core/result.hpp"
#include "core/runtime.hpp"
#include "daemon/echo_service.hpp"
#include "daemon/listener.hpp"

namespace ringlb::daemon {

class Proxy {
public:
    /// Binds every listener of `cfg` (nothing is accepted yet). The error names the listener.
    static core::Result<std::unique_ptr<Proxy>, std::string> bind(const config::Config& cfg);

    /// Starts accepting: one accept loop per listener on each worker of `rt`.
    void start(core::Runtime& rt);
    /// Stops accepting on every listener and closes the listening sockets; open sessions go
    /// on. Waits for the accept loops to end. Not from a worker thread.
    void stop_accepting();
    /// Proxy sessions open now, over all listeners. Any thread.
    std::int64_t active_sessions() const noexcept;

    const std::vector<std::shared_ptr<ListenerState>>& listeners() const noexcept {
        return listeners_;
    }

    Proxy() = default;  // empty; bind() fills it

private:
    std::vector<std::shared_ptr<ListenerState>> listeners_;
    std::vector<std::shared_ptr<Pool>> pools_;
    std::vector<core::JoinHandle<void>> accept_loops_;
    EchoStats echo_stats_;
};

}  // namespace ringlb::daemon
