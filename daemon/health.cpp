// SPDX-License-Identifier: MIT
// health_check_loop(): one probe per interval and the rise/fall state machine.
#include "daemon/health.hpp"

#include <chrono>
#include <cstring>
#include <random>

#include "core/back_off.hpp"
#include "core/buffer.hpp"
#include "core/io/close.hpp"
#include "core/io/connect.hpp"
#include "core/io/recv.hpp"
#include "core/io/send.hpp"
#include "core/timer.hpp"
#include "daemon/log.hpp"

namespace ringlb::daemon {

using namespace ringlb::core;

namespace {

using std::chrono::milliseconds;

// One probe. The error text says why it failed; empty means healthy.
Task<std::string> probe(const SocketAddress& address, const config::HealthCheck& check) {
    const auto timeout = milliseconds(check.timeout_ms);
    const auto start = std::chrono::steady_clock::now();
    auto left = [&] {
        const auto spent =
                std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
        return std::max(milliseconds(1), timeout - spent);
    };
    auto sock = make_tcp_socket(address.family());
    if (!sock) {
        co_return "socket: " + sock.error().message();
    }
    UniqueFd fd = std::move(*sock);
    std::string failure;
    IoResult r = co_await core::connect(fd.get(), address, Deadline::in(timeout));
    if (!r) {
        failure = "connect: " + r.error().message();
    }
    if (failure.empty() && !check.send.empty()) {
        Buffer out = Buffer::allocate(check.send.size());
        std::memcpy(out.data(), check.send.data(), check.send.size());
        Sent sent = co_await send_all(
                fd.get(), std::move(out), check.send.size(), Deadline::in(left()));
        if (!sent.n) {
            failure = "send: " + sent.n.error().message();
        }
    }
    if (failure.empty() && !check.expect.empty()) {
        std::string got;
        Buffer in = Buffer::allocate(std::max<std::size_t>(check.expect.size(), 512));
        while (got.size() < check.expect.size()) {
            Received rcv = co_await recv(fd.get(), std::move(in), Deadline::in(left()));
            in = std::move(rcv.buf);
            if (!rcv.n || rcv.n.value() == 0) {
                failure = !rcv.n ? "reply: " + rcv.n.error().message()
                                 : "reply: closed after " + std::to_string(got.size()) + " bytes";
                break;
            }
            got.append(reinterpret_cast<const char*>(in.data()), rcv.n.value());
        }
        if (failure.empty() && got.compare(0, check.expect.size(), check.expect) != 0) {
            failure = "reply does not start with the expected bytes";
        }
    }
    IoResult closed = co_await core::close(std::move(fd));
    (void)closed;
    co_return failure;
}

}  // namespace

Task<void> health_check_loop(
        std::shared_ptr<BackendState> state,
        SocketAddress address,
        std::string name,
        config::HealthCheck check) {
    std::mt19937_64 rng(
            std::hash<std::string>{}(name) ^ static_cast<std::uint64_t>(coarse_now_ns()));
    const auto interval = milliseconds(check.interval_ms);
    // Spread the first checks of many backends over one interval.
    IoResult first = co_await sleep(milliseconds(rng() % (check.interval_ms + 1)));
    (void)first;
    std::uint32_t successes = 0;
    std::uint32_t failures = 0;
    for (;;) {
        const std::string failure = co_await probe(address, check);
        const bool healthy = state->healthy.load(std::memory_order_relaxed);
        if (failure.empty()) {
            failures = 0;
            ++successes;
            if (!healthy && successes >= check.rise) {
                state->up_since_ns.store(coarse_now_ns(), std::memory_order_relaxed);  // slow start
                state->healthy.store(true, std::memory_order_relaxed);
                LOG_INFO("backend %s is up: %u checks in a row passed", name.c_str(), successes);
            }
        } else {
            successes = 0;
            ++failures;
            if (healthy && failures >= check.fall) {
                state->healthy.store(false, std::memory_order_relaxed);
                LOG_WARN(
                        "backend %s is down: %u checks in a row failed, the last with %s",
                        name.c_str(),
                        failures,
                        failure.c_str());
            }
        }
        // ±10% jitter keeps backends that went down together from being probed in lockstep.
        const auto jitter = static_cast<std::int64_t>(rng() % (check.interval_ms / 5 + 1))
                - check.interval_ms / 10;
        IoResult slept = co_await sleep(interval + milliseconds(jitter));
        if (slept.is(std::errc::device_or_resource_busy)) {
            co_await back_off(milliseconds(100));
        }
    }
}

}  // namespace ringlb::daemon
