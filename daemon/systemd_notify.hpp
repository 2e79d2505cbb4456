// SPDX-License-Identifier: MIT
// The systemd service manager protocol (libsystemd stays inside systemd_notify.cpp): readiness
// and reload/stop notifications, the watchdog interval, and sockets passed by socket
// activation. Every call is a no-op when ringlbd does not run under systemd.
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace ringlb::daemon {

void notify_ready(const std::string& status);
void notify_reloading();
void notify_stopping(const std::string& status);
void notify_status(const std::string& status);
void notify_watchdog();

/// WatchdogSec= as the service manager passed it (WATCHDOG_USEC); zero when not enabled.
std::chrono::microseconds watchdog_interval();

/// Listening sockets passed by socket activation (LISTEN_FDS), by FileDescriptorName=
/// (systemd names an unnamed one after its .socket unit). The caller owns the descriptors.
std::map<std::string, int> inherited_listeners();

}  // namespace ringlb::daemon
