// SPDX-License-Identifier: MIT
// The echo service: a multishot accept loop and one recv/send_all loop per connection.
#include "daemon/echo_service.hpp"

#include <sys/socket.h>

#include <chrono>
#include <cstdio>

#include "core/back_off.hpp"
#include "core/buffer.hpp"
#include "core/io/accept.hpp"
#include "core/io/recv.hpp"
#include "core/io/send.hpp"
#include "core/join_handle.hpp"
#include "core/timer.hpp"

namespace ringlb::daemon {

using namespace ringlb::core;

namespace {
constexpr std::size_t kEchoBufferSize = 16 * 1024;
}  // namespace

Task<void> echo_connection(UniqueFd fd, EchoStats* stats) {
    Buffer buf = Buffer::allocate(kEchoBufferSize);
    for (;;) {
        Received in = co_await recv(fd.get(), std::move(buf));
        buf = std::move(in.buf);
        if (in.n.is(std::errc::device_or_resource_busy)) {
            co_await back_off(std::chrono::milliseconds(1));  // the ring is full: not the peer
            continue;
        }
        if (!in.n || in.n.value() == 0) {
            break;  // error or EOF: we are done echoing
        }
        const std::size_t n = in.n.value();
        Sent out = co_await send_all(fd.get(), std::move(buf), n);
        buf = std::move(out.buf);
        if (!out.n) {
            break;
        }
        if (stats != nullptr) {
            stats->bytes.fetch_add(n, std::memory_order_relaxed);
        }
    }
    // A plain system call: IORING_OP_SHUTDOWN always runs on an io-wq thread, and a TCP
    // shutdown never blocks. The peer may be gone already; closing follows either way.
    (void)::shutdown(fd.get(), SHUT_WR);
}

Task<void> serve_echo(int listen_fd, EchoStats* stats) {
    AcceptStream accepts(listen_fd);
    for (;;) {
        IoResult fd = co_await accepts.next();
        if (fd) {
            if (stats != nullptr) {
                stats->connections.fetch_add(1, std::memory_order_relaxed);
            }
            JoinHandle<void> conn =
                    spawn(echo_connection(UniqueFd(static_cast<int>(fd.value())), stats));
            (void)conn;  // detached: it ends with its connection
            continue;
        }
        if (fd.is(std::errc::operation_canceled)) {
            co_return;
        }
        if (fd.is(std::errc::too_many_files_open) || fd.is(std::errc::too_many_files_open_in_system)
            || fd.is(std::errc::device_or_resource_busy)) {
            // Out of descriptors or ring space: back off instead of spinning.
            co_await back_off(std::chrono::milliseconds(100));
        }
    }
}

}  // namespace ringlb::daemon
