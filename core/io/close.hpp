// SPDX-License-Identifier: MIT
// close(): close a descriptor on the current worker's ring (the awaiter takes ownership).
#pragma once

#include <coroutine>

#include "core/io/one_shot.hpp"
#include "core/unique_fd.hpp"

namespace ringlb::core {

/// co_await close(std::move(fd)) -> IoResult.
class [[nodiscard]] CloseOp : public detail::OneShotAwaiter {
public:
    explicit CloseOp(UniqueFd fd) noexcept : fd_(fd.release()) {}
    bool await_suspend(std::coroutine_handle<> h) noexcept { return submit(h, &prep, this); }
    IoResult await_resume() noexcept { return result(); }

private:
    static void prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept;
    int fd_;
};

inline CloseOp close(UniqueFd fd) noexcept {
    return CloseOp(std::move(fd));
}

}  // namespace ringlb::core
