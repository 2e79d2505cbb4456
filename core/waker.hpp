// SPDX-License-Identifier: MIT
// Waker: a copyable, type-erased "make this party check again" handle (after Rust's
// RawWaker). Tasks provide one; tests and block_on() provide their own.
#pragma once

#include <utility>

namespace ringlb::core {

/// The operations a Waker forwards to. All are noexcept and callable from any thread.
struct WakerVTable {
    void (*wake)(void* data) noexcept;   // ask the owner to check again; keeps the reference
    void (*clone)(void* data) noexcept;  // take one more reference
    void (*drop)(void* data) noexcept;   // let one reference go
};

/// A reference to something that can be woken. An empty Waker's wake() is a no-op.
class Waker {
public:
    Waker() noexcept = default;
    /// Adopts one reference to `data` (the caller already took it).
    Waker(const WakerVTable* vtable, void* data) noexcept : vtable_(vtable), data_(data) {}
    Waker(const Waker& other) noexcept : vtable_(other.vtable_), data_(other.data_) {
        if (vtable_ != nullptr) {
            vtable_->clone(data_);
        }
    }
    Waker(Waker&& other) noexcept
            : vtable_(std::exchange(other.vtable_, nullptr))
            , data_(std::exchange(other.data_, nullptr)) {}
    Waker& operator=(Waker other) noexcept {
        std::swap(vtable_, other.vtable_);
        std::swap(data_, other.data_);
        return *this;
    }
    ~Waker() {
        if (vtable_ != nullptr) {
            vtable_->drop(data_);
        }
    }

    /// Any thread.
    void wake() const noexcept {
        if (vtable_ != nullptr) {
            vtable_->wake(data_);
        }
    }
    bool empty() const noexcept { return vtable_ == nullptr; }
    /// True when both refer to the same party.
    bool same_as(const Waker& other) const noexcept {
        return vtable_ == other.vtable_ && data_ == other.data_;
    }

private:
    const WakerVTable* vtable_ = nullptr;
    void* data_ = nullptr;
};

}  // namespace ringlb::core
