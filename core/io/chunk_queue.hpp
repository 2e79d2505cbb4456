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
/// handler cannot refuse a CQE; the stream bounds it by pausing its recv (RecvStream). An
/// empty queue is one node, and a queue that never received holds only its member node: an
/// idle connection holds no buffer, and allocates nothing for its queues until data flows
/// (after which each keeps one node of the heap: the member went to the spare stack).
///
/// Nodes stay with their queue: the consumer hands each used node back through `spare_`, a
/// stack the producer empties in one exchange when it runs out. So the steady state allocates
/// nothing, whichever threads the two sides run on (a per-thread cache would drain on the
/// ring's thread and overflow on the consumer's once a consumer is stolen). Queue nodes are
/// completion memory owned by the runtime: one of the few places with raw new/delete.
class ChunkQueue {
public:
    struct Chunk {
        std::int32_t res = 0;  // > 0: bytes in buf; 0: EOF; < 0: -errno
        Buffer buf;
    };

    ChunkQueue() noexcept : head_(&first_stub_), tail_(&first_stub_) {}
    ChunkQueue(const ChunkQueue&) = delete;
    ChunkQueue& operator=(const ChunkQueue&) = delete;
    /// Drops what is queued (buffers go back to their ring). No producer may run any more.
    ~ChunkQueue() {
        free_list(head_);
        free_list(free_);
        free_list(spare_.exchange(nullptr, std::memory_order_acquire));
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

    /// Consumer: true when the chunk pop() will return next is EOF (res 0), already queued.
    bool eof_is_next() const noexcept {
        // acquire: pairs with the release store in push(), as in has_items().
        const Node* next = head_->next.load(std::memory_order_acquire);
        return next != nullptr && next->chunk.res == 0;
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
        std::atomic<Node*> next{nullptr};  // the queue's link, then the spare stack's
        Chunk chunk;
    };

    // Producer.
    Node* take_node() {
        if (free_ == nullptr) {
            // acquire: pairs with the release CAS in give_node().
            free_ = spare_.exchange(nullptr, std::memory_order_acquire);
        }
        if (free_ == nullptr) {
            return new Node();  // a burst beyond what the consumer gave back: grow
        }
        Node* n = free_;
        free_ = n->next.load(std::memory_order_relaxed);
        n->next.store(nullptr, std::memory_order_relaxed);
        return n;
    }

    // Consumer.
    void give_node(Node* n) noexcept {
        n->chunk.buf.reset();  // a buffer still held goes back to its ring
        Node* top = spare_.load(std::memory_order_relaxed);
        do {
            n->next.store(top, std::memory_order_relaxed);
            // release: publishes the node's link to the producer's acquire exchange.
        } while (!spare_.compare_exchange_weak(
                top, n, std::memory_order_release, std::memory_order_relaxed));
    }

    void free_list(Node* n) noexcept {
        while (n != nullptr) {
            Node* next = n->next.load(std::memory_order_relaxed);
            if (n == &first_stub_) {
                n->chunk.buf.reset();  // a member: not ours to delete
            } else {
                delete n;
            }
            n = next;
        }
    }

    // The queue's first stub is a member, so an idle stream allocates no node. It is a node
    // like the others from then on (popped, given back, reused), only never deleted.
    Node first_stub_;
    Node* head_;                         // Consumer only: the stub; the next chunk is head_->next.
    Node* tail_;                         // Producer only.
    Node* free_ = nullptr;               // Producer only: spare nodes taken from spare_.
    std::atomic<Node*> spare_{nullptr};  // Any thread: nodes the consumer gave back.
};

}  // namespace ringlb::core::detail
