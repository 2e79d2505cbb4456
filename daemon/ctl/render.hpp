// SPDX-License-Identifier: MIT
// Renders a successful admin reply as text for a terminal: aligned tables for status and
// backends, the message for changes.
#pragma once

#include <string>

namespace ringlb::ctl {

/// `command` is what was asked; `reply` the daemon's JSON reply line (ok: true).
std::string render_reply(const std::string& command, const std::string& reply);

}  // namespace ringlb::ctl
