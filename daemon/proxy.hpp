// SPDX-License-Identifier: MIT
// Proxy: the application's control plane. It owns the listeners (bound sockets, accept loops
// on every worker) and the current pool snapshots, and applies every change to them: start,
// reload, admin changes to a backend, stop. Changes are serialized by one mutex, which the
// connection path never takes: sessions read their listener's ArcSwap'd view.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/join_handle.hpp"
#include "core/result.hpp"
#include "core/runtime.hpp"
#include "daemon/echo_service.hpp"
#include "daemon/listener.hpp"

namespace ringlb::daemon {

/// What a reload changed, for the log and the reply to `ringlbctl reload`.
struct ReloadSummary {
    std::vector<std::string> added;    // listener names
    std::vector<std::string> removed;  // listener names (their open sessions finish)
    std::size_t kept = 0;
};

class Proxy {
public:
    /// Binds every listener of `cfg` and starts accepting on every worker of `rt`. The error
    /// names the listener that could not bind.
    /// Listeners named in `inherited` (socket activation) use that socket instead of binding.
    static core::Result<std::unique_ptr<Proxy>, std::string>
    start(const config::Config& cfg, core::Runtime& rt, std::map<std::string, int> inherited = {});

    Proxy(const config::Config& cfg, core::Runtime& rt);  // empty; start() fills it
    ~Proxy();
    Proxy(const Proxy&) = delete;
    Proxy& operator=(const Proxy&) = delete;

    /// Applies a validated config: new listeners bind and start, removed ones stop accepting
    /// (their sessions finish), kept ones get the new settings and pools for new sessions.
    /// All or nothing: if a new listener cannot bind, nothing changes. Not from a worker.
    core::Result<ReloadSummary, std::string> reload(const config::Config& cfg);

    /// Changes one backend of the running pool snapshot (until the next reload). The error
    /// says what was not found. Not from a worker.
    core::Result<void, std::string>
    set_admin_state(const std::string& pool, const std::string& backend, AdminState s);
    core::Result<void, std::string>
    set_weight(const std::string& pool, const std::string& backend, std::uint32_t w);

    /// Stops accepting on every listener and closes the listening sockets; open sessions go
    /// on. Not from a worker thread.
    void stop_accepting();
    /// Proxy sessions open now, over all listeners (also those a reload removed). Any thread.
    std::int64_t active_sessions() const;

    /// Read access for the admin socket and the metrics: `fn` runs under the control mutex
    /// with the current state. Not from a worker.
    struct View {
        const config::Config& config;
        const std::vector<std::shared_ptr<ListenerState>>& listeners;
        const std::map<std::string, std::shared_ptr<const Pool>>& pools;
        const SessionStats& stats;
    };
    template <class Fn>
    auto inspect(Fn fn) const {
        std::lock_guard lock(control_);
        return fn(View{config_, listeners_, pools_, stats_});
    }

private:
    struct Running {
        std::shared_ptr<ListenerState> state;
        std::vector<core::JoinHandle<void>> accept_loops;
    };

    core::Result<std::shared_ptr<ListenerState>, std::string>
    bind_listener(const config::Listener& l, std::shared_ptr<const Pool> pool);
    void start_accepting(Running& r);
    void stop(Running& r);
    std::shared_ptr<const ListenerView> view_for(const config::Listener& l) const;
    void publish_pool(std::shared_ptr<const Pool> pool);
    /// Finds backend `backend` of `pool` and publishes `change(pool, index)`. Takes the lock.
    core::Result<void, std::string> change_backend(
            const std::string& pool,
            const std::string& backend,
            const std::function<std::shared_ptr<const Pool>(const Pool&, std::size_t)>& change);
    void forget_finished_retired();
    void restart_health_checks();

    core::Runtime& rt_;
    mutable std::mutex control_;  // control plane only: never on the connection path
    config::Config config_;
    std::map<std::string, std::shared_ptr<const Pool>> pools_;
    std::vector<Running> running_;
    std::vector<std::shared_ptr<ListenerState>> listeners_;  // running_'s states, for View
    std::vector<std::shared_ptr<ListenerState>> retired_;    // removed, sessions still open
    SessionStats stats_;
    EchoStats echo_stats_;
    std::map<std::string, core::UniqueFd> inherited_;    // by listener name, until used
    std::vector<core::JoinHandle<void>> health_checks_;  // one per checked backend
};

}  // namespace ringlb::daemon
