// SPDX-License-Identifier: MIT
// Ring: io_uring set-up with feature fallback, SQE hand-out, submission and CQE dispatch.
#include "core/uring/ring.hpp"

#include <liburing.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/assert.hpp"

namespace ringlb::core {
namespace {
thread_local Ring* t_ring = nullptr;
}  // namespace

struct Ring::Impl {
    io_uring ring{};
};

Ring::Ring(const CompletionTable* table, unsigned cq_entries) noexcept
        : table_(table), cq_capacity_(cq_entries), impl_(std::make_unique<Impl>()) {}

Ring::~Ring() {
    if (t_ring == this) {
        t_ring = nullptr;
    }
    // Cancels queued by other threads after the owner's last look (a timer's, whose task
    // finished elsewhere as the worker stopped): the list's references go. A timer still in
    // the heap loses the heap's reference with it.
    OpStateBase* list = remote_cancels_.exchange(nullptr, std::memory_order_acquire);
    while (list != nullptr) {
        OpStateBase* next = list->next_cancel;
        list->next_cancel = nullptr;
        release(list);
        list = next;
    }
    io_uring_queue_exit(&impl_->ring);
    if (buffers_ != nullptr) {
        buffers_->orphan();
    }
}

namespace {

// The operations ringlb submits (core/io/*, core/timer.cpp, the worker's eventfd read, the
// ring's cancels). Adding an operation to core means adding its opcode here: the restriction
// test fails otherwise (-EACCES).
constexpr std::uint8_t kAllowedOps[] = {
        IORING_OP_ACCEPT,
        IORING_OP_CONNECT,
        IORING_OP_RECV,
        IORING_OP_SEND,
        IORING_OP_CLOSE,
        IORING_OP_TIMEOUT,
        IORING_OP_LINK_TIMEOUT,
        IORING_OP_ASYNC_CANCEL,
        IORING_OP_READ,
        IORING_OP_POLL_ADD,
};

// Restricts a ring created with IORING_SETUP_R_DISABLED, then enables it. False if the kernel
// refused the restrictions (the ring is enabled unrestricted then).
bool restrict_and_enable(io_uring& r) noexcept {
    io_uring_restriction res[std::size(kAllowedOps) + 1]{};
    std::size_t n = 0;
    for (const std::uint8_t op : kAllowedOps) {
        res[n].opcode = IORING_RESTRICTION_SQE_OP;
        res[n].sqe_op = op;
        ++n;
    }
    res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
    res[n].sqe_flags = IOSQE_IO_LINK | IOSQE_BUFFER_SELECT;
    ++n;
    // No IORING_RESTRICTION_REGISTER_OP entry: after enabling, no io_uring_register() call
    // (file or buffer registration, eventfd, ...) is allowed either.
    // Raw io_uring_register(2): Debian 12's liburing 2.3 declares io_uring_register_restrictions
    // and io_uring_enable_rings but its shared library does not export them.
    const bool restricted =
            ::syscall(__NR_io_uring_register, r.ring_fd, IORING_REGISTER_RESTRICTIONS, res, n) == 0;
    const long enabled =
            ::syscall(__NR_io_uring_register, r.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
    RINGLB_CHECK(enabled == 0, "IORING_REGISTER_ENABLE_RINGS failed");
    return restricted;
}

}  // namespace

Result<std::unique_ptr<Ring>>
Ring::create(const RingOptions& options, const CompletionTable* table) {
    std::unique_ptr<Ring> ring(new Ring(table, options.cq_entries));
    struct Attempt {
        unsigned flags;
        RingFeatures features;
    };
    const unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    const Attempt attempts[] = {
            {base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
             {.single_issuer = true, .defer_taskrun = true}},
            {base | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, {.coop_taskrun = true}},
            {base, {}},
    };
    int err = -EINVAL;
    for (const Attempt& a : attempts) {
        if ((a.flags & IORING_SETUP_DEFER_TASKRUN) != 0 && !options.allow_defer_taskrun) {
            continue;
        }
        io_uring_params params{};
        params.flags = a.flags | (options.restrict_operations ? IORING_SETUP_R_DISABLED : 0);
        params.cq_entries = options.cq_entries;
        err = io_uring_queue_init_params(options.sq_entries, &ring->impl_->ring, &params);
        if (err == 0) {
            ring->features_ = a.features;
            ring->fault_bundles_ = options.fault_bundles;
            ring->features_.kernel_features = params.features;
            ring->features_.recvsend_bundle = (params.features & IORING_FEAT_RECVSEND_BUNDLE) != 0;
            ring->cq_capacity_ = params.cq_entries;
            // Before the restrictions: they forbid every io_uring_register() afterwards.
            if (options.provided_buffers) {
                BufferRingOptions bo = options.buffers;
                // Like bundles: following the kernel through a part-filled buffer is safe
                // only when it commits and posts in the order we read the CQEs, which
                // DEFER_TASKRUN guarantees (it runs our recvs only inside our enter).
                bo.incremental = bo.incremental && ring->features_.defer_taskrun;
                auto br = BufferRing::create(ring->impl_->ring, ring.get(), bo);
                if (br) {
                    ring->buffers_ = *br;
                    ring->features_.buffer_ring = true;
                    ring->features_.incremental = (*br)->incremental();
                    ring->features_.bundles = options.allow_bundles
                            && ring->features_.recvsend_bundle && ring->features_.defer_taskrun;
                }
            }
            if (options.restrict_operations) {
                ring->features_.restricted = restrict_and_enable(ring->impl_->ring);
            }
            break;
        }
        if (err != -EINVAL) {
            break;  // EPERM, ENOSYS, ENOMEM: no flag combination will help
        }
    }
    if (err != 0) {
        return Unexpected(std::error_code(-err, std::system_category()));
    }
    return ring;
}

int Ring::fd() const noexcept {
    return impl_->ring.ring_fd;
}

Ring* Ring::current() noexcept {
    return t_ring;
}

void Ring::set_current(Ring* ring) noexcept {
    t_ring = ring;
}

io_uring_sqe* Ring::get_sqe(unsigned needed, bool control) noexcept {
    const std::uint32_t limit = control ? cq_capacity_ : cq_capacity_ - kControlReserve;
    if (in_flight_ + needed > limit) {
        return nullptr;
    }
    io_uring& r = impl_->ring;
    if (io_uring_sq_space_left(&r) < needed) {
        const int n = io_uring_submit(&r);
        bump(stats_.enters, 1);
        if (n > 0) {
            bump(stats_.submissions, static_cast<std::uint64_t>(n));
        }
        if (io_uring_sq_space_left(&r) < needed) {
            return nullptr;
        }
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&r);
    RINGLB_ASSERT(sqe != nullptr);
    // Every SQE we hand out ends in exactly one CQE without IORING_CQE_F_MORE.
    ++in_flight_;
    return sqe;
}

void Ring::submit_now() noexcept {
    const int n = io_uring_submit(&impl_->ring);
    bump(stats_.enters, 1);
    if (n > 0) {
        bump(stats_.submissions, static_cast<std::uint64_t>(n));
    }
}

unsigned Ring::unsubmitted() const noexcept {
    return io_uring_sq_ready(&impl_->ring);
}

void Ring::submit_and_poll() noexcept {
    const int n = io_uring_submit_and_get_events(&impl_->ring);
    RINGLB_CHECK(n != -EBADR, "io_uring dropped completions (EBADR)");
    bump(stats_.enters, 1);
    if (n > 0) {
        bump(stats_.submissions, static_cast<std::uint64_t>(n));
    }
}

std::chrono::nanoseconds Ring::sleep_limit(std::chrono::nanoseconds limit) const noexcept {
    const std::int64_t earliest = timers_.earliest();
    if (earliest == TimerHeap::kNever) {
        return limit;
    }
    const std::int64_t until = std::max<std::int64_t>(earliest - monotonic_now_ns(), 1);
    return limit.count() > 0 ? std::min(limit, std::chrono::nanoseconds(until))
                             : std::chrono::nanoseconds(until);
}

void Ring::submit_and_wait(std::chrono::nanoseconds timeout) noexcept {
    io_uring& r = impl_->ring;
    int n;
    if (timeout.count() <= 0) {
        n = io_uring_submit_and_wait(&r, 1);
    } else {
        __kernel_timespec ts{};
        ts.tv_sec = timeout.count() / 1'000'000'000;
        ts.tv_nsec = timeout.count() % 1'000'000'000;
        io_uring_cqe* cqe = nullptr;
        n = io_uring_submit_and_wait_timeout(&r, &cqe, 1, &ts, nullptr);
    }
    bump(stats_.enters, 1);
    if (n > 0) {
        bump(stats_.submissions, static_cast<std::uint64_t>(n));
    }
    // EBADR: the kernel dropped CQEs (overflow without NODROP); operations were lost.
    RINGLB_CHECK(n != -EBADR, "io_uring dropped completions (EBADR)");
    // Other errors (EINTR, ETIME, EBUSY with a full CQ) need no action: the loop reaps again.
}

unsigned Ring::reap() noexcept {
    io_uring& r = impl_->ring;
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&r, head, cqe) {
        ++seen;
        dispatch(*cqe);
    }
    if (seen > 0) {
        io_uring_cq_advance(&r, seen);
        bump(stats_.completions, seen);
    }
    return seen;
}

void Ring::dispatch(const io_uring_cqe& cqe) noexcept {
    if ((cqe.flags & IORING_CQE_F_MORE) == 0 && in_flight_ > 0) {
        --in_flight_;
    }
    const std::uint64_t ud = cqe.user_data;
    if (!table_->handle(
                static_cast<std::size_t>(user_data::kind(ud)), user_data::target(ud), cqe)) {
        RINGLB_BUG("CQE for an unregistered completion kind");
    }
}

void Ring::request_cancel(OpStateBase* op) noexcept {
    if (t_ring == this) {
        retain(op);  // the cancel's own reference, dropped by its CQE (complete_cancel)
        prep_cancel(op);
        return;
    }
    if (queue_remote_cancel(op) && rouse_fn_ != nullptr) {
        rouse_fn_(rouse_ctx_);
    }
}

bool Ring::queue_remote_cancel(OpStateBase* op) noexcept {
    // Race: two threads may ask at once (a stream's stop() and its owner's destruction); the
    // list links through the state itself, so only the first may push it. One cancel is
    // enough: it ends the operation, whichever asker it came from.
    // acq_rel: pairs with the clearing store in submit_remote_cancels().
    if (op->cancel_queued.exchange(true, std::memory_order_acq_rel)) {
        return false;
    }
    retain(op);  // the cancel's own reference, dropped by its CQE (complete_cancel)
    OpStateBase* head = remote_cancels_.load(std::memory_order_relaxed);
    do {
        op->next_cancel = head;
        // seq_cst: publishes next_cancel to the exchange in submit_remote_cancels() and pairs
        // with the owner's seq_cst has_remote_cancels() check before it sleeps.
    } while (!remote_cancels_.compare_exchange_weak(
            head, op, std::memory_order_seq_cst, std::memory_order_relaxed));
    return true;
}

void Ring::submit_remote_cancels() noexcept {
    if (remote_cancels_.load(std::memory_order_relaxed) == nullptr) {
        return;
    }
    // acquire: pairs with the release CAS in request_cancel().
    OpStateBase* list = remote_cancels_.exchange(nullptr, std::memory_order_acquire);
    while (list != nullptr) {
        OpStateBase* next = list->next_cancel;
        list->next_cancel = nullptr;
        // Off the list: a later request may push it again (at worst a second cancel, which
        // finds nothing). The list's reference passes on to prep_cancel().
        list->cancel_queued.store(false, std::memory_order_release);
        prep_cancel(list);
        list = next;
    }
}

void Ring::prep_cancel(OpStateBase* op) noexcept {
    // Takes over one reference the caller holds: the cancel SQE's, dropped by its CQE
    // (complete_cancel), or the remote list's.
    if (op->kind == CompletionKind::kTimer) {
        timers_.cancel(static_cast<TimerState*>(op));  // ours: no SQE
        release(op);
        return;
    }
    io_uring_sqe* sqe = get_sqe(1, true);
    if (sqe == nullptr) {
        // The ring is full: queue it as a remote request; the next loop iteration retries.
        (void)queue_remote_cancel(op);  // takes a reference of its own if it queues it
        release(op);
        return;
    }
    io_uring_prep_cancel64(sqe, op->submitted_user_data(), 0);
    io_uring_sqe_set_data64(sqe, user_data::encode(CompletionKind::kCancel, op));
}

void Ring::cancel_all() noexcept {
    // Their tasks wake and, the runtime stopping, are cancelled instead of resumed.
    timers_.cancel_all();
    io_uring_sqe* sqe = get_sqe(1, true);
    if (sqe == nullptr) {
        return;  // retried by the caller's loop
    }
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, user_data::encode(CompletionKind::kIgnore, nullptr));
}

}  // namespace ringlb::core
