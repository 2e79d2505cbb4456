// SPDX-License-Identifier: MIT
// Buffer: an owned, fixed-size byte buffer that is lent to the kernel by recv/send and comes
// back with the result, so an aborted task never leaves the kernel writing into freed memory.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <span>
#include <utility>

namespace ringlb::core {

class Buffer {
    struct Free {
        void operator()(std::byte* p) const noexcept { std::free(p); }
    };
    using Bytes = std::unique_ptr<std::byte[], Free>;

public:
    Buffer() noexcept = default;
    /// A buffer of `size` bytes, uninitialised and page-aligned: the allocator's bookkeeping
    /// then sits outside the buffer's pages, and pages the kernel never writes into stay
    /// unbacked, so an idle connection's receive buffers cost address space, not memory.
    static Buffer allocate(std::size_t size) {
        constexpr std::size_t kPage = 4096;
        const std::size_t rounded = (size + kPage - 1) / kPage * kPage;
        auto* p =
                static_cast<std::byte*>(std::aligned_alloc(kPage, rounded == 0 ? kPage : rounded));
        if (p == nullptr) {
            throw std::bad_alloc();
        }
        return Buffer(Bytes(p), size);
    }

    std::byte* data() noexcept { return bytes_.get(); }
    const std::byte* data() const noexcept { return bytes_.get(); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::span<std::byte> span() noexcept { return {bytes_.get(), size_}; }
    std::span<const std::byte> span() const noexcept { return {bytes_.get(), size_}; }

private:
    Buffer(Bytes bytes, std::size_t size) noexcept : bytes_(std::move(bytes)), size_(size) {}

    Bytes bytes_;
    std::size_t size_ = 0;
};

}  // namespace ringlb::core
