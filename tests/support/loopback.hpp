// SPDX-License-Identifier: MIT
// Shared test helpers: bounded waits, a runtime-or-skip factory, live-object counting, and
// blocking loopback sockets for the side of a test that is not under test.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/runtime.hpp"
#include "core/unique_fd.hpp"

namespace ringlb::test {

/// Polls `pred` until it holds or `timeout` passes (Envoy's waitForCondition). No bare sleeps.
bool run_until(
        const std::function<bool()>& pred,
        std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// A runtime, or nullptr when this kernel/sandbox refuses io_uring (the test then skips).
std::unique_ptr<core::Runtime> make_runtime(
        unsigned workers,
        bool allow_defer_taskrun = true,
        unsigned cq_entries = 16384,
        unsigned sq_entries = 256);

#define RINGLB_RUNTIME_OR_SKIP(var, ...)                                                           \
    auto var = ::ringlb::test::make_runtime(__VA_ARGS__);                                          \
    if (!var) {                                                                                    \
        GTEST_SKIP() << "io_uring is not available here";                                          \
    }

/// Counts live instances (cppcoro's counted.hpp): every test asserts zero at the end.
struct LifetimeCounter {
    static std::atomic<int> live;
    static std::atomic<int> destroyed;
    LifetimeCounter() noexcept { live.fetch_add(1); }
    LifetimeCounter(const LifetimeCounter&) noexcept { live.fetch_add(1); }
    LifetimeCounter(LifetimeCounter&&) noexcept { live.fetch_add(1); }
    LifetimeCounter& operator=(const LifetimeCounter&) = default;
    ~LifetimeCounter() {
        live.fetch_sub(1);
        destroyed.fetch_add(1);
    }
    static void reset() noexcept {
        live = 0;
        destroyed = 0;
    }
};

/// A listening socket on 127.0.0.1 with a kernel-chosen port.
core::UniqueFd listen_loopback(int backlog, std::uint16_t* port);
/// A connected blocking client socket to 127.0.0.1:`port` with 10 s send/recv timeouts.
core::UniqueFd connect_loopback(std::uint16_t port);
/// A port on 127.0.0.1 where nothing listens (bound once, then closed).
std::uint16_t closed_port();
/// A connected AF_UNIX stream pair: `nonblocking` for the side under test (every socket
/// ringlbd receives on is non-blocking), `blocking` for the test's side.
void unix_stream_pair(core::UniqueFd& nonblocking, core::UniqueFd& blocking);
/// Deterministic pseudo-random bytes for payload checks.
std::string random_bytes(std::size_t n, std::uint64_t seed);
/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
std::uint64_t raise_fd_limit();

}  // namespace ringlb::test
