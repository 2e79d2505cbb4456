// SPDX-License-Identifier: MIT
// parse_cli(): ringlbd's flags.
#include "daemon/cli.hpp"

#include <cstdio>
#include <iostream>

#include <boost/program_options.hpp>

#include "daemon/version.hpp"

namespace ringlb::daemon {

namespace po = boost::program_options;

namespace {
constexpr int kExitUsage = 64;  // EX_USAGE

std::optional<config::LogLevel> parse_level(const std::string& s) {
    if (s == "debug") {
        return config::LogLevel::kDebug;
    }
    if (s == "info") {
        return config::LogLevel::kInfo;
    }
    if (s == "warn") {
        return config::LogLevel::kWarn;
    }
    if (s == "error") {
        return config::LogLevel::kError;
    }
    return std::nullopt;
}
}  // namespace

CliOutcome parse_cli(int argc, char** argv) {
    po::options_description desc(
            "Usage: ringlbd [--config FILE] [--check] [--workers N] [--log-level LEVEL]\n"
            "ringlbd: an L4 TCP proxy and load balancer on io_uring.\n\nOptions");
    std::string config_path;
    std::string level;
    unsigned workers = 0;
    // clang-format off
    desc.add_options()
        ("config,c", po::value(&config_path)->value_name("FILE"),
            "the JSON config file (default: the embedded demo config)")
        ("check", "validate the config, print \"ok\" or the errors, and exit 0 or 1")
        ("workers,w", po::value(&workers)->value_name("N"),
            "worker threads, each with its own io_uring (0: one per CPU); overrides runtime.workers")
        ("log-level,l", po::value(&level)->value_name("LEVEL"),
            "debug, info, warn or error; overrides log.level")
        ("version,V", "print the version and exit")
        ("help,h", "print this help and exit");
    // clang-format on
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::fprintf(stderr, "ringlbd: %s\nTry 'ringlbd --help'.\n", e.what());
        return {std::nullopt, kExitUsage};
    }
    if (vm.count("help") != 0) {
        std::cout << desc << "\n";
        return {std::nullopt, 0};
    }
    if (vm.count("version") != 0) {
        std::printf("ringlbd %s\n", kVersion);
        return {std::nullopt, 0};
    }
    CliOptions opts;
    if (vm.count("config") != 0) {
        opts.config_path = config_path;
    }
    opts.check = vm.count("check") != 0;
    if (vm.count("workers") != 0) {
        if (workers > 1024) {
            std::fprintf(stderr, "ringlbd: --workers: %u is out of range (0..1024)\n", workers);
            return {std::nullopt, kExitUsage};
        }
        opts.workers = workers;
    }
    if (vm.count("log-level") != 0) {
        opts.log_level = parse_level(level);
        if (!opts.log_level) {
            std::fprintf(
                    stderr,
                    "ringlbd: --log-level: unknown level \"%s\" (expected one of: debug, "
                    "info, warn, error)\n",
                    level.c_str());
            return {std::nullopt, kExitUsage};
        }
    }
    return {std::move(opts), 0};
}

}  // namespace ringlb::daemon
