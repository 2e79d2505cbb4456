// SPDX-License-Identifier: MIT
// The admin protocol: one JSON object per request line, one per reply line (nlohmann/json
// stays inside commands.cpp). Requests: {"command": "status" | "backends" [, "pool"] |
// "enable" | "disable" | "drain" (+ "backend": "POOL/ADDRESS") | "weight" (+ "backend",
// "weight") | "reload" | "config"}. Replies: {"ok": true, ...} or {"ok": false, "error": "..."}.
// A malformed or unknown request gets an error reply; the connection carries on.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.hpp"

namespace ringlb::daemon {

class Control;

/// One validated request.
struct AdminRequest {
    enum class Command { kStatus, kBackends, kEnable, kDisable, kDrain, kWeight, kReload, kConfig };
    Command command = Command::kStatus;
    std::string pool;     // backends: the pool to show (empty: all); changes: the backend's pool
    std::string backend;  // changes: the backend's address
    std::uint32_t weight = 0;  // weight: 1..1000
};

/// Parses and validates one request line; the error is the reply's text. Pure: the fuzz
/// target's entry point.
core::Result<AdminRequest, std::string> parse_admin_request(const std::string& line);

/// The reply line (without the newline) to one request line.
std::string handle_admin_request(const std::string& line, Control& control);

/// {"ok": false, "error": message}.
std::string error_reply(const std::string& message);

}  // namespace ringlb::daemon
