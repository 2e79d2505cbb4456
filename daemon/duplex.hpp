// SPDX-License-Identifier: MIT
// Duplex: a connection's two directions on the worker's buffer ring, as data. forward()'s ring
// path keeps it inside its awaiter, so it lives in the awaiting coroutine's frame (the
// session's) and an idle connection keeps no frame of forward()'s own. The functions that move
// it are in forward.cpp.
#pragma once

#include <cstdint>
#include <memory>

#include "core/alarm.hpp"
#include "core/buffer.hpp"
#include "core/io/recv_stream.hpp"
#include "core/io/send.hpp"

namespace ringlb::daemon {

struct ForwardOptions;

namespace detail {

// What the pumps of one connection and forward() share (forward.cpp).
struct Flow;

// One direction, `from` -> `to`: what a pump's frame would keep, as data.
struct Direction {
    enum class Phase : std::uint8_t {
        kReceiving,  // waiting for the stream's next chunk
        kSending,    // a chunk goes out, one send in flight at a time (order is kept)
        kHandedOff,  // a pump task moves this direction now (see hand_off())
        kEnded,      // EOF, propagated as SHUT_WR
        kBroken,     // a reset or an error: the connection ends
    };

    Direction(int f, int t, std::uint32_t max_queued, std::uint8_t i)
            : from(f), to(t), index(i), stream(f, max_queued) {}

    int from;
    int to;
    std::uint8_t index;  // kFlowBytes and kCounters: 0 client -> backend, 1 the other way
    Phase phase = Phase::kReceiving;
    // splice_auto: full buffers in a row so far, and whether the recv is stopping so that a
    // splice pump can take the socket over once all it received is sent.
    std::uint8_t full_in_a_row = 0;
    bool to_splice = false;
    std::uint32_t sent = 0;   // bytes of `chunk` sent so far
    std::uint32_t size = 0;   // bytes in `chunk`
    std::uint64_t bytes = 0;  // forwarded here (a pump counts its own into the Flow)
    core::RecvStream stream;
    core::SendInFlight send;
    core::Buffer chunk;  // the chunk going out, between its sends (a send's state holds it)
};

struct Duplex {
    /// `o` must outlive the Duplex.
    Duplex(int client_fd, int backend_fd, const ForwardOptions& o);
    Duplex(const Duplex&) = delete;
    Duplex& operator=(const Duplex&) = delete;
    // If the frame goes first (runtime shutdown), a pump must not run on.
    ~Duplex() { abort_pumps(); }

    const ForwardOptions& options;
    Direction up;
    Direction down;
    core::Alarm idle_check;  // cancelled as the Duplex goes
    std::int64_t last_active_ns;
    std::shared_ptr<Flow> flow;  // made at the first hand-off: what the pumps share with us

    void abort_pumps() noexcept;
    void touch() noexcept;
    std::int64_t quiet_ns() const noexcept;
};

}  // namespace detail
}  // namespace ringlb::daemon
