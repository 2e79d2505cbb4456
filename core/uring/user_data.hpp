// SPDX-License-Identifier: MIT
// The only encoder/decoder of io_uring user_data: a completion kind in the low 4 bits and a
// 16-byte-aligned pointer to the operation's state in the rest (DESIGN, handler table).
#pragma once

#include <cstdint>

namespace ringlb::core {

/// The HandlerTable slot a CQE is dispatched to.
enum class CompletionKind : std::uint8_t {
    kIgnore = 0,        // runtime's own fire-and-forget SQEs (target is null)
    kWakeup = 1,        // the worker's eventfd read (target: Worker)
    kOneShot = 2,       // a single-shot operation (target: OpState)
    kLinkTimeout = 3,   // the linked timeout of a single-shot operation (target: OpState)
    kCancel = 4,        // an ASYNC_CANCEL aimed at an operation (target: OpStateBase)
    kAcceptStream = 5,  // a multishot accept (target: AcceptStreamState)
    kRecvStream = 6,    // a multishot recv into the buffer ring (target: RecvStreamState)
    // Never in a CQE: a userspace timer of its Ring's TimerHeap (TimerState). It is a kind
    // so that cancels and release() can tell the state apart (OpStateBase::kind).
    kTimer = 7,
};

inline constexpr unsigned kCompletionKinds = 16;

namespace user_data {

inline constexpr std::uint64_t kKindMask = 0xF;

/// \pre `target` is 16-byte aligned (OpStateBase's operator new; Worker is alignas(16)).
inline std::uint64_t encode(CompletionKind kind, const void* target) noexcept {
    // NOLINTNEXTLINE(performance-no-int-to-ptr): user_data is the kernel's 64-bit cookie.
    return reinterpret_cast<std::uintptr_t>(target) | static_cast<std::uint64_t>(kind);
}
inline CompletionKind kind(std::uint64_t ud) noexcept {
    return static_cast<CompletionKind>(ud & kKindMask);
}
inline void* target(std::uint64_t ud) noexcept {
    // NOLINTNEXTLINE(performance-no-int-to-ptr): the inverse of encode().
    return reinterpret_cast<void*>(static_cast<std::uintptr_t>(ud & ~kKindMask));
}

}  // namespace user_data
}  // namespace ringlb::core
