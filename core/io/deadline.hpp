// SPDX-License-Identifier: MIT
// Deadline: an optional relative timeout for one I/O operation, implemented by the ring as an
// IOSQE_IO_LINK + IORING_OP_LINK_TIMEOUT pair. An operation that times out returns -ETIMEDOUT.
#pragma once

#include <chrono>

namespace ringlb::core {

struct Deadline {
    std::chrono::nanoseconds after{0};  // zero: no deadline

    static Deadline none() noexcept { return {}; }
    template <class Rep, class Period>
    static Deadline in(std::chrono::duration<Rep, Period> d) noexcept {
        return {std::chrono::duration_cast<std::chrono::nanoseconds>(d)};
    }
    bool is_set() const noexcept { return after.count() > 0; }
};

}  // namespace ringlb::core
