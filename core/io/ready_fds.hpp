// SPDX-License-Identifier: MIT
// ReadyFds: the queue between a multishot accept's completion handler (producer, on the ring's
// thread) and the task consuming the stream (consumer, on whichever worker runs it).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace ringlb::core::detail {

/// Accepted descriptors waiting for the consumer: an unbounded single-producer
/// single-consumer queue of 256-entry chunks. A burst of accepts (one io_uring_enter can
/// post thousands) is never shed; steady state allocates nothing, because the consumer hands
/// its exhausted chunk back as the producer's spare.
class ReadyFds {
public:
    ReadyFds() : head_(new Chunk()), tail_(head_) {}
    ReadyFds(const ReadyFds&) = delete;
    ReadyFds& operator=(const ReadyFds&) = delete;
    /// Frees the chunks; entries still queued are dropped (the owner drains them first).
    ~ReadyFds() {
        while (head_ != nullptr) {
            Chunk* next = head_->next.load(std::memory_order_acquire);
            delete head_;
            head_ = next;
        }
        delete spare_.load(std::memory_order_acquire);
    }

    /// Producer (the completion handler on the ring thread).
    void push(std::int32_t res) {
        std::uint32_t n = tail_->count.load(std::memory_order_relaxed);
        if (n == Chunk::kSize) {
            Chunk* c = spare_.exchange(nullptr, std::memory_order_acquire);
            if (c == nullptr) {
                c = new Chunk();  // a burst beyond what the consumer drained: grow
            }
            // release: the consumer sees the new chunk's initial state once it sees `next`.
            tail_->next.store(c, std::memory_order_release);
            tail_ = c;
            n = 0;
        }
        tail_->res[n] = res;
        // release: publishes res[n] to the acquire load of count in pop().
        tail_->count.store(n + 1, std::memory_order_release);
    }

    /// Consumer: true when pop() will return something.
    bool has_items() const noexcept {
        if (read_ < head_->count.load(std::memory_order_acquire)) {
            return true;
        }
        if (read_ != Chunk::kSize) {
            return false;
        }
        // Race: the producer links a new chunk before it writes the chunk's first entry; the
        // entry is ours only once that chunk's count says so.
        const Chunk* next = head_->next.load(std::memory_order_acquire);
        return next != nullptr && next->count.load(std::memory_order_acquire) > 0;
    }

    /// Consumer. \pre has_items().
    std::int32_t pop() noexcept {
        if (read_ == Chunk::kSize) {
            Chunk* next = head_->next.load(std::memory_order_acquire);
            Chunk* done = head_;
            head_ = next;
            read_ = 0;
            // The producer moved on from `done` before publishing `next`: recycle it.
            done->count.store(0, std::memory_order_relaxed);
            done->next.store(nullptr, std::memory_order_relaxed);
            // release: pairs with the acquire exchange in push().
            delete spare_.exchange(done, std::memory_order_release);
        }
        return head_->res[read_++];
    }

private:
    struct Chunk {
        static constexpr std::uint32_t kSize = 256;
        std::array<std::int32_t, kSize> res{};
        std::atomic<std::uint32_t> count{0};
        std::atomic<Chunk*> next{nullptr};
    };
    // Consumer only.
    Chunk* head_;
    std::uint32_t read_ = 0;
    // Producer only.
    Chunk* tail_;
    // Both (atomic): the consumer's exhausted chunk, for the producer to reuse.
    std::atomic<Chunk*> spare_{nullptr};
};

}  // namespace ringlb::core::detail
