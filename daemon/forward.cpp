// SPDX-License-Identifier: MIT
// forward(): both directions in the awaiter on the buffer ring; pump tasks on the other paths.
#include "daemon/forward.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <new>
#include <optional>
#include <utility>

#include "core/alarm.hpp"
#include "core/back_off.hpp"
#include "core/buffer.hpp"
#include "core/io/poll.hpp"
#include "core/io/recv.hpp"
#include "core/io/recv_stream.hpp"
#include "core/io/send.hpp"
#include "core/join_handle.hpp"
#include "core/sync/event.hpp"
#include "core/task_header.hpp"
#include "core/unique_fd.hpp"
#include "core/uring/buffer_ring.hpp"
#include "core/uring/ring.hpp"
#include "core/worker.hpp"
#include "core/yield.hpp"
#include "daemon/log.hpp"

namespace ringlb::daemon {

using namespace ringlb::core;

namespace detail {

std::int64_t coarse_now_ns() noexcept {
    // The idle clock needs ~ms precision: the coarse clock is a plain vDSO read.
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

// What the pumps of one connection and forward() share (both pumps on the pump path; on the
// ring path, the directions handed to a pump). Shared ownership: normally forward() outlives
// its pumps (it joins them), but at runtime shutdown the frames are destroyed in any order,
// and a pump's PumpEnd must still find its Flow.
struct Flow {
    Event changed;                                              // a pump ended
    std::atomic<int> ended{0};                                  // pumps that have ended
    std::atomic<bool> broken{false};                            // a pump ended by an error or reset
    std::atomic<std::int64_t> last_active_ns{coarse_now_ns()};  // stored, never RMW'd
    // Bytes forwarded, each written by its pump only and read after the join.
    std::uint64_t client_to_backend = 0;
    std::uint64_t backend_to_client = 0;
    // The ring path's hand-offs: the pump of each direction it handed off (by
    // Direction::index), held here rather than in the Duplex, which every connection keeps.
    JoinHandle<void> pumps[2];

    void touch() noexcept {
        // relaxed: a hint for the idle check; a stale read only delays the check a round.
        last_active_ns.store(coarse_now_ns(), std::memory_order_relaxed);
    }
};

Duplex::Duplex(int client_fd, int backend_fd, const ForwardOptions& o)
        : options(o)
        , up(client_fd, backend_fd, o.max_queued, 0)
        , down(backend_fd, client_fd, o.max_queued, 1)
        , last_active_ns(coarse_now_ns()) {}

void Duplex::abort_pumps() noexcept {
    if (flow != nullptr) {
        for (JoinHandle<void>& pump : flow->pumps) {
            if (pump.valid()) {
                pump.abort();
            }
        }
    }
}

void Duplex::touch() noexcept {
    last_active_ns = coarse_now_ns();
}

std::int64_t Duplex::quiet_ns() const noexcept {
    std::int64_t last = last_active_ns;
    if (flow != nullptr) {
        // relaxed: a hint, as in Flow::touch().
        last = std::max(last, flow->last_active_ns.load(std::memory_order_relaxed));
    }
    return coarse_now_ns() - last;
}

}  // namespace detail

namespace {

using detail::coarse_now_ns;
using detail::Direction;
using detail::Duplex;
using detail::Flow;

constexpr std::uint32_t kDefaultPipeBytes = 65536;  // the kernel's, 16 pages

// A splicing direction's pipe: held only while data keeps coming (see splice_relay()).
struct Pipe {
    UniqueFd out;            // read end
    UniqueFd in;             // write end
    std::uint32_t bytes{0};  // the capacity asked for

    /// A spare pipe of this thread's, or a new one. False without descriptors for one.
    /// `want`: its capacity, where the kernel allows it.
    bool open(std::uint32_t want) noexcept;
    /// Gives the pipe to this thread's spares, or closes it if they are full. \pre it is empty.
    void put_away() noexcept;
    void close() noexcept {
        out.reset();
        in.reset();
    }
};

// Empty pipes between bursts, per thread: a direction whose socket runs dry puts its pipe here
// and the next burst on this thread takes it, instead of a pipe2(), an F_SETPIPE_SZ (which
// allocates the pipe's slots) and two close() per burst: iperf3 through one connection ran
// dry about every megabyte. Few: each holds two descriptors.
class SparePipes {
public:
    bool take(Pipe& p) noexcept {
        if (count_ == 0) {
            return false;
        }
        p = std::move(pipes_[--count_]);
        return true;
    }
    bool keep(Pipe& p) noexcept {
        if (count_ == pipes_.size()) {
            return false;
        }
        pipes_[count_++] = std::move(p);
        return true;
    }
    void release() noexcept {
        for (; count_ > 0; --count_) {
            pipes_[count_ - 1].close();
        }
    }

private:
    std::array<Pipe, 4> pipes_;
    std::size_t count_ = 0;
};

// Reached only through this function, never inlined into a coroutine: a compiler may keep a
// thread_local's address across a suspension, and the task may resume on another worker.
[[gnu::noinline]] SparePipes& spare_pipes() noexcept {
    thread_local SparePipes spares;
    return spares;
}

bool Pipe::open(std::uint32_t want) noexcept {
    if (!spare_pipes().take(*this)) {
        int fds[2];
        if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
            return false;
        }
        out.reset(fds[0]);
        in.reset(fds[1]);
        bytes = kDefaultPipeBytes;
    }
    if (bytes != want) {
        // Asked once per pipe, best effort: refused (an unprivileged user past
        // fs.pipe-user-pages-soft or -hard, a lower fs.pipe-max-size), the pipe keeps its
        // capacity and splices move less each.
        (void)::fcntl(in.get(), F_SETPIPE_SZ, static_cast<int>(want));
        bytes = want;
    }
    return true;
}

void Pipe::put_away() noexcept {
    if (out && !spare_pipes().keep(*this)) {
        close();
    }
}

// Reports a pump's end to its Flow however the pump ends: returning, or its frame destroyed
// by abort or runtime shutdown (then its owner must still wake to finish).
class PumpEnd {
public:
    explicit PumpEnd(Flow& flow) noexcept : flow_(flow) {}
    PumpEnd(const PumpEnd&) = delete;
    PumpEnd& operator=(const PumpEnd&) = delete;
    ~PumpEnd() {
        if (!clean_) {
            flow_.broken.store(true, std::memory_order_relaxed);
        }
        // release: the broken flag and the pump's byte count reach the owner's acquire.
        flow_.ended.fetch_add(1, std::memory_order_release);
        flow_.changed.set();
    }
    void mark_clean() noexcept { clean_ = true; }

private:
    Flow& flow_;
    bool clean_ = false;
};

// Adds a forwarded chunk to the connection's and the worker's byte counts.
void count(
        Flow& flow,
        std::uint64_t Flow::*bytes,
        PerWorker<ForwardedBytes>* counters,
        std::atomic<std::uint64_t> ForwardedBytes::*counter,
        std::size_t n) noexcept {
    flow.*bytes += n;
    if (counters != nullptr) {
        add_single_writer(counters->mine().*counter, n);
    }
}

// Propagates EOF to `to` as shutdown(SHUT_WR); false if the socket is already gone (reset).
// A plain system call, not IORING_OP_SHUTDOWN: the kernel always punts that opcode to an io-wq
// thread (it never runs it inline), and measured on the new-connection benchmark those thread
// hand-offs cost a fifth of the daemon's CPU. A TCP shutdown never blocks.
bool shut_write(int to) noexcept {
    return ::shutdown(to, SHUT_WR) == 0;
}

// The two pumps below each move one direction, `from` -> `to`, chunk by chunk, until EOF
// (propagated as SHUT_WR) or an error (their PumpEnd then marks the flow broken), for the
// paths that do not run in forward()'s frame: per-connection buffers and splice, from the
// start or after a hand-off. No allocation per chunk: the loops await operations, never
// sub-tasks, except on rare paths (back-off, no pipe).
// `flow` is a parameter so the frame owns it; parameters outlive the body's locals (PumpEnd).

// One chunk from `from` to `to` through a buffer of its own: bytes sent; 0 after EOF (shut
// down on `to`); -1 on an error or reset. The way out for a pump without its ring or a pipe.
Task<std::int64_t> relay_buffered_chunk(int from, int to, std::size_t buffer_bytes) {
    for (;;) {
        Received in = co_await recv(from, Buffer::allocate(buffer_bytes));
        if (in.n.is(std::errc::device_or_resource_busy)) {
            co_await back_off(std::chrono::milliseconds(1));
            continue;
        }
        if (!in.n) {
            co_return -1;
        }
        const std::size_t n = static_cast<std::size_t>(in.n.value());
        if (n == 0) {
            co_return shut_write(to) ? 0 : -1;
        }
        Sent out = co_await send_all(to, std::move(in.buf), n);
        co_return out.n ? static_cast<std::int64_t>(n) : -1;
    }
}

// The fallback path (runtime.io.buffer_ring off, or no ring on this kernel): one recv at a time
// into this direction's own buffer, then sends until that chunk is out.
Task<void> buffer_pump(
        int from,
        int to,
        std::shared_ptr<Flow> flow,
        ForwardOptions options,
        std::uint64_t Flow::*bytes,
        std::atomic<std::uint64_t> ForwardedBytes::*counter) {
    PumpEnd end(*flow);
    Buffer buf = Buffer::allocate(options.buffer_bytes);
    for (;;) {
        Received in = co_await recv(from, std::move(buf));
        buf = std::move(in.buf);
        if (!in.n) {
            if (in.n.is(std::errc::device_or_resource_busy)) {
                co_await back_off(std::chrono::milliseconds(1));
                continue;
            }
            co_return;  // reset or error: broken
        }
        const std::size_t n = static_cast<std::size_t>(in.n.value());
        if (n == 0) {
            if (shut_write(to)) {
                end.mark_clean();
            }
            co_return;
        }
        flow->touch();
        std::size_t off = 0;
        while (off < n) {
            Sent out = co_await send(to, std::move(buf), off, n - off);
            buf = std::move(out.buf);
            if (!out.n) {
                if (out.n.is(std::errc::device_or_resource_busy)) {
                    co_await back_off(std::chrono::milliseconds(1));
                    continue;
                }
                co_return;  // the reader is gone: broken
            }
            off += static_cast<std::size_t>(out.n.value());
            flow->touch();
        }
        count(*flow, bytes, options.counters, counter, n);
    }
}

// What a second splice from the socket, before the first chunk goes out, found.
struct ReadAhead {
    std::size_t bytes = 0;  // more bytes now in the pipe
    bool eof = false;       // the peer's FIN is next: send the pipe with SPLICE_F_MORE, shut down
    bool drained = false;   // EAGAIN: the socket is empty (or the pipe has no slot left)
    bool failed = false;    // an error or reset, reported once by the socket: broken after the send
};

// Below this, and below a quarter of the pipe, a chunk is read ahead of (see read_ahead()): a
// message, not a stream's piece.
constexpr std::size_t kReadAheadBelow = 16384;

// Splices again from `from` into the rest of the pipe (`pipe_bytes` in all) before a short
// chunk (`chunk` bytes, in the pipe) goes out. This replaces the splice that, after the send, would
// find the socket empty, so it costs no call; and when it finds the FIN, the send carries MSG_MORE
// and the shutdown puts the FIN on the last bytes' segment instead of one of its own (as the ring
// path does with RecvStream::eof_is_next()). Not for long chunks: a stream's next bytes arrive
// while the send runs, and the splice after it takes them at once, where a read-ahead's EAGAIN
// would send the pump to poll (measured: 0.93-1.01× the bulk throughput). A pipe out of slots also
// says EAGAIN: then the pump polls once more than it had to.
ReadAhead read_ahead(int from, Pipe& pipe, std::size_t chunk, std::size_t pipe_bytes) noexcept {
    ReadAhead r;
    if (chunk >= std::min(kReadAheadBelow, pipe_bytes / 4)) {
        return r;
    }
    const std::size_t room = pipe_bytes - chunk;
    for (;;) {
        const ssize_t n = ::splice(
                from, nullptr, pipe.in.get(), nullptr, room, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            r.bytes = static_cast<std::size_t>(n);
        } else if (n == 0) {
            r.eof = true;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN) {
            r.drained = true;
        } else {
            r.failed = true;
        }
        return r;
    }
}

// One direction on the splice path: `from` -> pipe -> `to`, all inside the kernel, with
// splice(2) called directly once a ring poll says `from` is readable. Not IORING_OP_SPLICE:
// the kernel runs every one of those on an io-wq thread, and the hand-offs cost more than the
// copies saved. Both sockets and the pipe are non-blocking, so no call here blocks: an empty
// socket or a full peer gives EAGAIN and the pump polls. The pipe is held only while data
// keeps coming: it is put away, empty, whenever the socket runs dry, so an idle connection
// holds none. A pipe with bytes in it (the reader went away mid-chunk) is closed with the frame.
// True at a clean end (EOF, propagated), false when broken. The caller's frame owns `flow`
// and `options`.
Task<bool> splice_relay(
        int from,
        int to,
        Flow& flow,
        const ForwardOptions& options,
        std::uint64_t Flow::*bytes,
        std::atomic<std::uint64_t> ForwardedBytes::*counter) {
    constexpr unsigned kFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
    // Chunks moved before the pump lets the worker's other tasks run: the calls below do not
    // pass through the ring, so a busy direction would otherwise keep its worker to itself.
    constexpr unsigned kChunksPerTurn = 8;
    Pipe pipe;
    for (;;) {
        pipe.put_away();
        IoResult ready = co_await poll(from, POLLIN | POLLRDHUP);
        if (!ready) {
            if (ready.is(std::errc::device_or_resource_busy)) {
                co_await back_off(std::chrono::milliseconds(1));
                continue;
            }
            co_return false;
        }
        // Two cases go through a buffer instead, one chunk at a time:
        //  - no descriptor for a pipe: waiting for one could wait forever, since every session
        //    may be in the same place and only a session that finishes frees descriptors;
        //  - readable, yet splice finds nothing: TCP urgent data, which splice stops at and
        //    poll keeps reporting (a recv steps over it). Polling again would spin.
        bool through_buffer = !pipe.open(options.pipe_bytes);
        for (unsigned chunks = 0; !through_buffer; ++chunks) {
            const ssize_t in =
                    ::splice(from, nullptr, pipe.in.get(), nullptr, options.pipe_bytes, kFlags);
            if (in < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EAGAIN) {
                    through_buffer = chunks == 0;  // nothing at all after POLLIN: urgent data
                    break;                         // drained: give the pipe back and wait
                }
                pipe.put_away();  // empty: the last chunk went out whole
                co_return false;  // reset or error: broken
            }
            if (in == 0) {
                pipe.put_away();
                co_return shut_write(to);
            }
            flow.touch();
            auto left = static_cast<std::size_t>(in);
            const ReadAhead next = read_ahead(from, pipe, left, options.pipe_bytes);
            left += next.bytes;
            const unsigned out_flags = next.eof ? kFlags | SPLICE_F_MORE : kFlags;
            while (left > 0) {
                const ssize_t out = ::splice(pipe.out.get(), nullptr, to, nullptr, left, out_flags);
                if (out < 0) {
                    if (errno == EINTR) {
                        continue;
                    }
                    if (errno != EAGAIN) {
                        co_return false;  // the reader is gone: broken
                    }
                    IoResult writable = co_await poll(to, POLLOUT);
                    if (!writable) {
                        if (!writable.is(std::errc::device_or_resource_busy)) {
                            co_return false;
                        }
                        co_await back_off(std::chrono::milliseconds(1));
                    }
                    continue;
                }
                left -= static_cast<std::size_t>(out);
                flow.touch();
            }
            count(flow,
                  bytes,
                  options.counters,
                  counter,
                  static_cast<std::size_t>(in) + next.bytes);
            if (next.eof) {
                pipe.put_away();
                co_return shut_write(to);  // the FIN joins the last bytes' segment
            }
            if (next.failed) {
                pipe.put_away();  // empty: the last chunk went out whole
                co_return false;
            }
            if (next.drained) {
                break;  // the splice that would find the socket empty was the read-ahead
            }
            if (chunks % kChunksPerTurn == kChunksPerTurn - 1) {
                co_await yield_now();
            }
        }
        if (through_buffer) {
            pipe.put_away();
            const std::int64_t moved =
                    co_await relay_buffered_chunk(from, to, options.buffer_bytes);
            if (moved <= 0) {
                co_return moved == 0;
            }
            count(flow, bytes, options.counters, counter, static_cast<std::size_t>(moved));
        }
    }
}

// The splice path for the whole of a direction's life (listeners[].splice: true).
Task<void> splice_pump(
        int from,
        int to,
        std::shared_ptr<Flow> flow,
        ForwardOptions options,
        std::uint64_t Flow::*bytes,
        std::atomic<std::uint64_t> ForwardedBytes::*counter) {
    PumpEnd end(*flow);
    if (co_await splice_relay(from, to, *flow, options, bytes, counter)) {
        end.mark_clean();
    }
}

// Aborts both pumps when forward()'s frame goes, however it goes.
struct AbortOnExit {
    JoinHandle<void>& a;
    JoinHandle<void>& b;
    AbortOnExit(JoinHandle<void>& x, JoinHandle<void>& y) noexcept : a(x), b(y) {}
    AbortOnExit(const AbortOnExit&) = delete;
    AbortOnExit& operator=(const AbortOnExit&) = delete;
    ~AbortOnExit() {
        a.abort();
        b.abort();
    }
};

// The pump path: a task per direction, and this frame waits for their end, a failure or
// idleness. For listeners that always splice, and for workers without a buffer ring.
Task<ForwardResult> forward_by_pumps(int client_fd, int backend_fd, ForwardOptions options) {
    auto flow = std::make_shared<Flow>();
    auto start = [&](int from,
                     int to,
                     std::uint64_t Flow::*bytes,
                     std::atomic<std::uint64_t> ForwardedBytes::*counter) {
        return spawn((options.splice ? &splice_pump : &buffer_pump)(
                from, to, flow, options, bytes, counter));
    };
    JoinHandle<void> upstream = start(
            client_fd, backend_fd, &Flow::client_to_backend, &ForwardedBytes::client_to_backend);
    JoinHandle<void> downstream = start(
            backend_fd, client_fd, &Flow::backend_to_client, &ForwardedBytes::backend_to_client);
    // If this frame is destroyed first (runtime shutdown), the pumps must not run on.
    AbortOnExit stop_pumps{upstream, downstream};
    ForwardResult result;
    Alarm idle_check;  // cancelled as the frame goes
    const std::int64_t idle_ns = std::chrono::nanoseconds(options.idle).count();
    for (;;) {
        // Reset, then check, then wait: a pump ending in between sets the event again.
        flow->changed.reset();
        // acquire: pairs with PumpEnd's release.
        if (flow->broken.load(std::memory_order_relaxed)
            || flow->ended.load(std::memory_order_acquire) == 2) {
            break;
        }
        if (idle_ns == 0) {
            (void)co_await flow->changed.wait();
            continue;
        }
        const std::int64_t quiet =
                coarse_now_ns() - flow->last_active_ns.load(std::memory_order_relaxed);
        if (quiet >= idle_ns) {
            result.end = ForwardEnd::kIdle;
            break;
        }
        // One timer for the whole connection, re-armed only when it rings early (the flow was
        // active meanwhile): a pump ending or the idle check never costs a timeout and its
        // cancel per wait.
        (void)idle_check.take_ring();
        if (!idle_check.arm(std::chrono::nanoseconds(idle_ns - quiet))) {
            // No memory for the timer: let the worker run the others, then look at the clock
            // again (exhaustion must not make us spin).
            co_await yield_now();
            continue;
        }
        co_await idle_check.wait(flow->changed);
    }
    // Stop whatever still runs (a failure or idleness ended it early); joining makes sure the
    // pumps are gone before the caller closes the descriptors. Their recv, send and poll
    // operations hold the socket's file from submission, so a cancel still on its way is
    // harmless (the splice path's splices are plain system calls, over when they return).
    upstream.abort();
    downstream.abort();
    (void)co_await upstream;
    (void)co_await downstream;
    if (result.end != ForwardEnd::kIdle && flow->broken.load(std::memory_order_acquire)) {
        result.end = ForwardEnd::kReset;
    }
    result.client_to_backend = flow->client_to_backend;
    result.backend_to_client = flow->backend_to_client;
    co_return result;
}

// The default path, on the worker's buffer ring: both directions in the Forwarding awaiter,
// in the awaiting coroutine's frame. Chunks are buffers of the ring, filled by a multishot
// recv; a direction waiting for data holds none, and each goes back to the ring once sent.
// Each direction is a small state machine, advanced whenever one of its operations completes,
// and the task waits on all of them and the idle alarm at once (Forwarding::poll). A task per
// direction would cost an idle connection two more frames and task cells, about 1.3 KiB; a
// frame of forward()'s own, about 430 bytes.

constexpr std::uint64_t Flow::*kFlowBytes[2] = {&Flow::client_to_backend, &Flow::backend_to_client};
constexpr std::atomic<std::uint64_t> ForwardedBytes::*kCounters[2] = {
        &ForwardedBytes::client_to_backend, &ForwardedBytes::backend_to_client};

// A pump task takes the direction over, from a clean point (nothing queued or unsent):
// `splice` after splice_auto's switch; otherwise the buffered pump, for a connection that was
// moved to a worker without a buffer ring. Out of memory for it, the connection ends as a
// reset: exhaustion costs that connection, never the daemon.
void hand_off(Duplex& x, Direction& d, bool splice) noexcept {
    try {
        if (x.flow == nullptr) {
            x.flow = std::make_shared<Flow>();
        }
        x.flow->pumps[d.index] = spawn((splice ? &splice_pump : &buffer_pump)(
                d.from, d.to, x.flow, x.options, kFlowBytes[d.index], kCounters[d.index]));
        d.phase = Direction::Phase::kHandedOff;
    } catch (const std::bad_alloc&) {
        LOG_WARN("forward: no memory to hand a direction to a pump; resetting the connection");
        d.phase = Direction::Phase::kBroken;
    }
}

// The pump a handed-off direction runs in. \pre d.phase == kHandedOff.
TaskHeader& pump_of(const Duplex& x, const Direction& d) noexcept {
    return *x.flow->pumps[d.index].header();
}

// A chunk is out: its buffer goes back to the ring now, and splice_auto counts it.
void chunk_sent(Duplex& x, Direction& d) {
    // Whether the chunk ran to its ring buffer's end: the socket had more than the buffer
    // took. Not its size: consumed incrementally, a chunk may start mid-buffer, and bulk then
    // arrives as a buffer's rest, whole buffers and a start, every chunk but the last full.
    const bool full = d.chunk.reaches_ring_buffer_end();
    d.chunk.reset();
    d.bytes += d.size;
    if (x.options.counters != nullptr) {
        add_single_writer(x.options.counters->mine().*kCounters[d.index], d.size);
    }
    d.phase = Direction::Phase::kReceiving;
    if (x.options.splice_auto && !d.to_splice) {
        // Two full buffers in a row: bulk, which splice moves without copies. For good:
        // switching back and forth would cost a recv arming and a cancel per burst.
        d.full_in_a_row = full ? d.full_in_a_row + 1 : 0;
        if (d.full_in_a_row == 2) {
            d.to_splice = true;
            d.stream.stop();
            if (x.options.counters != nullptr) {
                add_single_writer(x.options.counters->mine().splice_switches, 1);
            }
        }
    }
}

// Moves `d` as far as it goes without waiting. True when it has to back off first: the ring
// was full, or every buffer of the worker's ring is lent (slow readers); call it again after.
bool advance(Duplex& x, Direction& d) {
    using Phase = Direction::Phase;
    for (;;) {
        if (d.phase == Phase::kSending) {
            if (d.send.active()) {
                if (!d.send.done()) {
                    return false;
                }
                Sent out = d.send.take();
                d.chunk = std::move(out.buf);
                if (!out.n) {
                    d.phase = Phase::kBroken;  // the reader is gone
                    return false;
                }
                d.sent += static_cast<std::uint32_t>(out.n.value());
                x.touch();  // a slow reader that takes part of a chunk is not idle
            }
            if (d.sent < d.size) {
                // The peer's FIN already follows this chunk: its shutdown comes right after the
                // send, so the bytes wait for it in the socket (MSG_MORE) and both leave in one
                // segment, one packet fewer for each side to process (a reply and its close).
                return !d.send.start(
                        d.to, d.chunk, d.sent, d.size - d.sent, d.stream.eof_is_next());
            }
            chunk_sent(x, d);
            continue;
        }
        if (d.phase == Phase::kHandedOff && pump_of(x, d).is_finished()) {
            d.phase = Phase::kEnded;  // or broken: the pump's PumpEnd told the Flow
        }
        if (d.phase != Phase::kReceiving) {
            return false;  // handed off, ended or broken
        }
        // Draining (to_splice): what the stopped recv still yields, never arming it again.
        std::optional<Received> in = d.stream.poll_next(!d.to_splice);
        if (!in) {
            return false;
        }
        if (!in->n) {
            if (in->n.is(std::errc::resource_unavailable_try_again)) {
                if (d.to_splice) {
                    // The recv has ended and all it received is sent: bytes stay in order.
                    hand_off(x, d, true);
                    return false;
                }
                continue;  // the recv paused and ended with nothing queued: arm it again
            }
            if (d.to_splice && in->n.is(std::errc::no_buffer_space)) {
                continue;  // the recv has ended: the next poll says so at once
            }
            if (in->n.is(std::errc::no_buffer_space)
                || in->n.is(std::errc::device_or_resource_busy)) {
                return true;
            }
            if (in->n.is(std::errc::operation_not_supported)) {
                hand_off(x, d, false);  // moved to a worker whose ring has no buffers
                return false;
            }
            d.phase = Phase::kBroken;  // reset or error
            return false;
        }
        const auto n = static_cast<std::uint32_t>(in->n.value());
        if (n == 0) {
            d.phase = shut_write(d.to) ? Phase::kEnded : Phase::kBroken;
            return false;
        }
        x.touch();
        d.chunk = std::move(in->buf);
        d.sent = 0;
        d.size = n;
        d.phase = Phase::kSending;
    }
}

bool is_broken(const Duplex& x) noexcept {
    if (x.up.phase == Direction::Phase::kBroken || x.down.phase == Direction::Phase::kBroken) {
        return true;
    }
    // relaxed: a pump's PumpEnd stores it before its task finishes; we re-check after join.
    return x.flow != nullptr && x.flow->broken.load(std::memory_order_relaxed);
}

// The wait's poll: registers the task with whatever each direction waits on (and the alarm),
// then checks them all (TaskHeader::PollFn's contract).
bool poll_duplex(void* ctx, TaskHeader& task) noexcept {
    auto* x = static_cast<Duplex*>(ctx);
    bool ready = false;
    for (Direction* d : {&x->up, &x->down}) {
        switch (d->phase) {
            case Direction::Phase::kReceiving:
                ready = d->stream.ready_or_register(task) || ready;
                break;
            case Direction::Phase::kSending:
                ready = !d->send.active() || d->send.ready_or_register(task) || ready;
                break;
            case Direction::Phase::kHandedOff: {
                // Ready once, when it finishes: advance() then calls the direction ended, so
                // a finished pump does not keep the wait from waiting.
                TaskHeader* pump = &pump_of(*x, *d);
                ready = poll_or_register(
                                pump->join_waker(), task, [pump] { return pump->is_finished(); })
                        || ready;
                break;
            }
            case Direction::Phase::kEnded:
            case Direction::Phase::kBroken:
                break;
        }
    }
    if (x->idle_check.armed()) {
        ready = x->idle_check.rang_or_register(task) || ready;
    }
    return ready;
}

enum class Step : std::uint8_t { kWait, kBackOff, kEnd };

// Moves both directions as far as they go, then says what the frame does next: wait for one
// of them (or the idle alarm, armed here), back off (the ring was full, or its buffers all
// lent), or end, with `end` saying how.
Step step(Duplex& x, ForwardEnd& end) {
    bool pause = advance(x, x.up);
    pause = advance(x, x.down) || pause;
    if (is_broken(x)) {
        end = ForwardEnd::kReset;
        return Step::kEnd;
    }
    if (x.up.phase == Direction::Phase::kEnded && x.down.phase == Direction::Phase::kEnded) {
        return Step::kEnd;
    }
    const std::int64_t idle_ns = std::chrono::nanoseconds(x.options.idle).count();
    if (idle_ns > 0) {
        const std::int64_t quiet = x.quiet_ns();
        if (quiet >= idle_ns) {
            end = ForwardEnd::kIdle;
            return Step::kEnd;
        }
        // One timer for the whole connection, re-armed only when it rings early (the
        // connection was active meanwhile), never a timer and its cancel per wait. No memory
        // to arm it makes us back off, not spin.
        (void)x.idle_check.take_ring();
        pause = !x.idle_check.arm(std::chrono::nanoseconds(idle_ns - quiet)) || pause;
    }
    return pause ? Step::kBackOff : Step::kWait;
}

ForwardResult result_of(const Duplex& x, ForwardEnd end) {
    ForwardResult r{end, x.up.bytes, x.down.bytes};
    if (r.end == ForwardEnd::kClosed && is_broken(x)) {
        r.end = ForwardEnd::kReset;  // a pump broke while we joined it
    }
    if (x.flow != nullptr) {
        // acquire: pairs with PumpEnd's release (the pumps' byte counts are complete).
        (void)x.flow->ended.load(std::memory_order_acquire);
        r.client_to_backend += x.flow->client_to_backend;
        r.backend_to_client += x.flow->backend_to_client;
    }
    return r;
}

}  // namespace

void arm_reset_on_close(int fd) noexcept {
    const linger abortive{1, 0};
    (void)::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
}

void release_spare_pipes_on(std::error_code error) noexcept {
    if (error == std::errc::too_many_files_open
        || error == std::errc::too_many_files_open_in_system) {
        spare_pipes().release();
    }
}

// Chosen on the worker that starts the connection. A direction that later finds itself on a
// worker without a ring is handed to a buffered pump (advance()).
Forwarding::Forwarding(int client_fd, int backend_fd, const ForwardOptions& options) {
    const Ring* ring = Ring::current();
    RINGLB_CHECK(ring != nullptr, "Forwarding made outside a runtime task");
    if (options.splice || !options.buffer_ring || ring->buffers() == nullptr) {
        pumps_ = forward_by_pumps(client_fd, backend_fd, options);
    } else {
        ring_.emplace(client_fd, backend_fd, options);
    }
}

bool Forwarding::await_suspend(std::coroutine_handle<> h) noexcept {
    if (pumps_.valid()) {
        return std::move(pumps_).operator co_await().await_suspend(h);
    }
    TaskHeader* task = TaskHeader::current();
    RINGLB_CHECK(task != nullptr, "forward() awaited outside a runtime task");
    task->suspend_on(h, &Forwarding::poll, this);
    if (poll(this, *task)) {
        task->clear_suspension();
        return false;
    }
    return true;
}

ForwardResult Forwarding::result() {
    if (pumps_.valid()) {
        return std::move(pumps_).operator co_await().await_resume();  // the task's output
    }
    return result_of(*ring_, end_);  // the cancels still in flight name their states, not an fd
}

// The ring path's whole life, one state machine advanced at each wake of the awaiting task:
// move the directions as far as they go, then wait on all they wait on (and the idle alarm),
// or back off, or stop the pumps and join them. True once it is done (TaskHeader::PollFn).
bool Forwarding::poll(void* self, TaskHeader& task) noexcept {
    auto& f = *static_cast<Forwarding*>(self);
    f.unsubmitted_before_ = Ring::current()->unsubmitted();  // a new run, maybe elsewhere
    for (;;) {
        switch (f.phase_) {
            case Phase::kForwarding:
                if (!f.forward_some(task)) {
                    return false;
                }
                break;
            case Phase::kBackingOff:
                if (!f.back_off_.rang_or_register(task)) {
                    return false;
                }
                (void)f.back_off_.take_ring();
                f.phase_ = Phase::kForwarding;
                break;
            case Phase::kJoining:
                if (!f.pumps_joined(task)) {
                    return false;
                }
                f.phase_ = Phase::kDone;
                break;
            case Phase::kDone:
                return true;
        }
    }
}

// One round of the directions: false when the task must wait (registered with all it waits
// on), true when the phase changed or something became ready meanwhile (go on).
bool Forwarding::forward_some(TaskHeader& task) noexcept {
    Duplex& x = *ring_;
    switch (step(x, end_)) {
        case Step::kWait:
            return poll_duplex(&x, task);
        case Step::kBackOff:
            // The ring was full, or every buffer of the worker's ring is lent (slow
            // readers): a timer, so that we never spin on the worker and starve the
            // completions that free them.
            if (back_off_.arm(std::chrono::milliseconds(1))) {
                phase_ = Phase::kBackingOff;
                return true;
            }
            // No memory even for a timer: give the worker a turn, then step again.
            task.wake();  // RUNNING: run() reschedules us instead of idling
            if (Worker* w = Worker::current()) {
                w->request_ring_turn();
            }
            return false;
        case Step::kEnd:
            end_forwarding();
            return true;
    }
    return true;
}

void Forwarding::end_forwarding() noexcept {
    // A send or recv this run prepared must reach the kernel before the caller closes its
    // descriptor: after the close, another socket could get the number first. Only this
    // run's: the worker submitted earlier runs' before it polled again. (Not covered: a run
    // that prepared an SQE, was woken meanwhile, and was stolen by another worker before its
    // own submitted; see docs/architecture.md.) One system call, only at such an end.
    Ring* ring = Ring::current();
    if (ring->unsubmitted() > unsubmitted_before_) {
        ring->submit_now();
    }
    // A direction was handed off: stop its pump (a failure or idleness ended the connection
    // early) and join it, so that it is gone before the caller closes the descriptors.
    ring_->abort_pumps();
    phase_ = ring_->flow != nullptr ? Phase::kJoining : Phase::kDone;
}

bool Forwarding::pumps_joined(TaskHeader& task) noexcept {
    bool joined = true;
    for (JoinHandle<void>& handle : ring_->flow->pumps) {
        if (handle.valid()) {
            TaskHeader* pump = handle.header();
            joined = poll_or_register(
                             pump->join_waker(), task, [pump] { return pump->is_finished(); })
                    && joined;
        }
    }
    return joined;
}

Task<ForwardResult> forward_task(int client_fd, int backend_fd, ForwardOptions options) {
    Forwarding forwarding(client_fd, backend_fd, options);
    co_await forwarding;
    co_return forwarding.result();
}

}  // namespace ringlb::daemon
