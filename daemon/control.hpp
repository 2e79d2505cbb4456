// SPDX-License-Identifier: MIT
// Control: the operations an operator triggers, whichever way they come (SIGHUP, the admin
// socket, systemd's ExecReload): reload from the config file, with its bookkeeping (metrics
// counters, systemd RELOADING/READY, the log line), and the facts `ringlbctl status` shows.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "core/result.hpp"
#include "daemon/proxy.hpp"

namespace ringlb::daemon {

class Control {
public:
    /// `config_path`: the file named by --config, or none for the embedded default.
    Control(std::optional<std::string> config_path,
            std::string config_text,
            Proxy& proxy,
            unsigned workers);

    /// Re-reads and applies the config file. On any error the running config stays, the error
    /// is logged and returned. Thread-safe (serialized).
    core::Result<ReloadSummary, std::string> reload();

    Proxy& proxy() noexcept { return proxy_; }
    const std::optional<std::string>& config_path() const noexcept { return config_path_; }
    /// A hash of the running config file's text (16 hex digits).
    std::string config_hash() const;
    /// The running config file's text.
    std::string config_text() const;
    unsigned workers() const noexcept { return workers_; }
    std::chrono::system_clock::time_point started() const noexcept { return started_; }

    std::uint64_t reloads_succeeded() const noexcept {
        return reload_ok_.load(std::memory_order_relaxed);
    }
    std::uint64_t reloads_failed() const noexcept {
        return reload_failed_.load(std::memory_order_relaxed);
    }
    /// Seconds since the epoch of the last successful reload (the start counts as one).
    double last_reload_success() const noexcept {
        return last_success_.load(std::memory_order_relaxed);
    }

private:
    const std::optional<std::string> config_path_;
    Proxy& proxy_;
    const unsigned workers_;
    const std::chrono::system_clock::time_point started_;
    mutable std::mutex mutex_;  // serializes reloads; guards config_text_
    std::string config_text_;
    std::atomic<std::uint64_t> reload_ok_{0};
    std::atomic<std::uint64_t> reload_failed_{0};
    std::atomic<double> last_success_{0};
};

/// "12 listeners, 340 connections"-style one-line summary for systemd's STATUS=.
std::string status_line(const Proxy& proxy);

/// The text of the config file (or the embedded default), for hashing and `ringlbctl config`.
core::Result<std::string, std::string> read_config_text(const std::optional<std::string>& path);

}  // namespace ringlb::daemon
