// SPDX-License-Identifier: MIT
// proxy_session(): connect with retries, forward, close (a reset propagated as a reset).
#include "daemon/session.hpp"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <optional>
#include <utility>

#include "core/back_off.hpp"
#include "core/io/connect.hpp"
#include "core/io/send.hpp"
#include "core/net/address.hpp"
#include "daemon/forward.hpp"
#include "daemon/listener.hpp"
#include "daemon/log.hpp"
#include "daemon/proxy_header_io.hpp"

namespace ringlb::daemon {

using namespace ringlb::core;

namespace {

using Clock = std::chrono::steady_clock;

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

// A backend's count of active connections, taken before the connect starts (so concurrent
// connects count against max_connections and least_conn) and given back however the session
// ends. Movable: it goes from the connect attempt into the session.
class BackendSlot {
public:
    BackendSlot() noexcept = default;
    explicit BackendSlot(BackendState& b) noexcept : backend_(&b) {
        backend_->active.fetch_add(1, std::memory_order_relaxed);
    }
    BackendSlot(BackendSlot&& other) noexcept : backend_(std::exchange(other.backend_, nullptr)) {}
    BackendSlot& operator=(BackendSlot&& other) noexcept {
        std::swap(backend_, other.backend_);
        return *this;
    }
    ~BackendSlot() {
        if (backend_ != nullptr) {
            backend_->active.fetch_sub(1, std::memory_order_relaxed);
        }
    }

private:
    BackendState* backend_ = nullptr;
};

// If the session's frame is destroyed before forwarding ended (runtime shutdown after the
// drain timeout), both sides get a RST when their descriptors close: a transfer cut short
// must never look complete to either peer.
class ResetUnlessFinished {
public:
    ResetUnlessFinished(int a, int b) noexcept : a_(a), b_(b) {}
    ResetUnlessFinished(const ResetUnlessFinished&) = delete;
    ResetUnlessFinished& operator=(const ResetUnlessFinished&) = delete;
    ~ResetUnlessFinished() {
        if (!finished_) {
            arm_reset_on_close(a_);
            arm_reset_on_close(b_);
        }
    }
    void finished() noexcept { finished_ = true; }

private:
    int a_;
    int b_;
    bool finished_ = false;
};

ConnectError classify(IoResult r) noexcept {
    if (r.is(std::errc::connection_refused)) {
        return ConnectError::kRefused;
    }
    if (r.is(std::errc::timed_out)) {
        return ConnectError::kTimeout;
    }
    return ConnectError::kOther;
}

// What a session reads from its listener's view once, at its start: a reload changes the
// view for later sessions only.
struct SessionParams {
    std::shared_ptr<const Pool> pool;
    std::uint32_t retries = 0;
    std::chrono::milliseconds connect_timeout{0};
    std::chrono::milliseconds idle_timeout{0};
    std::uint32_t buffer_bytes = 0;
    std::uint32_t pipe_bytes = 0;
    config::Splice splice = config::Splice::kOff;
    config::ProxySend send_header = config::ProxySend::kOff;
    bool smart_connect = false;
    bool expect_header = false;
    bool peer_trusted = false;  // only meaningful with expect_header
};

SessionParams read_params(const ListenerState& listener, const SocketAddress& peer) {
    const auto view = listener.view.load();  // borrowed: no reference count touched
    const config::Listener& c = view->config;
    SessionParams p{
            view->pool,  // the one reference count taken per session
            c.retries,
            std::chrono::milliseconds(c.timeouts.connect_ms),
            std::chrono::milliseconds(c.timeouts.idle_ms),
            c.buffer_bytes,
            c.pipe_bytes,
            c.splice,
            c.proxy_protocol.send,
            c.smart_connect,
            c.proxy_protocol.accept};
    if (p.expect_header) {
        for (const config::Cidr& net : c.proxy_protocol.trusted) {
            p.peer_trusted = p.peer_trusted || net.contains(peer);
        }
    }
    return p;
}

struct Connected {
    UniqueFd fd;
    bool queue_rejected = false;  // the pool's queue was full or the wait timed out
    BackendSlot slot;  // counted in the backend's active connections until the session ends
};

// Every backend in service is at its max_connections: wait (bounded by queue_size and
// queue_timeout_ms) for one to free a slot. Polls with a back-off from 1 ms to 20 ms: only
// overloaded pools pay for it, and the connection path keeps no waiter list or lock.
Task<std::int64_t> wait_in_queue(const Pool& pool, const SocketAddress& client) {
    std::atomic<std::int64_t>& queued = pool.queued();
    if (queued.fetch_add(1, std::memory_order_relaxed)
        >= static_cast<std::int64_t>(pool.queue_size())) {
        queued.fetch_sub(1, std::memory_order_relaxed);
        LOG_WARN(
                "pool %s: queue full (%u); closing client %s",
                pool.name().c_str(),
                pool.queue_size(),
                client.to_string().c_str());
        co_return -1;
    }
    const auto deadline = Clock::now() + pool.queue_timeout();
    auto pause = std::chrono::milliseconds(1);
    std::int64_t pick = -1;
    while (Clock::now() < deadline) {
        co_await back_off(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(20));
        pick = pool.pick(client, {});
        if (pick >= 0 || !pool.saturated()) {
            break;
        }
    }
    queued.fetch_sub(1, std::memory_order_relaxed);
    if (pick < 0 && Clock::now() >= deadline) {
        LOG_WARN(
                "pool %s: client %s waited %lld ms in the queue; closing it",
                pool.name().c_str(),
                client.to_string().c_str(),
                static_cast<long long>(pool.queue_timeout().count()));
    }
    co_return pick;
}

// Picks and connects, retrying the next backend; fd invalid when every attempt failed.
// `bytes_first`: bytes wait to go to the backend as soon as it is connected (see
// defer_handshake_ack()).
Task<Connected> connect_backend(
        const SessionParams& params,
        ListenerState& listener,
        const SocketAddress& client,
        bool bytes_first) {
    const Pool& pool = *params.pool;
    constexpr std::size_t kMaxTried = 11;  // retries <= 10 (config/json.cpp)
    std::array<std::uint32_t, kMaxTried> tried{};
    std::size_t attempts = 0;
    while (attempts <= params.retries && attempts < kMaxTried) {
        std::int64_t pick = pool.pick(client, std::span(tried.data(), attempts));
        if (pick < 0 && attempts == 0 && pool.queue_size() > 0 && pool.saturated()) {
            pick = co_await wait_in_queue(pool, client);
            if (pick < 0) {
                co_return Connected{UniqueFd(), true, {}};
            }
        }
        if (pick < 0) {
            break;  // nothing available
        }
        tried[attempts++] = static_cast<std::uint32_t>(pick);
        const BackendEntry& backend = pool.backend(static_cast<std::size_t>(pick));
        auto sock = make_tcp_socket(backend.resolved.family());
        if (!sock) {
            // A local shortage (EMFILE, ENOBUFS): another backend would fare no better.
            release_spare_pipes_on(sock.error());
            LOG_WARN(
                    "pool %s: cannot create a socket for a backend: %s",
                    pool.name().c_str(),
                    sock.error().message().c_str());
            break;
        }
        if (bytes_first) {
            defer_handshake_ack(sock->get());
        }
        BackendSlot slot(*backend.state);
        const Clock::time_point start = Clock::now();
        // One connect site in a loop: each co_await keeps its own operation in the frame.
        Clock::duration left = params.connect_timeout;
        IoResult r = IoResult::from_errno(ETIMEDOUT);
        for (;;) {
            r = co_await core::connect(sock->get(), backend.resolved, Deadline::in(left));
            if (!r.is(std::errc::device_or_resource_busy)) {
                break;
            }
            // The ring is full: not the backend's fault. Wait for room and try again, within
            // the same connect timeout.
            co_await back_off(std::chrono::milliseconds(1));
            left = params.connect_timeout - (Clock::now() - start);
            if (left <= Clock::duration::zero()) {
                r = IoResult::from_errno(ETIMEDOUT);
                break;
            }
        }
        if (r) {
            pool.report_connect_success(static_cast<std::size_t>(pick));
            listener.stats->connect_duration.observe(Clock::now() - start);
            backend.state->connections.fetch_add(1, std::memory_order_relaxed);
            co_return Connected{std::move(*sock), false, std::move(slot)};
        }
        backend.state->count_connect_error(classify(r));
        pool.report_connect_failure(static_cast<std::size_t>(pick));
        LOG_WARN(
                "connect to %s/%s failed (attempt %zu of %u): %s",
                pool.name().c_str(),
                backend.address.c_str(),
                attempts,
                params.retries + 1,
                r.error().message().c_str());
    }
    co_return Connected{};
}

// What a session keeps while its bytes flow. Everything else the set-up needs (addresses,
// the PROXY header, the balancer's state) lives in the set-up's frames, which are gone by
// then: an idle proxied connection keeps only this and forward()'s frame (with its two recv
// streams).
struct Ready {
    // First, so it goes last: it keeps the BackendState that `backend`'s slot counts in.
    std::shared_ptr<const Pool> pool;
    Connected backend;
    ForwardOptions forward;
};

// What the set-up starts from: the client as its connection shows it, and the listener's
// configuration as the session found it.
struct Start {
    SocketAddress peer;
    SessionParams params;
};

// Plain functions around the set-up's coroutines: a burst of accepts keeps thousands of
// set-ups alive at once, and g++ keeps every local of a coroutine in its frame.

// The client as it connected; nothing (close it) when it is gone already, when the listener
// has no pool, or when it must send a PROXY header and is not trusted to (counted, logged).
std::optional<Start> begin_set_up(int client, ListenerState& listener) {
    const Result<SocketAddress> peer = peer_address(client);
    if (!peer) {
        return std::nullopt;
    }
    std::optional<Start> start(std::in_place, Start{*peer, read_params(listener, *peer)});
    if (start->params.pool == nullptr) {
        return std::nullopt;
    }
    if (start->params.expect_header && !start->params.peer_trusted) {
        listener.rejected_proxy.fetch_add(1, std::memory_order_relaxed);
        LOG_WARN("client %s: not in proxy_protocol.trusted; closing it", peer->to_string().c_str());
        return std::nullopt;
    }
    return start;
}

// Whether connect_backend() connected; when not, the client closes (it sees the connection
// end, not a hang), counted and logged here.
bool connected(
        const Connected& backend,
        const SessionParams& params,
        ListenerState& listener,
        const SocketAddress& origin) {
    if (backend.fd) {
        return true;
    }
    if (backend.queue_rejected) {
        listener.rejected_queue.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    listener.no_backend.fetch_add(1, std::memory_order_relaxed);
    LOG_WARN(
            "pool %s: no backend reachable for client %s; closing it",
            params.pool->name().c_str(),
            origin.to_string().c_str());
    return false;
}

Ready make_ready(const SessionParams& params, Connected backend, ListenerState& listener) {
    return Ready{
            params.pool,
            std::move(backend),
            {.splice = params.splice == config::Splice::kOn,
             .splice_auto = params.splice == config::Splice::kAuto,
             .buffer_bytes = params.buffer_bytes,
             .pipe_bytes = params.pipe_bytes,
             .idle = params.idle_timeout,
             .counters = &listener.bytes}};
}

// Sends our PROXY header for `origin` to the backend: the destination the client's header
// carried, or else the address the client connected to.
Task<bool> send_proxy_header(
        int backend,
        int client,
        config::ProxySend version,
        const SocketAddress& origin,
        const std::optional<SocketAddress>& carried_destination) {
    const Result<SocketAddress> local = local_address(client);
    const SocketAddress destination = carried_destination ? *carried_destination
            : local                                       ? *local
                                                          : origin;
    const ProxyVersion v =
            version == config::ProxySend::kV1 ? ProxyVersion::kV1 : ProxyVersion::kV2;
    IoResult sent = co_await write_proxy_header(backend, v, origin, destination);
    co_return static_cast<bool>(sent);
}

// set_up() for a listener that reads or sends a PROXY protocol header. False (close the
// client) when the header is bad, no backend connects, or the backend is gone before our
// header or the early payload reached it.
Task<bool> set_up_with_proxy_protocol(
        int client, ListenerState& listener, const Start& start, std::optional<Ready>& ready) {
    const SessionParams& params = start.params;
    // The client as the backend should see it: the connection's peer, or the address a
    // trusted PROXY protocol header carries (then also for maglev and the logs).
    SocketAddress origin = start.peer;
    std::optional<SocketAddress> carried_destination;
    ReceivedProxyHeader received;
    if (params.expect_header) {
        received = co_await read_proxy_header(client, params.connect_timeout);
        if (!received.error.empty()) {
            listener.rejected_proxy.fetch_add(1, std::memory_order_relaxed);
            LOG_WARN(
                    "client %s: %s; closing it",
                    start.peer.to_string().c_str(),
                    received.error.c_str());
            co_return false;
        }
        if (received.header.source) {
            origin = *received.header.source;
            carried_destination = received.header.destination;
        }
    }
    // Our header, the payload that came with the client's, or the client's first bytes.
    const bool bytes_first = params.smart_connect
            && (params.send_header != config::ProxySend::kOff || received.leftover_bytes > 0
                || has_bytes_waiting(client));
    Connected backend = co_await connect_backend(params, listener, origin, bytes_first);
    if (!connected(backend, params, listener, origin)) {
        co_return false;
    }
    if (params.send_header != config::ProxySend::kOff
        && !co_await send_proxy_header(
                backend.fd.get(), client, params.send_header, origin, carried_destination)) {
        co_return false;  // the backend is gone already: close both
    }
    if (received.leftover_bytes > 0) {
        // Payload that arrived with the header goes first, before forward() takes over.
        Sent early = co_await send_all(
                backend.fd.get(), std::move(received.leftover), received.leftover_bytes);
        if (!early.n) {
            co_return false;
        }
    }
    ready.emplace(make_ready(params, std::move(backend), listener));
    co_return true;
}

// Picks and connects a backend (and, on a listener that says so, reads the client's PROXY
// header first and sends our own). False, and the client is closed, when it fails; otherwise
// `ready` holds what forwarding needs.
Task<bool> set_up(int client, ListenerState& listener, std::optional<Ready>& ready) {
    const std::optional<Start> start = begin_set_up(client, listener);
    if (!start) {
        co_return false;
    }
    if (start->params.expect_header || start->params.send_header != config::ProxySend::kOff) {
        co_return co_await set_up_with_proxy_protocol(client, listener, *start, ready);
    }
    Connected backend = co_await connect_backend(
            start->params,
            listener,
            start->peer,
            start->params.smart_connect && has_bytes_waiting(client));
    if (!connected(backend, start->params, listener, start->peer)) {
        co_return false;
    }
    ready.emplace(make_ready(start->params, std::move(backend), listener));
    co_return true;
}

// After forward(): a reset goes out as a reset; idleness is logged.
void after_forward(ForwardEnd end, int client, int backend, std::chrono::milliseconds idle) {
    if (end == ForwardEnd::kReset) {
        arm_reset_on_close(client);
        arm_reset_on_close(backend);
    } else if (end == ForwardEnd::kIdle) {
        const Result<SocketAddress> peer = peer_address(client);
        LOG_DEBUG(
                "client %s idle for %lld ms; closing",
                peer ? peer->to_string().c_str() : "(gone)",
                static_cast<long long>(idle.count()));
    }
}

}  // namespace

void set_relay_options(int fd) noexcept {
    const int on = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    (void)::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
}

bool has_bytes_waiting(int fd) noexcept {
    int n = 0;
    return ::ioctl(fd, SIOCINQ, &n) == 0 && n > 0;
}

void defer_handshake_ack(int fd) noexcept {
    const int off = 0;
    // Best effort: where the kernel refuses, the ACK just goes alone, as without this call.
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off);
}

Task<void> proxy_session(UniqueFd client, std::shared_ptr<ListenerState> listener) {
    ActiveSession counted(*listener);
    const Clock::time_point start = Clock::now();
    std::optional<Ready> ready;
    if (!co_await set_up(client.get(), *listener, ready)) {
        co_return;
    }
    // Every local that spans the co_await below is in the frame that each idle connection
    // keeps: no alias of ready->backend.fd, no copy of forward()'s result.
    set_relay_options(ready->backend.fd.get());  // the client's socket inherited them
    ResetUnlessFinished cut_short(client.get(), ready->backend.fd.get());  // runs before closes
    Forwarding forwarding(client.get(), ready->backend.fd.get(), ready->forward);
    co_await forwarding;
    // result() rethrows what a pump path threw: then cut_short resets both sides.
    after_forward(
            forwarding.result().end, client.get(), ready->backend.fd.get(), ready->forward.idle);
    cut_short.finished();
    // Plain close(2), not IORING_OP_CLOSE: closing a socket never blocks here (a reset has
    // linger 0, and no other linger is set), and two ring round trips per connection cost
    // more than the system calls.
    ready->backend.fd.reset();
    client.reset();
    listener->stats->session_duration.observe(Clock::now() - start);
}

}  // namespace ringlb::daemon
