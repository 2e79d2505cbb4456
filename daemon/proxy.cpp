// SPDX-License-Identifier: MIT
// Proxy: start, reload, admin changes and stop, all under the control mutex.
#include "daemon/proxy.hpp"

#include <algorithm>
#include <functional>

#include "daemon/health.hpp"
#include "daemon/log.hpp"
#include "daemon/session.hpp"

namespace ringlb::daemon {

using namespace ringlb::core;

namespace {
// The kernel caps it at net.core.somaxconn; ask for plenty so bursts wait instead of failing.
constexpr int kListenBacklog = 65535;
}  // namespace

Proxy::Proxy(const config::Config& cfg, Runtime& rt)
        : rt_(rt), config_(cfg), stats_(rt.worker_count()) {}

Proxy::~Proxy() {
    stop_accepting();
}

Result<std::unique_ptr<Proxy>, std::string>
Proxy::start(const config::Config& cfg, Runtime& rt, std::map<std::string, int> inherited) {
    auto proxy = std::make_unique<Proxy>(cfg, rt);
    std::lock_guard lock(proxy->control_);
    for (const auto& [name, fd] : inherited) {
        proxy->inherited_[name] = UniqueFd(fd);
    }
    for (const config::Pool& p : cfg.pools) {
        proxy->pools_[p.name] = Pool::from_config(p, nullptr, false);
    }
    for (const config::Listener& l : cfg.listeners) {
        auto state = proxy->bind_listener(l, l.pool ? proxy->pools_[*l.pool] : nullptr);
        if (!state) {
            return Unexpected(std::move(state.error()));  // ~Proxy stops what already runs
        }
        proxy->running_.push_back({std::move(*state), {}});
        proxy->start_accepting(proxy->running_.back());
        proxy->listeners_.push_back(proxy->running_.back().state);
    }
    proxy->restart_health_checks();
    return proxy;
}

Result<std::shared_ptr<ListenerState>, std::string>
Proxy::bind_listener(const config::Listener& l, std::shared_ptr<const Pool> pool) {
    std::vector<UniqueFd> sockets;
    if (auto passed = inherited_.find(l.name); passed != inherited_.end()) {
        sockets.push_back(std::move(passed->second));  // socket activation: systemd bound it
        inherited_.erase(passed);
        LOG_INFO("listener %s: using the socket passed by systemd", l.name.c_str());
    } else {
        // One socket per worker, all with SO_REUSEPORT. The first decides the port (the
        // config may say :0); the others join it.
        SocketAddress where = l.address;
        for (unsigned w = 0; w < rt_.worker_count(); ++w) {
            auto fd = make_listener(where, kListenBacklog, /*reuse_port=*/true);
            if (!fd) {
                return Unexpected(
                        "listener " + l.name + ": cannot listen on " + l.listen + ": "
                        + fd.error().message());
            }
            if (w == 0) {
                if (auto bound = local_address(fd->get())) {
                    where = *bound;
                }
            }
            sockets.push_back(std::move(*fd));
        }
    }
    for (const UniqueFd& s : sockets) {
        set_relay_options(s.get());  // inherited by every accepted socket
    }
    auto view = std::make_shared<const ListenerView>(ListenerView{l, std::move(pool)});
    return std::make_shared<ListenerState>(
            l.address, std::move(sockets), std::move(view), &stats_, rt_.worker_count());
}

void Proxy::start_accepting(Running& r) {
    const auto view = r.state->view.load();
    for (unsigned w = 0; w < rt_.worker_count(); ++w) {
        if (view->pool != nullptr) {
            r.accept_loops.push_back(
                    rt_.spawn_on_worker(w, accept_loop(r.state, r.state->socket_for(w))));
        } else {
            r.accept_loops.push_back(
                    rt_.spawn_on_worker(w, serve_echo(r.state->socket_for(w), &echo_stats_)));
        }
    }
    LOG_INFO(
            "listener %s: listening on %s, %s %s",
            view->config.name.c_str(),
            view->config.listen.c_str(),
            view->pool ? "pool" : "service",
            view->pool ? view->pool->name().c_str() : "echo");
}

void Proxy::stop(Running& r) {
    for (auto& loop : r.accept_loops) {
        loop.abort();
    }
    for (auto& loop : r.accept_loops) {
        loop.header()->wait_finished();
    }
    r.accept_loops.clear();
    // New connections are refused from now; ones still in the backlog are reset.
    r.state->sockets.clear();
}

std::shared_ptr<const ListenerView> Proxy::view_for(const config::Listener& l) const {
    std::shared_ptr<const Pool> pool;
    if (l.pool) {
        pool = pools_.at(*l.pool);
    }
    return std::make_shared<const ListenerView>(ListenerView{l, std::move(pool)});
}

Result<ReloadSummary, std::string> Proxy::reload(const config::Config& cfg) {
    std::lock_guard lock(control_);
    // 1. New pool snapshots, sharing the live state of backends that stay.
    std::map<std::string, std::shared_ptr<const Pool>> pools;
    for (const config::Pool& p : cfg.pools) {
        const auto old = pools_.find(p.name);
        pools[p.name] =
                Pool::from_config(p, old != pools_.end() ? old->second.get() : nullptr, true);
    }
    // 2. Which running listeners stay (same address), and bind the new ones first: if one
    //    cannot bind, nothing has changed yet.
    ReloadSummary summary;
    std::vector<bool> kept(running_.size(), false);
    std::vector<std::pair<const config::Listener*, std::size_t>> updates;  // -> running_ index
    std::vector<Running> added;
    for (const config::Listener& l : cfg.listeners) {
        auto same = std::find_if(running_.begin(), running_.end(), [&](const Running& r) {
            return r.state->address == l.address;
        });
        if (same != running_.end()) {
            const auto i = static_cast<std::size_t>(same - running_.begin());
            kept[i] = true;
            updates.emplace_back(&l, i);
            continue;
        }
        auto state = bind_listener(l, l.pool ? pools[*l.pool] : nullptr);
        if (!state) {
            return Unexpected(std::move(state.error()));  // `added` sockets close here
        }
        added.push_back({std::move(*state), {}});
    }
    // 3. Commit: swap pools, publish the kept listeners' views, start the new, stop the gone.
    pools_ = std::move(pools);
    config_ = cfg;
    for (const auto& [l, i] : updates) {
        const auto old_view = running_[i].state->view.load();
        const bool kind_changed = (old_view->pool == nullptr) != !l->pool.has_value();
        running_[i].state->view.store(view_for(*l));
        if (kind_changed) {  // proxy <-> echo: the accept loops differ
            stop(running_[i]);
            kept[i] = false;  // re-bound below as an added listener
        }
    }
    std::vector<Running> next;
    for (std::size_t i = 0; i < running_.size(); ++i) {
        if (kept[i]) {
            ++summary.kept;
            next.push_back(std::move(running_[i]));
        } else {
            const auto view = running_[i].state->view.load();
            if (running_[i].state->listening()) {
                stop(running_[i]);
                summary.removed.push_back(view->config.name);
                LOG_INFO(
                        "listener %s: removed by reload; its open connections finish",
                        view->config.name.c_str());
            }
            retired_.push_back(running_[i].state);
        }
    }
    for (const config::Listener& l : cfg.listeners) {  // re-bind kind changes, in order
        const bool present =
                std::any_of(
                        next.begin(),
                        next.end(),
                        [&](const Running& r) { return r.state->address == l.address; })
                || std::any_of(added.begin(), added.end(), [&](const Running& r) {
                       return r.state->address == l.address;
                   });
        if (!present) {
            auto state = bind_listener(l, l.pool ? pools_[*l.pool] : nullptr);
            if (state) {
                added.push_back({std::move(*state), {}});
            } else {
                LOG_ERROR("%s", state.error().c_str());
            }
        }
    }
    for (Running& r : added) {
        start_accepting(r);
        summary.added.push_back(r.state->view.load()->config.name);
        next.push_back(std::move(r));
    }
    running_ = std::move(next);
    listeners_.clear();
    for (const Running& r : running_) {
        listeners_.push_back(r.state);
    }
    forget_finished_retired();
    restart_health_checks();
    return summary;
}

void Proxy::publish_pool(std::shared_ptr<const Pool> pool) {
    for (Running& r : running_) {
        const auto view = r.state->view.load();
        if (view->pool != nullptr && view->pool->name() == pool->name()) {
            r.state->view.store(
                    std::make_shared<const ListenerView>(ListenerView{view->config, pool}));
        }
    }
    pools_[pool->name()] = std::move(pool);
}

Result<void, std::string> Proxy::change_backend(
        const std::string& pool,
        const std::string& backend,
        const std::function<std::shared_ptr<const Pool>(const Pool&, std::size_t)>& change) {
    std::lock_guard lock(control_);
    const auto p = pools_.find(pool);
    if (p == pools_.end()) {
        return Unexpected("no pool named \"" + pool + "\"");
    }
    const auto i = p->second->find(backend);
    if (!i) {
        return Unexpected("pool " + pool + " has no backend \"" + backend + "\"");
    }
    publish_pool(change(*p->second, *i));
    return {};
}

Result<void, std::string>
Proxy::set_admin_state(const std::string& pool, const std::string& backend, AdminState s) {
    auto done = change_backend(
            pool, backend, [s](const Pool& p, std::size_t i) { return p.with_admin(i, s); });
    if (done) {
        LOG_INFO(
                "backend %s/%s: %s (until the next reload)",
                pool.c_str(),
                backend.c_str(),
                to_string(s));
    }
    return done;
}

Result<void, std::string>
Proxy::set_weight(const std::string& pool, const std::string& backend, std::uint32_t w) {
    auto done = change_backend(
            pool, backend, [w](const Pool& p, std::size_t i) { return p.with_weight(i, w); });
    if (done) {
        LOG_INFO(
                "backend %s/%s: weight %u (until the next reload)",
                pool.c_str(),
                backend.c_str(),
                w);
    }
    return done;
}

void Proxy::restart_health_checks() {
    // Simple and correct across reloads: stop every check and start one per backend of every
    // pool that has `health_check` now. A backend's up/down state lives in its BackendState,
    // which a reload keeps, so restarting the checks does not flap it.
    for (auto& h : health_checks_) {
        h.abort();
    }
    health_checks_.clear();
    for (const auto& [name, pool] : pools_) {
        if (!pool->health_check()) {
            for (const BackendEntry& b : pool->backends()) {
                b.state->healthy.store(true, std::memory_order_relaxed);  // no checks: up
            }
            continue;
        }
        for (const BackendEntry& b : pool->backends()) {
            health_checks_.push_back(rt_.spawn(health_check_loop(
                    b.state, b.resolved, name + "/" + b.address, *pool->health_check())));
        }
    }
}

void Proxy::forget_finished_retired() {
    std::erase_if(retired_, [](const std::shared_ptr<ListenerState>& s) {
        return s->active.load(std::memory_order_relaxed) == 0;
    });
}

void Proxy::stop_accepting() {
    std::lock_guard lock(control_);
    for (auto& h : health_checks_) {
        h.abort();
    }
    health_checks_.clear();
    for (Running& r : running_) {
        if (r.state->listening()) {
            stop(r);
        }
    }
}

std::int64_t Proxy::active_sessions() const {
    std::lock_guard lock(control_);
    std::int64_t n = 0;
    for (const Running& r : running_) {
        n += r.state->active.load(std::memory_order_relaxed);
    }
    for (const auto& s : retired_) {
        n += s->active.load(std::memory_order_relaxed);
    }
    return n;
}

}  // namespace ringlb::daemon
