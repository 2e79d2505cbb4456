// SPDX-License-Identifier: MIT
// BufferRing: one ring's provided-buffer ring (IORING_REGISTER_PBUF_RING), from which the
// kernel picks a buffer when a multishot recv has data, so a connection that waits for data
// holds no buffer at all.
//
// The model: `count` buffers of `buffer_bytes` in one page-aligned block, registered by hand
// (liburing 2.3 has no setup helper) as buffer group 0 of its ring. The kernel takes buffers
// at the ring's head; a CQE names the first one (and, for a bundle, how many consecutive ring
// entries it filled). Each buffer handed out becomes a Buffer (lend()); destroying that Buffer
// gives it back: on the owner thread at once, from other threads (a connection's task that was
// stolen by another worker) through a lock-free stack the owner drains every loop turn.
//
// The warm window: only `window` buffers are posted in the kernel ring at a time; the others
// wait on a LIFO stack, most recently given back on top, and top the ring up as the kernel
// takes buffers. The kernel takes the oldest posted entry, so with every buffer posted a
// single busy stream would cycle through all of them (16 MiB by default) and find each one
// cold in the cache; with the window it cycles through window + in-flight buffers. Measured on
// bulk: 0.44 -> 0.36 CPU-s/GB (docs/performance.md). A recv that finds the ring empty while
// buffers wait on the stack (-ENOBUFS) has the window posted again at once, doubled for good
// (at most once per loop turn), and re-arms (starved()).
//
// Incremental consumption (IOU_PBUF_RING_INC, kernels 6.12+, asked for by default): the
// kernel takes only what a recv needs from the buffer at the ring's head and leaves it there
// (IORING_CQE_F_BUF_MORE) for the next recv, on any connection of the worker, to continue.
// So a 64-byte request takes 64 bytes of a buffer, not all of it, and small messages of many
// connections share the same few cache lines and pages instead of touching one buffer each.
// A buffer is then lent in pieces: each piece is a Buffer of its own, and the buffer goes
// back to the ring once the kernel has moved past it and every piece has been given back (a
// count per buffer: its pieces out, plus one while the kernel may still write into it). The
// kernel reports no offsets; we follow them (offset_), since it fills each buffer from its
// start, in order, and every byte it commits arrives in a CQE of ours.
//
// Lifetime: reference-counted, one for the Ring and one per lent buffer (or piece), so a
// Buffer that outlives its worker (a result held past shutdown) still points at live memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/buffer.hpp"
#include "core/result.hpp"

struct io_uring;
struct io_uring_buf_ring;

namespace ringlb::core {

class Ring;

struct BufferRingOptions {
    std::uint32_t count = 512;           // a power of two, at most 32768
    std::uint32_t buffer_bytes = 16384;  // each
    bool incremental = true;             // IOU_PBUF_RING_INC where the kernel has it (6.12)
};

class BufferRing {
public:
    static constexpr std::uint16_t kGroup = 0;  // the buffer group id on its ring

    /// Allocates and registers the buffers on `ring` (owner thread, before restrictions are
    /// enabled), incrementally consumed if asked and the kernel can (incremental() says).
    /// Fails with the errno of the registration (EINVAL before 5.19).
    static Result<BufferRing*> create(io_uring& ring, const Ring* owner, BufferRingOptions o);
    /// Called by the owning Ring as it goes: no more recycling; frees once nothing is lent.
    void orphan() noexcept;

    BufferRing(const BufferRing&) = delete;
    BufferRing& operator=(const BufferRing&) = delete;

    /// A Buffer for `len` bytes the kernel put in buffer `bid` (in incremental mode: right
    /// after what it put there before, and the buffer stays in the ring until it is full, or
    /// `finished`: the kernel said it is done with it). Owner thread (a CQE handler), in CQE
    /// order. In incremental mode, for data only: a CQE without data consumed nothing.
    Buffer lend(std::uint16_t bid, std::size_t len, bool finished = false) noexcept;
    /// The bytes buffer `bid` can still take: what a CQE put in it is at most this much.
    /// Owner thread (a CQE handler).
    std::uint32_t room(std::uint16_t bid) const noexcept {
        return incremental_ ? buffer_bytes_ - offset_[bid] : buffer_bytes_;
    }
    /// The buffer id `i` ring entries after `first_bid`'s entry: the rest of a bundle. Owner
    /// thread, in the handler of the CQE that consumed them (see bundle_bid() in the .cpp).
    std::uint16_t bundle_bid(std::uint16_t first_bid, std::uint32_t i) const noexcept;
    /// Takes back a lent buffer. Any thread.
    void give_back(std::uint16_t bid) noexcept;
    /// Takes back the buffers given back by other threads and tops the ring up to the
    /// window. Owner thread, every loop turn.
    void recycle_remote() noexcept;
    /// A recv found the ring empty (-ENOBUFS): widens the window and tops the ring up. True
    /// when the ring has buffers again (re-arm at once); false when every buffer is lent.
    /// Owner thread (a CQE handler).
    bool starved() noexcept;
    /// Counts a recv that found the ring empty (-ENOBUFS). Owner thread (a CQE handler).
    void count_empty() noexcept {
        empties_.store(empties_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    /// Recvs that found the ring empty, since start: the ring is too small for the load (or
    /// readers are slow). Any thread.
    std::uint64_t empties() const noexcept { return empties_.load(std::memory_order_relaxed); }
    /// True when other threads gave buffers back since the last recycle_remote(). Any thread.
    bool has_remote() const noexcept {
        // seq_cst: pairs with the pusher's seq_cst CAS and the owner's seq_cst store of its
        // sleeping flag (Worker::loop), like Ring::has_remote_cancels().
        return remote_head_.load(std::memory_order_seq_cst) != kNone;
    }

    std::uint32_t buffer_bytes() const noexcept { return buffer_bytes_; }
    /// True when `end` is where one of the buffers ends. Any thread.
    bool ends_a_buffer(const std::byte* end) const noexcept {
        const auto offset = end - memory_;
        return offset > 0 && offset % buffer_bytes_ == 0;
    }
    std::uint32_t count() const noexcept { return count_; }
    /// True when the kernel consumes the buffers incrementally (IOU_PBUF_RING_INC).
    bool incremental() const noexcept { return incremental_; }
    /// How many buffers the ring keeps posted now (see the warm window). Owner thread.
    std::uint32_t window() const noexcept { return window_; }
    /// The first window: enough for a few dozen connections receiving in one loop turn.
    static constexpr std::uint32_t kInitialWindow = 32;
    /// Buffers (or pieces) lent and not yet given back (including those on the remote stack).
    /// Any thread.
    std::uint32_t lent() const noexcept {
        return static_cast<std::uint32_t>(refs_.load(std::memory_order_relaxed) - 1);
    }

private:
    friend struct std::default_delete<BufferRing>;  // create()'s failure paths
    BufferRing(const Ring* owner, BufferRingOptions o);
    ~BufferRing();
    void add_to_ring(std::uint16_t bid) noexcept;
    /// Onto the warm stack, then tops the ring up. Owner thread.
    void take_back(std::uint16_t bid) noexcept;
    /// Posts buffers from the warm stack until `window_` are in the ring. Owner thread.
    void top_up() noexcept;
    void unref(std::int64_t n) noexcept;
    /// Drops one hold on buffer `bid` (incremental mode): true when it was the last, and the
    /// buffer is free to go back. Any thread.
    bool drop_hold(std::uint16_t bid) noexcept;
    /// Empties the remote stack, into the ring (owner) or just counting; returns how many.
    std::int64_t drain_remote(bool into_ring) noexcept;

    static constexpr std::uint32_t kNone = 0xFFFFFFFF;

    // Immutable after construction.
    const Ring* owner_;
    const std::uint32_t count_;
    const std::uint32_t buffer_bytes_;
    std::byte* memory_ = nullptr;           // count_ * buffer_bytes_, page-aligned
    io_uring_buf_ring* entries_ = nullptr;  // count_ entries, page-aligned, shared with kernel
    bool incremental_ = false;              // set once by create()

    // Owner thread only.
    std::unique_ptr<std::uint16_t[]> slot_of_;  // bid -> ring entry it was last put in
    std::uint16_t tail_ = 0;                    // our copy of entries_->tail
    std::unique_ptr<std::uint16_t[]> warm_;     // bids out of the ring, newest on top
    std::uint32_t warm_top_ = 0;
    std::uint32_t posted_ = 0;  // buffers in the kernel ring: added, not yet taken
    std::uint32_t window_ = 0;  // how many we keep posted
    bool grew_this_turn_ = false;
    // Incremental mode only (else empty): how far the kernel has filled each buffer.
    std::unique_ptr<std::uint32_t[]> offset_;

    // Any thread (atomics).
    std::atomic<std::int64_t> refs_{1};      // the Ring's, plus one per lent buffer
    std::atomic<std::uint64_t> empties_{0};  // written by the owner only (see count_empty())
    std::atomic<bool> orphaned_{false};
    std::atomic<std::uint32_t> remote_head_{kNone};  // stack of bids given back remotely
    std::unique_ptr<std::atomic<std::uint32_t>[]> remote_next_;  // the stack's links, by bid
    // Incremental mode only (else empty): per buffer, its pieces lent plus one while it is in
    // the kernel ring. Set to 1 as it goes in (nobody else holds it then).
    std::unique_ptr<std::atomic<std::uint32_t>[]> holds_;
};

}  // namespace ringlb::core
