// SPDX-License-Identifier: MIT
// ListenerState: one listening socket and what outlives reloads with it (counters, the socket);
// ListenerView: what a reload or an admin change replaces (its config and pool), published
// through an ArcSwap that each new session reads once. accept_loop(): one per worker, accepting
// on the shared socket with a multishot accept and spawning a session per connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "core/arc_swap.hpp"
#include "core/net/address.hpp"
#include "core/task.hpp"
#include "core/unique_fd.hpp"
#include "daemon/duration_histogram.hpp"
#include "daemon/forward.hpp"
#include "daemon/per_worker.hpp"
#include "daemon/pool.hpp"

namespace ringlb::daemon {

struct ListenerView {
    config::Listener config;
    std::shared_ptr<const Pool> pool;  // nullptr for a built-in service
};

/// Process-wide session statistics (the histograms), shared by every listener.
struct SessionStats {
    explicit SessionStats(unsigned workers)
            : connect_duration(workers), session_duration(workers) {}
    DurationHistogram connect_duration;
    DurationHistogram session_duration;
};

struct ListenerState {
    ListenerState(
            core::SocketAddress addr,
            std::vector<core::UniqueFd> listening_sockets,
            std::shared_ptr<const ListenerView> initial,
            SessionStats* session_stats,
            unsigned workers)
            : address(addr)
            , sockets(std::move(listening_sockets))
            , view(std::move(initial))
            , stats(session_stats)
            , bytes(workers) {}

    const core::SocketAddress address;  // its identity across reloads
    /// The listening sockets: one per worker (SO_REUSEPORT, so the kernel spreads new
    /// connections over the workers' accept queues without a shared lock), or the one socket
    /// systemd passed. Closed when the listener stops.
    std::vector<core::UniqueFd> sockets;
    bool listening() const noexcept { return !sockets.empty(); }
    int socket_for(unsigned worker) const noexcept {
        return sockets[worker % sockets.size()].get();
    }
    core::ArcSwap<ListenerView> view;
    SessionStats* const stats;

    // Any thread; one read-modify-write per connection, none per chunk.
    std::atomic<std::int64_t> active{0};           // sessions open now
    std::atomic<std::uint64_t> accepted{0};        // sessions started
    std::atomic<std::uint64_t> rejected_full{0};   // closed at once: max_connections reached
    std::atomic<std::uint64_t> no_backend{0};      // closed: no backend could be connected
    std::atomic<std::uint64_t> rejected_proxy{0};  // closed: PROXY header missing/bad/untrusted
    std::atomic<std::uint64_t> rejected_queue{0};  // closed: backends full, queue full or timed out

    PerWorker<ForwardedBytes> bytes;  // per forwarded chunk: per worker, no RMW
};

/// Accepts on `socket` (one of `listener`'s) until cancelled (abort or runtime shutdown). Out
/// of descriptors or ring space, it pauses (100 ms) instead of spinning.
core::Task<void> accept_loop(std::shared_ptr<ListenerState> listener, int socket);

}  // namespace ringlb::daemon
