// SPDX-License-Identifier: MIT
// A worker's run queues: LocalQueue, a bounded ring the owner pushes to and anyone pops from
// (idle workers steal), and InjectionQueue, a lock-free MPSC stack other threads push to.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "core/task_header.hpp"

namespace ringlb::core {

/// Owner pushes; owner and stealers pop in FIFO order. Bounded: try_push() fails when full.
class LocalQueue {
public:
    static constexpr std::uint32_t kCapacity = 256;

    /// Owner only.
    bool try_push(TaskHeader* t) noexcept {
        const std::uint32_t tail = tail_.load(std::memory_order_relaxed);
        // acquire: pairs with the CAS in pop(), so the slot we overwrite was consumed.
        const std::uint32_t head = head_.load(std::memory_order_acquire);
        if (tail - head >= kCapacity) {
            return false;
        }
        slots_[tail & kMask].store(t, std::memory_order_relaxed);
        // release: publishes the slot to the acquire load of tail_ in pop().
        tail_.store(tail + 1, std::memory_order_release);
        return true;
    }

    /// Owner or any stealer. nullptr when empty.
    TaskHeader* pop() noexcept {
        std::uint32_t head = head_.load(std::memory_order_acquire);
        for (;;) {
            // acquire: pairs with the release store in try_push(); the slot is visible.
            const std::uint32_t tail = tail_.load(std::memory_order_acquire);
            if (head == tail) {
                return nullptr;
            }
            TaskHeader* t = slots_[head & kMask].load(std::memory_order_relaxed);
            // Race: owner and stealers compete for `head`; the CAS winner owns slot `head`.
            // A loser may have read a slot the owner has since overwritten, but its CAS fails.
            if (head_.compare_exchange_weak(
                        head, head + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
                return t;
            }
        }
    }

    /// Approximate length. Any thread.
    std::uint32_t size() const noexcept {
        return tail_.load(std::memory_order_relaxed) - head_.load(std::memory_order_relaxed);
    }

private:
    static constexpr std::uint32_t kMask = kCapacity - 1;
    // Any thread (atomics). head_ and tail_ on separate lines: stealers hammer head_.
    alignas(64) std::atomic<std::uint32_t> head_{0};
    alignas(64) std::atomic<std::uint32_t> tail_{0};
    std::array<std::atomic<TaskHeader*>, kCapacity> slots_{};
};

/// Multi-producer, single-consumer. Producers push one task; the owner takes them all.
class InjectionQueue {
public:
    /// Any thread.
    void push(TaskHeader* t) noexcept {
        TaskHeader* head = head_.load(std::memory_order_relaxed);
        do {
            t->next_in_queue = head;
            // seq_cst: publishes next_in_queue to the exchange in take_all(), and is one half
            // of the sleep/rouse handshake (Worker::sleeping_): the sleeper's seq_cst empty()
            // check and this push cannot both miss each other.
        } while (!head_.compare_exchange_weak(
                head, t, std::memory_order_seq_cst, std::memory_order_relaxed));
    }

    /// Owner only. The pushed tasks, oldest first (nullptr-terminated via next_in_queue).
    TaskHeader* take_all() noexcept {
        if (head_.load(std::memory_order_relaxed) == nullptr) {
            return nullptr;
        }
        // acquire: pairs with the release CAS in push().
        TaskHeader* lifo = head_.exchange(nullptr, std::memory_order_acquire);
        TaskHeader* fifo = nullptr;
        while (lifo != nullptr) {
            TaskHeader* next = lifo->next_in_queue;
            lifo->next_in_queue = fifo;
            fifo = lifo;
            lifo = next;
        }
        return fifo;
    }

    /// seq_cst: one half of the sleep/rouse handshake with Worker::sleeping_.
    bool empty() const noexcept { return head_.load(std::memory_order_seq_cst) == nullptr; }

private:
    // Any thread (atomics).
    std::atomic<TaskHeader*> head_{nullptr};
};

}  // namespace ringlb::core
