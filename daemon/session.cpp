// SPDX-License-Identifier: MIT
// proxy_session(): connect with retries, forward, close (a reset propagated as a reset).
#include "daemon/session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <chrono>

#include "core/io/close.hpp"
#include "core/io/connect.hpp"
#include "core/net/address.hpp"
#include "core/yield.hpp"
#include "daemon/forward.hpp"
#include "daemon/listener.hpp"
#include "daemon/log.hpp"

namespace ringlb::daemon {

using namespace ringlb::core;

namespace {

// Uncounts the session from its listener however the session ends (return or cancellation).
class ActiveSession {
public:
    explicit ActiveSession(ListenerState& l) noexcept : listener_(l) {}
    ActiveSession(const ActiveSession&) = delete;
    ActiveSession& operator=(const ActiveSession&) = delete;
    ~ActiveSession() { listener_.active.fetch_sub(1, std::memory_order_relaxed); }

private:
    ListenerState& listener_;
};

// The same, for a backend's count of active connections.
class BackendConnection {
public:
    explicit BackendConnection(BackendState& b) noexcept : backend_(b) {
        backend_.active.fetch_add(1, std::memory_order_relaxed);
        backend_.connections.fetch_add(1, std::memory_order_relaxed);
    }
    BackendConnection(const BackendConnection&) = delete;
    BackendConnection& operator=(const BackendConnection&) = delete;
    ~BackendConnection() { backend_.active.fetch_sub(1, std::memory_order_relaxed); }

private:
    BackendState& backend_;
};

void set_nodelay(int fd) noexcept {
    // A relay must not add Nagle's delay on top of the client's own.
    const int on = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

struct Connected {
    UniqueFd fd;
    std::int64_t backend = -1;
};

// Picks and connects, retrying the next backend; fd invalid when every attempt failed.
Task<Connected> connect_backend(ListenerState& listener, const SocketAddress& client) {
    Pool& pool = *listener.pool;
    const auto timeout = std::chrono::milliseconds(listener.config.timeouts.connect_ms);
    constexpr std::size_t kMaxTried = 11;  // retries <= 10 (config/json.cpp)
    std::array<std::uint32_t, kMaxTried> tried{};
    std::size_t attempts = 0;
    while (attempts <= listener.config.retries && attempts < kMaxTried) {
        const std::int64_t pick = pool.pick(client, std::span(tried.data(), attempts));
        if (pick < 0) {
            break;  // nothing available
        }
        tried[attempts++] = static_cast<std::uint32_t>(pick);
        BackendState& backend = pool.backend(static_cast<std::size_t>(pick));
        auto sock = make_tcp_socket(backend.resolved.family());
        if (!sock) {
            LOG_WARN(
                    "listener %s: socket for backend %s: %s",
                    listener.config.name.c_str(),
                    backend.address.c_str(),
                    sock.error().message().c_str());
            continue;
        }
        IoResult r = co_await core::connect(sock->get(), backend.resolved, Deadline::in(timeout));
        while (r.is(std::errc::device_or_resource_busy)) {
            // The ring is full: not the backend's fault. Wait for room, then try it again.
            co_await yield_now();
            r = co_await core::connect(sock->get(), backend.resolved, Deadline::in(timeout));
        }
        if (r) {
            co_return Connected{std::move(*sock), pick};
        }
        backend.connect_errors.fetch_add(1, std::memory_order_relaxed);
        LOG_WARN(
                "listener %s: connect to %s/%s failed (attempt %zu): %s",
                listener.config.name.c_str(),
                pool.name().c_str(),
                backend.address.c_str(),
                attempts,
                r.error().message().c_str());
    }
    co_return Connected{};
}

}  // namespace

Task<void> proxy_session(UniqueFd client, std::shared_ptr<ListenerState> listener) {
    ActiveSession counted(*listener);
    const Result<SocketAddress> peer = peer_address(client.get());
    if (!peer) {
        co_return;  // the client is already gone
    }
    Connected backend = co_await connect_backend(*listener, *peer);
    if (!backend.fd) {
        listener->no_backend.fetch_add(1, std::memory_order_relaxed);
        LOG_WARN(
                "listener %s: no backend reachable for client %s; closing it",
                listener->config.name.c_str(),
                peer->to_string().c_str());
        co_return;  // `client` closes: the client sees the connection end, not a hang
    }
    BackendConnection in_use(listener->pool->backend(static_cast<std::size_t>(backend.backend)));
    set_nodelay(client.get());
    set_nodelay(backend.fd.get());
    const ForwardResult done = co_await forward(
            client.get(),
            backend.fd.get(),
            {.buffer_bytes = listener->config.buffer_bytes,
             .idle = std::chrono::milliseconds(listener->config.timeouts.idle_ms)});
    if (done.end == ForwardEnd::kReset) {
        arm_reset_on_close(client.get());
        arm_reset_on_close(backend.fd.get());
    } else if (done.end == ForwardEnd::kIdle) {
        LOG_DEBUG(
                "listener %s: client %s idle for %u ms; closing",
                listener->config.name.c_str(),
                peer->to_string().c_str(),
                listener->config.timeouts.idle_ms);
    }
    IoResult closed = co_await core::close(std::move(backend.fd));
    (void)closed;
    closed = co_await core::close(std::move(client));
    (void)closed;
}

}  // namespace ringlb::daemon
