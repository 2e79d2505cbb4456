// SPDX-License-Identifier: MIT
// close(): close a descriptor on the current worker's ring (the awaiter takes ownership).
#pragma once

#include <coroutine>

#include "core/io/one_shot.hpp"
#include "core/unique_fd.hpp"

namespace ringlb::core {

/// co_await close(std::move(fd)) -> IoResult. The descriptor passes to the kernel only when
/// the SQE is submitted; on a full ring it is closed synchronously, and an op that is never
/// awaited closes it on destruction.
class [[nodiscard]] CloseOp : public detail::OneShotAwaiter {
public:
    explicit CloseOp(UniqueFd fd) noexcept : fd_(std::move(fd)) {}
    bool await_suspend(std::coroutine_handle<> h) noexcept {
        const bool suspended = submit(h, &prep, this);
        if (submitted()) {
            (void)fd_.release();  // the kernel closes it now
        }
        return suspended;
    }
    IoResult await_resume() noexcept;

private:
    static void prep(io_uring_sqe* sqe, OpState* op, const void* self) noexcept;
    UniqueFd fd_;
};

inline CloseOp close(UniqueFd fd) noexcept {
    return CloseOp(std::move(fd));
}

}  // namespace ringlb::core
