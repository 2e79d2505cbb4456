// SPDX-License-Identifier: MIT
// ringlbd: load the config, start the runtime and the proxy, then wait for signals on the main
// thread (SIGTERM/SIGINT: stop accepting, drain, exit 0). Exit statuses follow sysexits.h so
// systemd can tell a configuration problem (78: do not restart) from a crash.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "config/default_config.hpp"
#include "config/load.hpp"
#include "core/runtime.hpp"
#include "daemon/cli.hpp"
#include "daemon/io_uring_probe.hpp"
#include "daemon/log.hpp"
#include "daemon/proxy.hpp"
#include "daemon/version.hpp"

namespace {

using namespace ringlb;

constexpr int kExitConfigError = 1;  // a bad config file: --check and start-up alike
constexpr int kExitCannotListen = 1;
constexpr int kExitNoIoUring = 78;  // EX_CONFIG: systemd's RestartPreventExitStatus

// The config to run: the file named on the command line, or the embedded default.
core::Result<config::Config, config::ConfigErrors> load_config(const daemon::CliOptions& opts) {
    if (opts.config_path) {
        return config::load_file(*opts.config_path);
    }
    return config::parse(config::default_config_json());
}

void print_config_errors(const config::ConfigErrors& errors, const daemon::CliOptions& opts) {
    const std::string where = opts.config_path ? *opts.config_path : "(embedded default config)";
    for (const config::ConfigError& e : errors) {
        std::fprintf(stderr, "ringlbd: %s: %s\n", where.c_str(), e.to_string().c_str());
    }
}

// Blocks the process signals in this thread before any worker starts, so every thread
// inherits the mask and only sigwait() on the main thread sees them.
sigset_t block_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);  // sends use MSG_NOSIGNAL; this covers any other write
    return set;
}

// Waits up to `timeout` for the open sessions to finish.
void drain(const daemon::Proxy& proxy, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::int64_t open = proxy.active_sessions();
    if (open > 0) {
        LOG_INFO(
                "draining %lld open connections (up to %lld ms)",
                static_cast<long long>(open),
                static_cast<long long>(timeout.count()));
    }
    while (open > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        open = proxy.active_sessions();
    }
    if (open > 0) {
        LOG_WARN(
                "drain timeout: closing %lld connections still open", static_cast<long long>(open));
    }
}

}  // namespace

int main(int argc, char** argv) {
    const daemon::CliOutcome cli = daemon::parse_cli(argc, argv);
    if (!cli.options) {
        return cli.exit_code;
    }
    const daemon::CliOptions& opts = *cli.options;
    auto cfg = load_config(opts);
    if (!cfg) {
        print_config_errors(cfg.error(), opts);
        if (!opts.check) {
            std::fprintf(stderr, "ringlbd: not starting: the config has errors\n");
        }
        return kExitConfigError;
    }
    if (opts.check) {
        std::printf("ok\n");
        return 0;
    }
    daemon::set_log_level(opts.log_level.value_or(cfg->log_level));

    const sigset_t signals = block_signals();
    core::RuntimeOptions rt_options;
    rt_options.workers = opts.workers.value_or(cfg->workers);
    // Every idle connection keeps two receives in flight, each with a CQE to come: size the
    // completion queue for that (the kernel clamps it to its maximum).
    rt_options.ring.cq_entries = 65536;
    auto rt = core::Runtime::create(rt_options);
    if (!rt) {
        LOG_ERROR("%s", daemon::explain_io_uring_failure(rt.error().value()).c_str());
        return kExitNoIoUring;
    }
    auto proxy = daemon::Proxy::bind(*cfg);
    if (!proxy) {
        LOG_ERROR("%s", proxy.error().c_str());
        (*rt)->shutdown();
        return kExitCannotListen;
    }
    (*proxy)->start(**rt);
    LOG_INFO(
            "ringlbd %s started: %u workers, %zu listeners, config %s",
            daemon::kVersion,
            (*rt)->worker_count(),
            cfg->listeners.size(),
            opts.config_path ? opts.config_path->c_str() : "(embedded default)");

    for (;;) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            LOG_WARN("SIGHUP: reloading is not implemented yet; the running config stays");
            continue;
        }
        LOG_INFO(
                "%s: stopping: no new connections; draining", sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
    }
    (*proxy)->stop_accepting();
    drain(**proxy, std::chrono::milliseconds(cfg->drain_timeout_ms));
    (*rt)->shutdown();
    LOG_INFO("stopped");
    return 0;
}
