// SPDX-License-Identifier: MIT
// Proxy: listeners and pools from the config; accept loops on every worker.
#include "daemon/proxy.hpp"

#include <sys/socket.h>

#include "daemon/log.hpp"

namespace ringlb::daemon {

using namespace ringlb::core;

namespace {
// The kernel caps it at net.core.somaxconn; ask for plenty so bursts wait instead of failing.
constexpr int kListenBacklog = 65535;
}  // namespace

Result<std::unique_ptr<Proxy>, std::string> Proxy::bind(const config::Config& cfg) {
    auto proxy = std::make_unique<Proxy>();
    for (const config::Pool& p : cfg.pools) {
        proxy->pools_.push_back(std::make_shared<Pool>(p));
    }
    for (const config::Listener& l : cfg.listeners) {
        auto fd = make_listener(l.address, kListenBacklog);
        if (!fd) {
            return Unexpected(
                    "listener " + l.name + ": cannot listen on " + l.listen + ": "
                    + fd.error().message());
        }
        std::shared_ptr<Pool> pool;
        if (l.pool) {
            for (const auto& p : proxy->pools_) {
                if (p->name() == *l.pool) {
                    pool = p;
                }
            }
        }
        proxy->listeners_.push_back(std::make_shared<ListenerState>(l, std::move(*fd), pool));
    }
    return proxy;
}

void Proxy::start(Runtime& rt) {
    for (const auto& l : listeners_) {
        for (unsigned w = 0; w < rt.worker_count(); ++w) {
            if (l->pool) {
                accept_loops_.push_back(rt.spawn_on_worker(w, accept_loop(l)));
            } else {
                accept_loops_.push_back(
                        rt.spawn_on_worker(w, serve_echo(l->fd.get(), &echo_stats_)));
            }
        }
        LOG_INFO(
                "listener %s: listening on %s, %s %s",
                l->config.name.c_str(),
                l->config.listen.c_str(),
                l->pool ? "pool" : "service",
                l->pool ? l->pool->name().c_str() : "echo");
    }
}

void Proxy::stop_accepting() {
    for (auto& loop : accept_loops_) {
        loop.abort();
    }
    for (auto& loop : accept_loops_) {
        loop.header()->wait_finished();
    }
    accept_loops_.clear();
    for (const auto& l : listeners_) {
        // New connections are refused from now; ones still in the backlog are reset.
        l->fd.reset();
    }
}

std::int64_t Proxy::active_sessions() const noexcept {
    std::int64_t n = 0;
    for (const auto& l : listeners_) {
        n += l->active.load(std::memory_order_relaxed);
    }
    return n;
}

}  // namespace ringlb::daemon
