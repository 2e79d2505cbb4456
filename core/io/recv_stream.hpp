// SPDX-License-Identifier: MIT
// RecvStream: a multishot recv into the worker's provided-buffer ring, consumed with
// `co_await next()`.
//
// One SQE keeps receiving while the kernel sets IORING_CQE_F_MORE. The kernel picks a buffer
// only when data arrives, so a connection waiting for data holds none. Each CQE's buffer (or,
// for a recv bundle, each of its buffers) is queued as a Buffer that goes back to its ring
// when the consumer drops it, typically right after the peer's send completed.
//
// Without DEFER_TASKRUN the stream arms a single-shot recv per next() instead (same buffer
// ring, same results): see recv_stream.cpp.
//
// Backpressure: when `max_queued` buffers wait unconsumed, the stream cancels its recv, so a
// slow reader stops the reads on this socket (TCP flow control does the rest) instead of
// draining the worker's buffers; the next next() on an empty queue arms it again. It also
// stops on EOF, errors and -ENOBUFS (the worker's ring ran dry); next() then re-arms.
#pragma once

#include <coroutine>
#include <cstdint>
#include <optional>

#include "core/io/recv.hpp"

namespace ringlb::core {

struct RecvStreamState;
class TaskHeader;

/// Owner: one task at a time. Destroying it cancels the recv; queued buffers go back.
class RecvStream {
public:
    explicit RecvStream(int fd, std::uint32_t max_queued = 4);
    ~RecvStream();
    RecvStream(const RecvStream&) = delete;
    RecvStream& operator=(const RecvStream&) = delete;

    class [[nodiscard]] NextOp {
    public:
        NextOp(RecvStreamState* s, bool arm) noexcept : state_(s), arm_(arm) {}
        bool await_ready() const noexcept;
        bool await_suspend(std::coroutine_handle<> h) noexcept;
        /// n > 0: `buf` holds n bytes (a buffer of the ring); n == 0: EOF; otherwise an error:
        /// -EAGAIN (nothing yet: call next() again), -ENOBUFS (every buffer of the ring is lent:
        /// back off, then call next()), -EBUSY (the ring is full), -EOPNOTSUPP (this worker has no
        /// buffer ring: use recv()), or the socket's error.
        Received await_resume() noexcept;

    private:
        RecvStreamState* state_;
        bool arm_;  // arm the recv if it is not armed (next()), or not (drain())
        std::int32_t early_res_ = 0;
    };

    /// The next chunk. Inside a runtime task only.
    NextOp next() noexcept { return NextOp(state_, true); }

    /// Ends the recv (a cancel, if it is armed), so that the socket can be handed to another
    /// reader once drain() says -EAGAIN. Any thread; at most once per arming.
    void stop() noexcept;
    /// Like next(), but never arms the recv: the chunks still queued or on their way, then
    /// -EAGAIN once the recv has ended and nothing is left. After stop().
    NextOp drain() noexcept { return NextOp(state_, false); }

    /// The poll face of next() (`arm`) and drain() (!`arm`), for a task that waits on more
    /// than this stream at once (until_ready()): what the awaited op would return, or nothing
    /// yet; then wait until ready_or_register() says so and call again. Inside a runtime task.
    std::optional<Received> poll_next(bool arm) noexcept;
    /// True when the next chunk poll_next() returns is EOF and is already here: the peer has
    /// closed after what was taken so far. A sender can then let its last bytes wait for the
    /// FIN (MSG_MORE) so that both leave in one segment. Inside a runtime task.
    bool eof_is_next() const noexcept;
    /// True when poll_next() has something to say (or would arm the recv again); otherwise
    /// registers `task`'s waker with the stream and checks again.
    bool ready_or_register(TaskHeader& task) noexcept;

private:
    RecvStreamState* state_;
};

}  // namespace ringlb::core
