// SPDX-License-Identifier: MIT
// Config: the validated, typed, immutable configuration of ringlbd. Plain data, no JSON types;
// produced by config::parse() / config::load_file() (config/load.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/cidr.hpp"
#include "core/net/address.hpp"

namespace ringlb::config {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class Balance { kRoundRobin, kLeastConn, kP2c, kMaglev };
enum class Service { kEcho };

struct Backend {
    std::string address;  // as written in the config (the admin API names backends by it)
    core::SocketAddress resolved;
    std::uint32_t weight = 1;
    std::uint32_t max_connections = 0;  // 0: no limit; at the limit it takes no new ones
};

/// Active health checks: a TCP connect, optionally sending `send` and expecting the reply to
/// start with `expect`. A backend goes down after `fall` failures in a row, up after `rise`
/// successes in a row.
struct HealthCheck {
    std::uint32_t interval_ms = 2000;
    std::uint32_t timeout_ms = 1000;
    std::uint32_t rise = 2;
    std::uint32_t fall = 3;
    std::string send;
    std::string expect;
};

/// Passive ejection: after `consecutive_failures` connect failures in a row a backend is
/// ejected for base_ejection_ms × 2^(times ejected before, up to 2^5), never more than
/// `max_ejection_percent` of the pool at once.
struct Outlier {
    std::uint32_t consecutive_failures = 5;
    std::uint32_t base_ejection_ms = 30000;
    std::uint32_t max_ejection_percent = 50;
};

struct Pool {
    std::string name;
    Balance balance = Balance::kRoundRobin;
    std::vector<Backend> backends;
    std::optional<HealthCheck> health_check;
    std::optional<Outlier> outlier;
    std::uint32_t slow_start_ms = 0;  // 0: a recovered backend gets its full weight at once
    /// When every usable backend is at its max_connections: up to queue_size clients wait
    /// up to queue_timeout_ms for a free slot; more are closed at once.
    std::uint32_t queue_size = 0;
    std::uint32_t queue_timeout_ms = 5000;
};

enum class ProxySend { kOff, kV1, kV2 };

/// `listeners[].splice`: false, true, or "auto" (buffers until a direction carries bulk).
enum class Splice { kOff, kOn, kAuto };

struct ProxyProtocol {
    ProxySend send = ProxySend::kOff;  // header written to the backend before any payload
    bool accept = false;               // a header is required from the client
    std::vector<Cidr> trusted;         // peers allowed to send one
};

struct Timeouts {
    std::uint32_t connect_ms = 3000;
    std::uint32_t idle_ms = 300000;  // 0: no idle timeout
};

struct Listener {
    std::string name;
    std::string listen;  // as written
    core::SocketAddress address;
    std::optional<std::string> pool;  // exactly one of pool and service is set
    std::optional<Service> service;
    std::uint32_t max_connections = 100000;
    std::uint32_t retries = 2;
    /// Bytes buffered per direction of a connection: ringlbd holds at most 2 x this much of a
    /// connection's data (it reads again only once the last read has been sent on).
    std::uint32_t buffer_bytes = 16384;
    /// Relay with splice (socket -> pipe -> socket in the kernel) instead of receiving into
    /// buffers, a pipe per direction while data flows: always, or (auto) once a direction
    /// fills two buffers in a row.
    Splice splice = Splice::kAuto;
    /// Capacity of a splicing direction's pipe (F_SETPIPE_SZ; the kernel rounds it up to a
    /// power-of-two number of pages). Larger pipes move bulk in fewer, larger splices.
    std::uint32_t pipe_bytes = 256 * 1024;
    /// When the client's first bytes are already here at the backend connect, the handshake's
    /// last ACK leaves with them (TCP_QUICKACK off): a packet fewer per connection, but the
    /// backend accepts only once those bytes are sent, not in parallel with our set-up.
    bool smart_connect = true;
    Timeouts timeouts;
    ProxyProtocol proxy_protocol;
};

/// How workers receive (runtime.io): read once at start-up.
struct IoOptions {
    /// A provided-buffer ring per worker with multishot recv: idle connections hold no
    /// buffer. False: one buffer per connection and direction (listeners[].buffer_bytes).
    bool buffer_ring = true;
    bool bundles = true;                // recv bundles where the kernel has them (6.10+)
    bool incremental = true;            // incremental buffer consumption where it has it (6.12+)
    std::uint32_t ring_buffers = 1024;  // per worker; a power of two
    std::uint32_t ring_buffer_bytes = 16384;
};

struct Config {
    std::uint32_t workers = 0;  // 0: one per CPU
    IoOptions io;
    /// After SIGTERM/SIGINT: how long open connections may finish before ringlbd exits.
    std::uint32_t drain_timeout_ms = 30000;
    std::string metrics_listen = "127.0.0.1:9810";
    core::SocketAddress metrics_address;
    std::string admin_socket;  // empty: the default under $XDG_RUNTIME_DIR or /run/ringlb
    LogLevel log_level = LogLevel::kInfo;
    std::vector<Listener> listeners;
    std::vector<Pool> pools;

    /// The pool named `name`, or nullptr.
    const Pool* find_pool(const std::string& name) const noexcept;
};

/// The admin socket path when the config names none: $XDG_RUNTIME_DIR/ringlb/admin.sock when
/// that variable is set, otherwise /run/ringlb/admin.sock. ringlbd and ringlbctl agree on it.
std::string default_admin_socket();

const char* to_string(LogLevel l) noexcept;
const char* to_string(Balance b) noexcept;

}  // namespace ringlb::config
