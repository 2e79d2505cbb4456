// SPDX-License-Identifier: MIT
// ringlbd's command line (Boost.Program_options stays inside cli.cpp).
#pragma once

#include <optional>
#include <string>

#include "config/config.hpp"

namespace ringlb::daemon {

struct CliOptions {
    std::optional<std::string> config_path;     // none: the embedded default config
    bool check = false;                         // validate the config, print ok/errors, exit
    std::optional<unsigned> workers;            // overrides runtime.workers
    std::optional<config::LogLevel> log_level;  // overrides log.level
};

/// What parsing the command line decided: run with options, or exit now with `exit_code`
/// (after --help or --version, printed to stdout, or a usage error, printed to stderr).
struct CliOutcome {
    std::optional<CliOptions> options;
    int exit_code = 0;
};

CliOutcome parse_cli(int argc, char** argv);

}  // namespace ringlb::daemon
