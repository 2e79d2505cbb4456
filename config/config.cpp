// SPDX-License-Identifier: MIT
// Config's small helpers.
#include "config/config.hpp"

#include <cstdlib>

namespace ringlb::config {

const Pool* Config::find_pool(const std::string& name) const noexcept {
    for (const Pool& p : pools) {
        if (p.name == name) {
            return &p;
        }
    }
    return nullptr;
}

std::string default_admin_socket() {
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    if (xdg != nullptr && *xdg != '\0') {
        return std::string(xdg) + "/ringlb/admin.sock";
    }
    return "/run/ringlb/admin.sock";
}

const char* to_string(LogLevel l) noexcept {
    switch (l) {
        case LogLevel::kDebug:
            return "debug";
        case LogLevel::kInfo:
            return "info";
        case LogLevel::kWarn:
            return "warn";
        case LogLevel::kError:
            return "error";
    }
    return "?";
}

const char* to_string(Balance b) noexcept {
    switch (b) {
        case Balance::kRoundRobin:
            return "round_robin";
        case Balance::kLeastConn:
            return "least_conn";
        case Balance::kP2c:
            return "p2c";
        case Balance::kMaglev:
            return "maglev";
    }
    return "?";
}

}  // namespace ringlb::config
