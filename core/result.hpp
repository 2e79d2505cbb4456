// SPDX-License-Identifier: MIT
// Result<T, E> and Unexpected<E>: the subset of C++23's std::expected that ringlb uses, so the
// type becomes an alias of std::expected when the toolchain moves to C++23 (STYLE.md §5.4).
#pragma once

#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/assert.hpp"

namespace ringlb::core {

/// Wraps an error value so that constructing a Result from it selects the error state.
template <class E>
class Unexpected {
public:
    explicit Unexpected(E e) noexcept(std::is_nothrow_move_constructible_v<E>)
            : error_(std::move(e)) {}
    const E& error() const& noexcept { return error_; }
    E& error() & noexcept { return error_; }
    E&& error() && noexcept { return std::move(error_); }

private:
    E error_;
};

template <class E>
Unexpected(E) -> Unexpected<E>;

/// Either a value of type `T` or an error of type `E`. `value()` on an error is a fatal
/// RINGLB_CHECK failure, not an exception: callers test first.
template <class T, class E = std::error_code>
class [[nodiscard]] Result {
public:
    using value_type = T;
    using error_type = E;

    template <class U = T>
    requires std::is_constructible_v<T, U&&> Result(U&& v)
            : storage_(std::in_place_index<0>, std::forward<U>(v)) {}  // NOLINT: implicit
    template <class G>
    Result(Unexpected<G> u) : storage_(std::in_place_index<1>, std::move(u).error()) {}  // NOLINT

    bool has_value() const noexcept { return storage_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & {
        RINGLB_CHECK(has_value(), "Result::value() on an error");
        return std::get<0>(storage_);
    }
    const T& value() const& {
        RINGLB_CHECK(has_value(), "Result::value() on an error");
        return std::get<0>(storage_);
    }
    T&& value() && {
        RINGLB_CHECK(has_value(), "Result::value() on an error");
        return std::get<0>(std::move(storage_));
    }
    const E& error() const& {
        RINGLB_CHECK(!has_value(), "Result::error() on a value");
        return std::get<1>(storage_);
    }
    E&& error() && {
        RINGLB_CHECK(!has_value(), "Result::error() on a value");
        return std::get<1>(std::move(storage_));
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    template <class U>
    T value_or(U&& fallback) const& {
        return has_value() ? std::get<0>(storage_) : static_cast<T>(std::forward<U>(fallback));
    }

private:
    std::variant<T, E> storage_;
};

/// Result<void, E>: success carries nothing.
template <class E>
class [[nodiscard]] Result<void, E> {
public:
    using value_type = void;
    using error_type = E;

    Result() noexcept = default;
    template <class G>
    Result(Unexpected<G> u) : error_(std::move(u).error()), ok_(false) {}  // NOLINT: implicit

    bool has_value() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    void value() const { RINGLB_CHECK(ok_, "Result::value() on an error"); }
    const E& error() const& {
        RINGLB_CHECK(!ok_, "Result::error() on a value");
        return error_;
    }
    E&& error() && {
        RINGLB_CHECK(!ok_, "Result::error() on a value");
        return std::move(error_);
    }

private:
    E error_{};
    bool ok_ = true;
};

}  // namespace ringlb::core
