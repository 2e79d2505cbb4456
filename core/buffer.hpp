// SPDX-License-Identifier: MIT
// Buffer: an owned, fixed-size byte buffer that is lent to the kernel by recv/send and comes
// back with the result, so an aborted task never leaves the kernel writing into freed memory.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <utility>

namespace ringlb::core {

class Buffer {
public:
    Buffer() noexcept = default;
    /// A buffer of `size` bytes (zero-initialised).
    static Buffer allocate(std::size_t size) {
        return Buffer(std::make_unique<std::byte[]>(size), size);
    }

    std::byte* data() noexcept { return bytes_.get(); }
    const std::byte* data() const noexcept { return bytes_.get(); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::span<std::byte> span() noexcept { return {bytes_.get(), size_}; }
    std::span<const std::byte> span() const noexcept { return {bytes_.get(), size_}; }

private:
    Buffer(std::unique_ptr<std::byte[]> bytes, std::size_t size) noexcept
            : bytes_(std::move(bytes)), size_(size) {}

    std::unique_ptr<std::byte[]> bytes_;
    std::size_t size_ = 0;
};

}  // namespace ringlb::core
