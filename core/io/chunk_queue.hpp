// SPDX-License-Identifier: MIT
// ChunkQueue: the queue between a multishot recv's completion handler (producer, on the ring's
// thread) and the task consuming the stream (consumer, on whichever worker runs it).
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

#include "core/buffer.hpp"

namespace ringlb::core::detail {

/// Received chunks (a filled buffer, EOF or an error) waiting for the consumer: an unbounded
/// single-producer single-consumer linked queue with a stub node (Vyukov). Unbounded because a
/// handler cannot refuse a CQE; the stream bounds it by pausing its recv (RecvStream). Nodes
/// come from a per-thread cache, so the steady state allocates nothing, and an empty queue is
/// one node: an idle connection holds no buffer and almost no memory.
class ChunkQueue {
public:
    struct Chunk {
        std::int32_t res = 0;  // > 0: bytes in buf; 0: EOF; < 0: -errno
        Buffer buf;
    };

    ChunkQueue() : head_(take_node()), tail_(head_) {}
    ChunkQueue(const ChunkQueue&) = delete;
    ChunkQueue& operator=(const ChunkQueue&) = delete;
    /// Drops what is queued (buffers go back to their ring). No producer may run any more.
    ~ChunkQueue() {
        while (head_ != nullptr) {
            Node* next = head_->next.load(std::memory_order_acquire);
            give_node(head_);
            head_ = next;
        }
    }

    /// Producer.
    void push(std::int32_t res, Buffer buf) {
        Node* n = take_node();
        n->chunk.res = res;
        n->chunk.buf = std::move(buf);
        // release: publishes the node's chunk to the acquire load of `next` in the consumer.
        tail_->next.store(n, std::memory_order_release);
        tail_ = n;
    }

    /// Consumer: true when pop() will return something.
    bool has_items() const noexcept {
        // acquire: pairs with the release store in push().
        return head_->next.load(std::memory_order_acquire) != nullptr;
    }

    /// Consumer. \pre has_items().
    Chunk pop() noexcept {
        Node* next = head_->next.load(std::memory_order_acquire);
        Chunk c{next->chunk.res, std::move(next->chunk.buf)};
        // The old stub goes; `next` becomes the stub. The producer is done with the old stub:
        // it linked `next` after it and only ever touches its tail (`next` or later).
        give_node(head_);
        head_ = next;
        return c;
    }

private:
    struct Node {
        std::atomic<Node*> next{nullptr};
        Chunk chunk;
    };
    static Node* take_node();
    static void give_node(Node* n) noexcept;

    Node* head_;  // Consumer only: the stub; the next chunk is head_->next.
    Node* tail_;  // Producer only.
};

}  // namespace ringlb::core::detail
