// SPDX-License-Identifier: MIT
// BufferRing: registration, lending, giving back and the remote give-back stack.
#include "core/uring/buffer_ring.hpp"

#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/assert.hpp"
#include "core/uring/ring.hpp"
#include "core/uring/uring_compat.hpp"

namespace ringlb::core {

namespace detail {
void give_back(BufferRing* ring, std::uint16_t bid) noexcept {
    ring->give_back(bid);
}
bool ends_a_buffer(const BufferRing* ring, const std::byte* end) noexcept {
    return ring->ends_a_buffer(end);
}
}  // namespace detail

namespace {
constexpr std::size_t kPage = 4096;

// The registration's flags: liburing 2.3's uapi header calls the field `pad`, 2.4 and later
// (kernel 6.4 headers) `flags`.
template <class Reg>
void set_flags(Reg& reg, std::uint16_t flags) noexcept {
    if constexpr (requires { reg.flags; }) {
        reg.flags = flags;
    } else {
        reg.pad = flags;
    }
}
std::size_t round_to_page(std::size_t n) noexcept {
    return (n + kPage - 1) / kPage * kPage;
}
}  // namespace

BufferRing::BufferRing(const Ring* owner, BufferRingOptions o)
        : owner_(owner)
        , count_(o.count)
        , buffer_bytes_(o.buffer_bytes)
        , slot_of_(std::make_unique<std::uint16_t[]>(o.count))
        , warm_(std::make_unique<std::uint16_t[]>(o.count))
        , window_(std::min(o.count, kInitialWindow))
        , remote_next_(std::make_unique<std::atomic<std::uint32_t>[]>(o.count)) {}

BufferRing::~BufferRing() {
    // Raw memory: the kernel-shared entries and the buffers it writes into (one of the few
    // owners of io_uring memory).
    std::free(entries_);
    std::free(memory_);
}

Result<BufferRing*> BufferRing::create(io_uring& ring, const Ring* owner, BufferRingOptions o) {
    if (o.count == 0 || o.count > 32768 || (o.count & (o.count - 1)) != 0 || o.buffer_bytes == 0) {
        return Unexpected(std::error_code(EINVAL, std::system_category()));
    }
    std::unique_ptr<BufferRing> br(new BufferRing(owner, o));
    // Buffer memory is uninitialised and unbacked until the kernel first writes a page.
    br->memory_ = static_cast<std::byte*>(
            std::aligned_alloc(kPage, round_to_page(std::size_t{o.count} * o.buffer_bytes)));
    const std::size_t ring_bytes = round_to_page(std::size_t{o.count} * sizeof(io_uring_buf));
    br->entries_ = static_cast<io_uring_buf_ring*>(std::aligned_alloc(kPage, ring_bytes));
    if (br->memory_ == nullptr || br->entries_ == nullptr) {
        return Unexpected(std::error_code(ENOMEM, std::system_category()));
    }
    std::memset(static_cast<void*>(br->entries_), 0, ring_bytes);
    io_uring_buf_ring_init(br->entries_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(br->entries_);
    reg.ring_entries = o.count;
    reg.bgid = kGroup;
    // A kernel before 6.12 rejects the flag with EINVAL (it checks the field is zero, or
    // holds only flags it knows): then without it.
    int err = -EINVAL;
    if (o.incremental) {
        set_flags(reg, IOU_PBUF_RING_INC);
        err = io_uring_register_buf_ring(&ring, &reg, 0);
        br->incremental_ = err == 0;
    }
    if (err == -EINVAL) {
        set_flags(reg, 0);
        err = io_uring_register_buf_ring(&ring, &reg, 0);
    }
    if (err != 0) {
        return Unexpected(std::error_code(-err, std::system_category()));
    }
    if (br->incremental_) {
        br->offset_ = std::make_unique<std::uint32_t[]>(o.count);
        br->holds_ = std::make_unique<std::atomic<std::uint32_t>[]>(o.count);
    }
    // Highest bids at the bottom of the stack: the ring starts with 0, 1, 2, ...
    for (std::uint32_t i = 0; i < o.count; ++i) {
        const std::uint32_t bid = o.count - 1 - i;
        br->remote_next_[bid].store(kNone, std::memory_order_relaxed);
        br->warm_[br->warm_top_++] = static_cast<std::uint16_t>(bid);
    }
    br->top_up();
    return br.release();
}

void BufferRing::orphan() noexcept {
    // Nothing recycles into the ring any more (the kernel ring is gone with its io_uring);
    // buffers still lent are only counted down.
    // seq_cst: with the exchange in drain_remote() and the pusher's CAS then load in
    // give_back(), either this drain sees a late push or that pusher sees the flag.
    orphaned_.store(true, std::memory_order_seq_cst);
    const std::int64_t stacked = drain_remote(false);
    unref(stacked + 1);
}

std::int64_t BufferRing::drain_remote(bool into_ring) noexcept {
    // seq_cst (acquire at least): pairs with the CAS in give_back() for remote_next_.
    std::uint32_t bid = remote_head_.exchange(kNone, std::memory_order_seq_cst);
    std::int64_t n = 0;
    while (bid != kNone) {
        const std::uint32_t next = remote_next_[bid].load(std::memory_order_relaxed);
        if (into_ring) {
            warm_[warm_top_++] = static_cast<std::uint16_t>(bid);
        }
        ++n;
        bid = next;
    }
    return n;
}

void BufferRing::unref(std::int64_t n) noexcept {
    if (n == 0) {
        return;
    }
    // acq_rel: the last one out sees every other thread's use of the memory.
    if (refs_.fetch_sub(n, std::memory_order_acq_rel) == n) {
        delete this;
    }
}

void BufferRing::add_to_ring(std::uint16_t bid) noexcept {
    const int mask = io_uring_buf_ring_mask(count_);
    slot_of_[bid] = static_cast<std::uint16_t>(tail_ & mask);
    if (incremental_) {
        offset_[bid] = 0;
        // relaxed: no piece of it is out (the last holder's release was acquired by whoever
        // brought it back here), and the kernel's hold is ours to count.
        holds_[bid].store(1, std::memory_order_relaxed);
    }
    io_uring_buf_ring_add(
            entries_, memory_ + std::size_t{bid} * buffer_bytes_, buffer_bytes_, bid, mask, 0);
    ++tail_;
    ++posted_;
    // release (inside): publishes the entry to the kernel's read of the tail.
    io_uring_buf_ring_advance(entries_, 1);
}

void BufferRing::take_back(std::uint16_t bid) noexcept {
    warm_[warm_top_++] = bid;
    top_up();
}

void BufferRing::top_up() noexcept {
    while (posted_ < window_ && warm_top_ > 0) {
        add_to_ring(warm_[--warm_top_]);
    }
}

bool BufferRing::starved() noexcept {
    if (warm_top_ > 0 && !grew_this_turn_) {
        // The kernel took more buffers in one turn than the window held: give it more, for
        // good (a smaller window only saves cache, a starved recv costs a re-arm). Once per
        // loop turn: several streams starving in the same batch are one shortfall, not many.
        window_ = std::min(count_, window_ * 2);
        grew_this_turn_ = true;
    }
    top_up();  // even without growing: the window is posted again in full
    return posted_ > 0;
}

Buffer BufferRing::lend(std::uint16_t bid, std::size_t len, bool finished) noexcept {
    RINGLB_ASSERT(bid < count_ && len <= room(bid) && posted_ > 0);
    std::byte* data = memory_ + std::size_t{bid} * buffer_bytes_;
    if (incremental_) {
        data += offset_[bid];
        offset_[bid] = finished ? buffer_bytes_ : offset_[bid] + static_cast<std::uint32_t>(len);
        // The kernel moves past a buffer when it has filled it (io_kbuf_inc_commit); until
        // then it stays at the ring's head for the next recv. Our own count says so rather
        // than IORING_CQE_F_BUF_MORE, which kernels before a 2026 fix dropped on a bundle
        // recv's internal retry: trusting it there would recycle a buffer the kernel still
        // writes into. The one exception, `finished`, comes from a non-bundled CQE, where
        // the flag is reliable: a recv issued from io-wq commits the buffer's rest up front.
        if (offset_[bid] < buffer_bytes_) {
            // One more piece out, and the kernel's hold stays. relaxed: the piece's give_back
            // is ordered after this by the handoff that moves the Buffer.
            holds_[bid].fetch_add(1, std::memory_order_relaxed);
        } else {
            // The kernel is done with it: its hold passes to this last piece, so the count
            // stays. The buffer goes back once every piece has.
            --posted_;
        }
    } else {
        --posted_;  // the kernel took it from the ring
    }
    // relaxed: the Buffer's give_back is ordered after this by the handoff that moves it.
    refs_.fetch_add(1, std::memory_order_relaxed);
    return Buffer::provided(this, bid, data, len);
}

bool BufferRing::drop_hold(std::uint16_t bid) noexcept {
    // acq_rel: the last holder sees every other holder's use of the buffer (their sends read
    // from it) before it goes back to the kernel.
    return holds_[bid].fetch_sub(1, std::memory_order_acq_rel) == 1;
}

// Why reading the ring is safe here: an entry is overwritten only when the tail comes round
// to it again, i.e. after `count` more adds. The bundle's buffers are out of the ring until
// we lend them (or, the last one consumed incrementally, still in it), so at most count - n
// other buffers can be added back before this handler runs, and those go into other slots. With
// DEFER_TASKRUN the kernel also consumes entries only inside our io_uring_enter, never while a
// handler reads them; Ring enables bundles only then.
std::uint16_t BufferRing::bundle_bid(std::uint16_t first_bid, std::uint32_t i) const noexcept {
    const std::uint32_t mask = count_ - 1;
    const std::uint32_t slot = (slot_of_[first_bid] + i) & mask;
    return entries_->bufs[slot].bid;
}

void BufferRing::give_back(std::uint16_t bid) noexcept {
    if (orphaned_.load(std::memory_order_acquire)) {
        unref(1);
        return;
    }
    if (incremental_ && !drop_hold(bid)) {
        unref(1);  // other pieces of it are still out, or the kernel still fills it
        return;
    }
    if (Ring::current() == owner_) {
        take_back(bid);
        unref(1);
        return;
    }
    // Race: the owner may be exchanging the stack empty right now; a push that loses the CAS
    // retries on the new head, so every bid lands in exactly one drained list.
    // A guard reference: once pushed, our bid's own reference may be dropped by another
    // thread's drain at any moment, and we still read orphaned_ below.
    refs_.fetch_add(1, std::memory_order_relaxed);
    std::uint32_t head = remote_head_.load(std::memory_order_relaxed);
    do {
        remote_next_[bid].store(head, std::memory_order_relaxed);
        // seq_cst: publishes remote_next_[bid] to the exchange in drain_remote(), and orders
        // the push before the orphaned_ check below (see orphan()).
    } while (!remote_head_.compare_exchange_weak(
            head, bid, std::memory_order_seq_cst, std::memory_order_relaxed));
    // The reference stays until the owner puts the buffer back. Race: the ring was orphaned
    // while we pushed, after its final drain; then we drain (and count down) ourselves.
    const bool orphaned = orphaned_.load(std::memory_order_seq_cst);
    const std::int64_t late = orphaned ? drain_remote(false) : 0;
    if (!orphaned && head == kNone) {
        // The first buffer on an empty stack: a sleeping owner would not drain it until its
        // next completion, and its streams may be starving for buffers. (A Buffer may be
        // dropped after its runtime is gone, but not while the runtime is being destroyed.)
        owner_->rouse_owner();
    }
    unref(late + 1);
}

void BufferRing::recycle_remote() noexcept {
    // Every loop turn, before the enter: the handlers of the last one lent buffers out of
    // the ring, and some came back meanwhile.
    const std::int64_t n =
            remote_head_.load(std::memory_order_relaxed) == kNone ? 0 : drain_remote(true);
    grew_this_turn_ = false;
    top_up();
    unref(n);
}

}  // namespace ringlb::core
