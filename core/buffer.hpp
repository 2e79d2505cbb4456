// SPDX-License-Identifier: MIT
// Buffer: an owned byte buffer that is lent to the kernel by recv/send and comes back with the
// result, so an aborted task never leaves the kernel writing into freed memory.
//
// Two kinds share the type, so every send path takes either: an allocated buffer (freed on
// destruction), and a buffer of a worker's provided-buffer ring (a BufferRing) filled by a
// multishot recv, which goes back to its ring on destruction, from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <span>
#include <utility>

namespace ringlb::core {

class BufferRing;

namespace detail {
/// Returns buffer `bid` to `ring` (defined in buffer_ring.cpp). Any thread.
void give_back(BufferRing* ring, std::uint16_t bid) noexcept;
/// True when `end` is where one of `ring`'s buffers ends (defined in buffer_ring.cpp).
bool ends_a_buffer(const BufferRing* ring, const std::byte* end) noexcept;
}  // namespace detail

class Buffer {
public:
    Buffer() noexcept = default;
    Buffer(Buffer&& other) noexcept
            : data_(std::exchange(other.data_, nullptr))
            , ring_(std::exchange(other.ring_, nullptr))
            , size_(std::exchange(other.size_, 0))
            , bid_(other.bid_) {}
    Buffer& operator=(Buffer&& other) noexcept {
        if (this != &other) {
            reset();
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
            ring_ = std::exchange(other.ring_, nullptr);
            bid_ = other.bid_;
        }
        return *this;
    }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() { reset(); }

    /// A buffer of `size` bytes, uninitialised and page-aligned: the allocator's bookkeeping
    /// then sits outside the buffer's pages, and pages the kernel never writes into stay
    /// unbacked, so an idle connection's receive buffers cost address space, not memory.
    static Buffer allocate(std::size_t size) {
        constexpr std::size_t kPage = 4096;
        if (size > UINT32_MAX) {
            throw std::bad_alloc();  // a Buffer holds at most 4 GiB (see size_)
        }
        const std::size_t rounded = (size + kPage - 1) / kPage * kPage;
        auto* p =
                static_cast<std::byte*>(std::aligned_alloc(kPage, rounded == 0 ? kPage : rounded));
        if (p == nullptr) {
            throw std::bad_alloc();
        }
        return Buffer(p, static_cast<std::uint32_t>(size), nullptr, 0);
    }

    /// Buffer `bid` of `ring`, holding `size` received bytes at `data`. Only a BufferRing
    /// makes these (it counts the buffer as lent first).
    static Buffer
    provided(BufferRing* ring, std::uint16_t bid, std::byte* data, std::size_t size) noexcept {
        return Buffer(data, static_cast<std::uint32_t>(size), ring, bid);
    }

    /// Frees the buffer, or returns it to its ring.
    void reset() noexcept {
        if (ring_ != nullptr) {
            detail::give_back(ring_, bid_);
        } else {
            std::free(data_);
        }
        data_ = nullptr;
        size_ = 0;
        ring_ = nullptr;
    }

    std::byte* data() noexcept { return data_; }
    const std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    /// True for a buffer of a provided-buffer ring.
    bool is_provided() const noexcept { return ring_ != nullptr; }
    /// True for a chunk of a ring buffer that runs to that buffer's end: the socket had at
    /// least as much as the buffer could take (or, consumed incrementally, had left).
    bool reaches_ring_buffer_end() const noexcept {
        return ring_ != nullptr && size_ > 0 && detail::ends_a_buffer(ring_, data_ + size_);
    }
    std::span<std::byte> span() noexcept { return {data_, size_}; }
    std::span<const std::byte> span() const noexcept { return {data_, size_}; }

private:
    Buffer(std::byte* data, std::uint32_t size, BufferRing* ring, std::uint16_t bid) noexcept
            : data_(data), ring_(ring), size_(size), bid_(bid) {}

    std::byte* data_ = nullptr;
    BufferRing* ring_ = nullptr;  // null: data_ came from aligned_alloc
    // 32 bits: 24 bytes in all, and each connection holds four (a queue stub in each recv
    // stream, the chunk of each direction in forward()'s frame).
    std::uint32_t size_ = 0;
    std::uint16_t bid_ = 0;
};

}  // namespace ringlb::core
