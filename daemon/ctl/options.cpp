// SPDX-License-Identifier: MIT
// parse_ctl_options(): flags, then COMMAND [ARGS] -> one admin request.
#include "daemon/ctl/options.hpp"

#include <cstdio>
#include <iostream>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "config/config.hpp"

namespace ringlb::ctl {

namespace po = boost::program_options;

namespace {

constexpr const char* kCommands =
        "Commands:\n"
        "  status                      version, uptime, workers, config, listeners, connections\n"
        "  backends [POOL]             every backend: state, health, weight, connections\n"
        "  enable POOL/BACKEND         send it new connections again\n"
        "  disable POOL/BACKEND        no new connections (open ones go on)\n"
        "  drain POOL/BACKEND          no new connections; shows \"drained\" once none is open\n"
        "  weight POOL/BACKEND N       set its weight (1-1000)\n"
        "  reload                      re-read the config file (a bad file changes nothing)\n"
        "  config                      the running config, as JSON\n"
        "BACKEND is the backend's address as written in the config, e.g. web/10.0.0.1:8443.\n"
        "enable, disable, drain and weight last until the next reload.\n"
        "Exit status: 0 done, 1 the daemon refused, 2 usage error, 3 cannot connect.\n";

CtlParse usage_error(const std::string& message) {
    std::fprintf(stderr, "ringlbctl: %s\nTry 'ringlbctl --help'.\n", message.c_str());
    return {std::nullopt, kExitUsage};
}

}  // namespace

CtlParse parse_ctl_options(int argc, char** argv) {
    po::options_description desc(
            "Usage: ringlbctl [--socket PATH] [--json] COMMAND [ARGS]\nOptions");
    CtlOptions opts;
    std::vector<std::string> words;
    // clang-format off
    desc.add_options()
        ("socket,s", po::value(&opts.socket)->value_name("PATH"),
            "the admin socket (default: $XDG_RUNTIME_DIR/ringlb/admin.sock or /run/ringlb/admin.sock)")
        ("json,j", "print the reply as JSON")
        ("help,h", "print this help and exit");
    // clang-format on
    po::options_description hidden;
    hidden.add_options()("words", po::value(&words));
    po::options_description all;
    all.add(desc).add(hidden);
    po::positional_options_description positional;
    positional.add("words", -1);
    po::variables_map vm;
    try {
        po::store(
                po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        return usage_error(e.what());
    }
    if (vm.count("help") != 0) {
        std::cout << desc << "\n" << kCommands;
        return {std::nullopt, kExitOk};
    }
    if (opts.socket.empty()) {
        opts.socket = config::default_admin_socket();
    }
    opts.json = vm.count("json") != 0;
    if (words.empty()) {
        return usage_error("no command given");
    }
    opts.command = words[0];
    const std::size_t args = words.size() - 1;
    nlohmann::json request{{"command", opts.command}};
    const std::string& c = opts.command;
    if (c == "status" || c == "reload" || c == "config") {
        if (args != 0) {
            return usage_error("\"" + c + "\" takes no arguments");
        }
    } else if (c == "backends") {
        if (args > 1) {
            return usage_error("\"backends\" takes at most one argument: POOL");
        }
        if (args == 1) {
            request["pool"] = words[1];
        }
    } else if (c == "enable" || c == "disable" || c == "drain") {
        if (args != 1 || words[1].find('/') == std::string::npos) {
            return usage_error("\"" + c + "\" takes one argument: POOL/BACKEND");
        }
        request["backend"] = words[1];
    } else if (c == "weight") {
        if (args != 2 || words[1].find('/') == std::string::npos) {
            return usage_error("\"weight\" takes two arguments: POOL/BACKEND N");
        }
        request["backend"] = words[1];
        try {
            std::size_t used = 0;
            const long w = std::stol(words[2], &used);
            if (used != words[2].size() || w < 1 || w > 1000) {
                throw std::out_of_range("weight");
            }
            request["weight"] = w;
        } catch (const std::exception&) {
            return usage_error("weight: \"" + words[2] + "\" is not an integer from 1 to 1000");
        }
    } else {
        return usage_error("unknown command \"" + c + "\"");
    }
    opts.request = request.dump();
    return {std::move(opts), kExitOk};
}

}  // namespace ringlb::ctl
