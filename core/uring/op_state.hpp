// SPDX-License-Identifier: MIT
// OpState: the state shared by one in-flight io_uring operation and the task awaiting it.
//
// It has two kinds of owners: the awaiter, and each SQE in flight that names it (the operation
// itself, its linked timeout, a cancel aimed at it). The last owner to let go frees it, so an
// aborted task's frame can go at once while the kernel still holds the buffer, the sockaddr or
// the timespec that live here (STYLE.md §5.6 rule 3). OpStates are recycled through a
// per-thread cache: no allocation per forwarded chunk.
#pragma once

#include <linux/time_types.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/atomic_waker.hpp"
#include "core/buffer.hpp"
#include "core/uring/user_data.hpp"

struct io_uring_cqe;

namespace ringlb::core {

class Ring;

/// What every in-flight operation's state has: its references, its completion and the task
/// to wake, and where it was submitted (for cancels). Multishot streams derive from it
/// directly (RecvStreamState, AcceptStreamState): they need none of OpState's kernel-visible
/// memory, and each idle connection keeps two of them. 64 bytes: the user_data it was
/// submitted with and how to free it both follow from `kind`, so neither is stored.
///
/// user_data keeps the kind in a pointer's low 4 bits, so every state is 16-byte aligned: its
/// operator new sees to that. Not alignas(16), which would round each type's size up to 16
/// (and aligned new rounds the request too): a recv stream's state is 152 bytes, a 160-byte
/// heap chunk, where 160 bytes took 176.
struct OpStateBase {
    static void* operator new(std::size_t n);
    static void operator delete(void* p) noexcept;

    // Any thread (atomics).
    std::atomic<std::uint32_t> refs{0};
    std::atomic<bool> done{false};  // release-stored by the handler after res/cqe_flags
    // On its Ring's remote-cancel list: it may be pushed only once (the list links through
    // next_cancel), however many threads ask for its cancellation meanwhile.
    std::atomic<bool> cancel_queued{false};
    /// What this state is, set once at construction: kOneShot for a pooled OpState, the
    /// stream's kind (RecvStreamState, AcceptStreamState), or kTimer (TimerState, which has no
    /// SQE). An SQE's user_data is
    /// `user_data::encode(kind, this)` (submitted_user_data()), and release() frees it by it.
    CompletionKind kind = CompletionKind::kOneShot;
    AtomicWaker waker;

    // Written by the ring's thread before `done` is released; read by the awaiter after.
    std::int32_t res = 0;
    std::uint32_t cqe_flags = 0;
    std::int32_t timeout_res = 0;  // the linked timeout's res (-ETIME: it fired)

    // The ring's thread only.
    std::uint8_t pending_cqes = 0;       // CQEs still to come before `done` (op + linked timeout)
    Ring* ring = nullptr;                // where the SQE went; cancels go there too
    OpStateBase* next_cancel = nullptr;  // Ring's remote-cancel list link

    /// The user_data its SQE carries, for ASYNC_CANCEL.
    std::uint64_t submitted_user_data() const noexcept { return user_data::encode(kind, this); }
};
static_assert(sizeof(OpStateBase) == 64, "each idle connection keeps two stream states");

/// A single-shot operation's state (pooled): the base, and the memory the kernel reads after
/// submission.
struct OpState : OpStateBase {
    // Lifetime: kernel-visible memory, valid until the last CQE naming this state arrives.
    Buffer buf;
    __kernel_timespec ts{};
    // Sized for IPv4 and IPv6, the only families ringlb connects to (not sockaddr_storage).
    union {
        sockaddr_in v4;
        sockaddr_in6 v6;
    } addr{};
    socklen_t addrlen = 0;
};

/// A fresh OpState with refs == 1 (the caller's). From the calling thread's cache.
OpState* acquire_op_state();
/// Takes one more reference. Any thread.
void retain(OpStateBase* op) noexcept;
/// Drops one reference; the last one resets and recycles (or frees) the state. Any thread.
void release(OpStateBase* op) noexcept;

/// Number of OpStates alive (acquired and not yet recycled), for leak tests. Any thread.
std::int64_t live_op_states() noexcept;

namespace detail {
/// How release() frees the stream states (recv_stream.cpp, accept.cpp) and recycles timers
/// (timer_heap.cpp).
void free_recv_stream_state(OpStateBase* s) noexcept;
void free_accept_stream_state(OpStateBase* s) noexcept;
void recycle_timer_state(OpStateBase* s) noexcept;

/// Completion handlers for the single-shot kinds (registered by the Runtime).
void complete_one_shot(void* target, const io_uring_cqe& cqe) noexcept;
void complete_link_timeout(void* target, const io_uring_cqe& cqe) noexcept;
void complete_cancel(void* target, const io_uring_cqe& cqe) noexcept;  // target: OpStateBase
void complete_ignore(void* target, const io_uring_cqe& cqe) noexcept;
}  // namespace detail

}  // namespace ringlb::core
