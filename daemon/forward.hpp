// SPDX-License-Identifier: MIT
// forward(): relays bytes both ways between a client and a backend socket until both
// directions have ended. Each direction takes the next received chunk, then sends until that
// chunk is out; so a socket has at most one send in flight, order is kept, and a direction
// holds at most a few chunks (backpressure: a slow reader stops the reads on the other side).
// On the buffer ring both directions run in forward()'s own frame; the other paths run a pump
// task per direction. Chunks come from a multishot recv into the worker's buffer ring, or, as the
// fallback, from one recv at a time into the direction's own buffer; or, with `splice`, they
// never reach userspace (socket -> pipe -> socket). EOF is propagated as
// shutdown(SHUT_WR), so a half-closed connection keeps flowing the other way; an error or reset on
// either side ends both directions and the caller resets both sockets.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "core/task.hpp"
#include "daemon/per_worker.hpp"

namespace ringlb::daemon {

/// Bytes forwarded, counted per chunk by the pumps into their worker's slot.
struct ForwardedBytes {
    std::atomic<std::uint64_t> client_to_backend{0};
    std::atomic<std::uint64_t> backend_to_client{0};
    std::atomic<std::uint64_t> splice_switches{0};  // directions moved to splice (auto)
};

struct ForwardOptions {
    /// Receive through the worker's provided-buffer ring (core::RecvStream): no buffer is
    /// held while a direction waits for data. Off, or on a worker without a ring: one
    /// buffer of buffer_bytes per direction, for the connection's lifetime.
    bool buffer_ring = true;
    std::uint32_t max_queued = 4;      // ring buffers a direction may hold before it pauses
    std::size_t buffer_bytes = 16384;  // per direction, without the ring
    /// Relay inside the kernel instead: socket -> pipe -> socket with splice (a pipe per
    /// direction, held only while data keeps coming), by splice(2) calls after a ring poll.
    /// splice(2) cannot take MSG_NOSIGNAL: the process must ignore SIGPIPE (ringlbd does).
    bool splice = false;
    /// Buffers first, as buffer_ring says; a direction that fills two ring buffers in a row
    /// stops its recv and splices from then on (bulk pays no copies; small messages no pipe).
    bool splice_auto = false;
    std::uint32_t splice_bytes = 65536;  // at most per splice (a pipe's default capacity)
    std::chrono::milliseconds idle{0};   // no byte either way for this long ends it; 0: never
    PerWorker<ForwardedBytes>* counters = nullptr;  // optional; must outlive the pumps
};

enum class ForwardEnd {
    kClosed,  // both sides shut down their writing: a clean end
    kReset,   // a reset or an error on either side: reset both
    kIdle,    // the idle timeout: close both
};

struct ForwardResult {
    ForwardEnd end = ForwardEnd::kClosed;
    std::uint64_t client_to_backend = 0;  // bytes
    std::uint64_t backend_to_client = 0;
};

/// The returned task runs inside the runtime (spawned, or awaited by a task). The caller owns
/// (and afterwards closes) both descriptors. `options` are copied before forward() returns.
core::Task<ForwardResult> forward(int client_fd, int backend_fd, const ForwardOptions& options);

/// SO_LINGER {on, 0}: the next close() sends a RST instead of a FIN.
void arm_reset_on_close(int fd) noexcept;

}  // namespace ringlb::daemon
