// SPDX-License-Identifier: MIT
// Forwarding: relays bytes both ways between a client and a backend socket until both
// directions have ended. Each direction takes the next received chunk, then sends until that
// chunk is out; so a socket has at most one send in flight, order is kept, and a direction
// holds at most a few chunks (backpressure: a slow reader stops the reads on the other side).
// On the buffer ring both directions run in the awaiting coroutine's frame (Forwarding is an
// awaiter, not a coroutine, on that path); the other paths run a pump task per direction. Chunks
// come from a multishot recv into the worker's buffer ring, or, as the fallback, from one recv at a
// time into the direction's own buffer; or, with `splice`, they never reach userspace (socket ->
// pipe -> socket). EOF is propagated as shutdown(SHUT_WR), so a half-closed connection keeps
// flowing the other way; an error or reset on either side ends both directions and the caller
// resets both sockets.
#pragma once

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <system_error>

#include "core/alarm.hpp"
#include "core/task.hpp"
#include "daemon/duplex.hpp"
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
    /// Relay inside the kernel instead: socket -> pipe -> socket with splice (a pipe per
    /// direction, held only while data keeps coming), by splice(2) calls after a ring poll.
    /// splice(2) cannot take MSG_NOSIGNAL: the process must ignore SIGPIPE (ringlbd does).
    bool splice = false;
    /// Buffers first, as buffer_ring says; a direction that fills two ring buffers in a row
    /// stops its recv and splices from then on (bulk pays no copies; small messages no pipe).
    bool splice_auto = false;
    std::uint32_t max_queued = 4;        // ring buffers a direction may hold before it pauses
    std::uint32_t buffer_bytes = 16384;  // per direction, without the ring
    std::uint32_t pipe_bytes = 65536;    // a splicing direction's pipe capacity (F_SETPIPE_SZ)
    std::chrono::milliseconds idle{0};   // no byte either way for this long ends it; 0: never
    PerWorker<ForwardedBytes>* counters = nullptr;  // optional; must outlive the pumps
};
// Each proxied connection keeps a copy (the session's frame): 32 bytes, fields by size.
static_assert(sizeof(ForwardOptions) == 32);

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

/// `Forwarding f(client_fd, backend_fd, options); co_await f;` from a runtime task, then
/// `f.result()`: forwards until both directions have ended. The caller owns (and afterwards
/// closes) both descriptors. On the buffer ring it has no frame of its own: the state of both
/// directions lives in this awaiter, in the awaiting coroutine's frame, and each wake runs the
/// directions' state machines in the awaiter's poll (TaskHeader::PollFn), without resuming a
/// coroutine. An idle proxied connection thus keeps one frame (the session's), not two. On the
/// other paths it awaits forward_by_pumps()' task. Neither copyable nor movable: a local of
/// the awaiting coroutine.
class [[nodiscard]] Forwarding {
public:
    /// Picks the path on the calling worker: the ring, unless the options say otherwise or
    /// the worker has a ring without buffers. `options` must outlive the await.
    Forwarding(int client_fd, int backend_fd, const ForwardOptions& options);
    Forwarding(const Forwarding&) = delete;
    Forwarding& operator=(const Forwarding&) = delete;
    ~Forwarding() = default;

    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) noexcept;
    void await_resume() const noexcept {}
    /// How it ended and the bytes moved. Once, after the await. (Not await_resume()'s value:
    /// g++ would keep that in the awaiting frame too, 24 bytes per idle connection.)
    ForwardResult result();

private:
    enum class Phase : std::uint8_t {
        kForwarding,  // the directions run
        kBackingOff,  // the ring was full, or its buffers all lent: until back_off_ rings
        kJoining,     // ended; the pumps a direction was handed to are stopping
        kDone,
    };
    static bool poll(void* self, core::TaskHeader& task) noexcept;
    bool forward_some(core::TaskHeader& task) noexcept;
    void end_forwarding() noexcept;
    bool pumps_joined(core::TaskHeader& task) noexcept;

    std::optional<detail::Duplex> ring_;  // the ring path
    core::Task<ForwardResult> pumps_;     // the other paths
    core::Alarm back_off_;
    ForwardEnd end_ = ForwardEnd::kClosed;
    Phase phase_ = Phase::kForwarding;
    // SQEs on this run's ring before the run polled (see end_forwarding()).
    unsigned unsubmitted_before_ = 0;
};

/// Forwarding as a task of its own, for spawn() (tests, benchmarks). `options` are copied.
core::Task<ForwardResult> forward_task(int client_fd, int backend_fd, ForwardOptions options);

/// SO_LINGER {on, 0}: the next close() sends a RST instead of a FIN.
void arm_reset_on_close(int fd) noexcept;

/// Closes the calling thread's spare splice pipes (two descriptors each) when `error` says the
/// process or the system is out of descriptors (EMFILE, ENFILE), so that a client or a backend
/// socket can take their place. Called where an accept or a socket() fails.
void release_spare_pipes_on(std::error_code error) noexcept;

}  // namespace ringlb::daemon
