// SPDX-License-Identifier: MIT
// SendOp's SQE and the send_all() loop.
#include "core/io/send.hpp"

#include <liburing.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>

#include "core/assert.hpp"
#include "core/back_off.hpp"
#include "core/uring/op_state.hpp"
#include "core/uring/ring.hpp"

namespace ringlb::core {

namespace detail {

void prep_send(io_uring_sqe* sqe, OpState* op, const void* spec) noexcept {
    const auto* s = static_cast<const SendSpec*>(spec);
    RINGLB_ASSERT(s->offset + s->len <= op->buf.size());
    io_uring_prep_send(sqe, s->fd, op->buf.data() + s->offset, s->len, MSG_NOSIGNAL | s->flags);
}

}  // namespace detail

SendInFlight::~SendInFlight() {
    if (op_ != nullptr) {
        detail::abandon_one_shot(op_);
    }
}

bool SendInFlight::start(
        int fd, Buffer& buf, std::size_t offset, std::size_t len, bool more) noexcept {
    RINGLB_ASSERT(op_ == nullptr);
    Ring* ring = Ring::current();
    RINGLB_CHECK(ring != nullptr, "send started outside a runtime task");
    const detail::SendSpec spec{fd, more ? MSG_MORE : 0, offset, len};
    op_ = detail::start_one_shot(*ring, &detail::prep_send, &spec, buf, Deadline{});
    return op_ != nullptr;
}

bool SendInFlight::ready_or_register(TaskHeader& task) noexcept {
    return detail::poll_one_shot(op_, task);
}

bool SendInFlight::done() const noexcept {
    // acquire: pairs with the release in the completion handler (res and buf are complete).
    return op_->done.load(std::memory_order_acquire);
}

Sent SendInFlight::take() noexcept {
    RINGLB_ASSERT(done());
    Sent out{IoResult::from_res(op_->res), std::move(op_->buf)};
    release(op_);
    op_ = nullptr;
    return out;
}

Task<Sent> send_all(int fd, Buffer buf, std::size_t len, Deadline deadline) {
    std::size_t done = 0;
    while (done < len) {
        Sent out = co_await send(fd, std::move(buf), done, len - done, deadline);
        buf = std::move(out.buf);
        if (out.n.is(std::errc::device_or_resource_busy)) {
            // The ring is full and nothing was sent: retried here, since the caller could not
            // tell how much of `len` went before.
            co_await back_off(std::chrono::milliseconds(1));
            continue;
        }
        if (!out.n) {
            co_return Sent{out.n, std::move(buf)};
        }
        if (out.n.value() == 0) {
            co_return Sent{IoResult::from_errno(EPIPE), std::move(buf)};  // no progress
        }
        done += out.n.value();
    }
    co_return Sent{IoResult::from_res(static_cast<std::int32_t>(len)), std::move(buf)};
}

}  // namespace ringlb::core
