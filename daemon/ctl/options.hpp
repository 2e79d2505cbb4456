// SPDX-License-Identifier: MIT
// ringlbctl's command line (Boost.Program_options stays inside options.cpp): which socket,
// table or JSON output, and the request line to send.
#pragma once

#include <optional>
#include <string>

namespace ringlb::ctl {

struct CtlOptions {
    std::string socket;   // the admin socket
    bool json = false;    // print the daemon's reply as JSON instead of a table
    std::string command;  // status, backends, enable, ...
    std::string request;  // the JSON request line (without the newline)
};

/// Exit statuses (documented in ringlbctl --help).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;  // the daemon answered with an error
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCannotConnect = 3;

/// The options, or none after --help (exit 0) or a usage error (exit 2, printed to stderr).
struct CtlParse {
    std::optional<CtlOptions> options;
    int exit_code = kExitOk;
};
CtlParse parse_ctl_options(int argc, char** argv);

}  // namespace ringlb::ctl
