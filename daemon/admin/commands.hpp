// SPDX-License-Identifier: MIT
// The admin protocol: one JSON object per request line, one per reply line (nlohmann/json
// stays inside commands.cpp). Requests: {"command": "status" | "backends" [, "pool"] |
// "enable" | "disable" | "drain" (+ "backend": "POOL/ADDRESS") | "weight" (+ "backend",
// "weight") | "reload" | "config"}. Replies: {"ok": true, ...} or {"ok": false, "error": "..."}.
// A malformed or unknown request gets an error reply; the connection carries on.
#pragma once

#include <string>

namespace ringlb::daemon {

class Control;

/// The reply line (without the newline) to one request line.
std::string handle_admin_request(const std::string& line, Control& control);

/// {"ok": false, "error": message}.
std::string error_reply(const std::string& message);

}  // namespace ringlb::daemon
