// SPDX-License-Identifier: MIT
// IoResult: an io_uring CQE's `res` kept as it is (>= 0 a value, < 0 a negated errno), in
// four bytes. The only place that compares a raw `res` with an errno constant.
#pragma once

#include <cstdint>
#include <system_error>

#include "core/assert.hpp"

namespace ringlb::core {

class [[nodiscard]] IoResult {
public:
    constexpr IoResult() noexcept = default;
    /// `res` as the kernel reported it in a CQE or a syscall wrapper returning -errno.
    static constexpr IoResult from_res(std::int32_t res) noexcept { return IoResult(res); }
    /// An error result from a positive errno value.
    static constexpr IoResult from_errno(int err) noexcept { return IoResult(-err); }

    constexpr bool has_value() const noexcept { return res_ >= 0; }
    constexpr explicit operator bool() const noexcept { return has_value(); }
    /// The non-negative value (bytes, fd, count). \pre has_value().
    std::uint32_t value() const {
        RINGLB_CHECK(has_value(), "IoResult::value() on an error");
        return static_cast<std::uint32_t>(res_);
    }
    /// The error as a std::error_code. \pre !has_value().
    std::error_code error() const {
        RINGLB_CHECK(!has_value(), "IoResult::error() on a value");
        return {-res_, std::system_category()};
    }
    /// True when this is the error `e`.
    constexpr bool is(std::errc e) const noexcept { return res_ == -static_cast<int>(e); }
    /// The raw `res` (for logging and for encoding into other results).
    constexpr std::int32_t raw() const noexcept { return res_; }

private:
    constexpr explicit IoResult(std::int32_t res) noexcept : res_(res) {}
    std::int32_t res_ = 0;
};

}  // namespace ringlb::core
