// SPDX-License-Identifier: MIT
// HandlerTable<N>: the lock-free dispatch table between io_uring completions and the code
// that owns them.
//
// The model: every SQE's user_data carries a completion kind (a slot index, 4 bits) and a
// pointer to the state of the operation (core/uring/user_data.hpp). A worker's completion
// loop decodes each CQE and calls `handle(kind, target, cqe)`, which is one acquire load and
// one indirect call: no lock, no virtual call, no allocation. Slots are registered once at
// start-up (any thread) and may be unregistered; a slot is a plain function pointer so a
// handler is a `noexcept` free function that records the result and wakes (STYLE.md §5.6).
//
//     HandlerTable<16> table;
//     table.register_handler(2, &complete_one_shot);   // false if slot 2 is taken
//     table.handle(2, op, cqe);                          // false on an empty slot
#pragma once

#include <array>
#include <atomic>
#include <cstddef>

struct io_uring_cqe;

namespace ringlb::core {

/// A completion handler: `target` is the pointer decoded from user_data. Never throws, never
/// blocks, never resumes a coroutine inline.
using CompletionFn = void (*)(void* target, const io_uring_cqe& cqe) noexcept;

/// Fixed table of completion handlers, one slot per completion kind. Any thread may register
/// or unregister; workers call handle() from their completion loop.
template <std::size_t N>
class HandlerTable {
public:
    static constexpr std::size_t kSize = N;

    /// Installs `fn` in the empty slot `slot`. False if `slot` is out of range, already taken,
    /// or `fn` is null.
    bool register_handler(std::size_t slot, CompletionFn fn) noexcept {
        if (slot >= N || fn == nullptr) {
            return false;
        }
        CompletionFn expected = nullptr;
        // acq_rel: publishes whatever `fn` relies on to the acquire load in handle().
        return slots_[slot].compare_exchange_strong(expected, fn, std::memory_order_acq_rel);
    }

    /// Empties `slot`; returns the handler it held, or nullptr if it was empty or out of range.
    CompletionFn unregister_handler(std::size_t slot) noexcept {
        return slot < N ? slots_[slot].exchange(nullptr, std::memory_order_acq_rel) : nullptr;
    }

    /// Calls the handler in `slot`. False (and no call) if `slot` is empty or out of range.
    bool handle(std::size_t slot, void* target, const io_uring_cqe& cqe) const noexcept {
        if (slot >= N) {
            return false;
        }
        // acquire: pairs with the acq_rel compare-exchange in register_handler().
        CompletionFn fn = slots_[slot].load(std::memory_order_acquire);
        if (fn == nullptr) {
            return false;
        }
        fn(target, cqe);
        return true;
    }

    /// The handler in `slot` (nullptr if empty or out of range). For diagnostics.
    CompletionFn get(std::size_t slot) const noexcept {
        return slot < N ? slots_[slot].load(std::memory_order_acquire) : nullptr;
    }

private:
    // Any thread (atomics).
    std::array<std::atomic<CompletionFn>, N> slots_{};
};

}  // namespace ringlb::core
