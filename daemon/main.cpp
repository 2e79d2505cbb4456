// SPDX-License-Identifier: MIT
// ringlbd: load the config, start the runtime, the proxy, the admin socket and the metrics
// endpoint, then handle signals on the main thread: SIGHUP reloads; SIGTERM/SIGINT stop
// accepting, drain and exit 0. Between signals it pings the systemd watchdog while every
// worker's loop keeps turning. Exit statuses follow sysexits.h so systemd can tell a
// configuration problem (78: do not restart) from a crash.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "config/default_config.hpp"
#include "config/load.hpp"
#include "core/runtime.hpp"
#include "daemon/admin/server.hpp"
#include "daemon/backend.hpp"
#include "daemon/cli.hpp"
#include "daemon/control.hpp"
#include "daemon/io_uring_probe.hpp"
#include "daemon/log.hpp"
#include "daemon/metrics/metrics_server.hpp"
#include "daemon/proxy.hpp"
#include "daemon/systemd_notify.hpp"
#include "daemon/version.hpp"
#include "daemon/watchdog.hpp"

namespace {

using namespace ringlb;
using std::chrono::milliseconds;

constexpr int kExitConfigError = 1;  // a bad config file: --check and start-up alike
constexpr int kExitCannotStart = 1;  // a listener, the admin socket or metrics cannot bind
constexpr int kExitNoIoUring = 78;   // EX_CONFIG: systemd's RestartPreventExitStatus

void print_config_errors(const config::ConfigErrors& errors, const daemon::CliOptions& opts) {
    const std::string where = opts.config_path ? *opts.config_path : "(embedded default config)";
    for (const config::ConfigError& e : errors) {
        std::fprintf(stderr, "ringlbd: %s: %s\n", where.c_str(), e.to_string().c_str());
    }
}

// Blocks the process signals in this thread before any other thread exists, so every thread
// inherits the mask and only the main thread's sigtimedwait() sees them.
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

// Waits up to `timeout` for the open sessions to finish; a second SIGTERM/SIGINT cuts it short.
void drain(const daemon::Proxy& proxy, milliseconds timeout, const sigset_t& signals) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::int64_t open = proxy.active_sessions();
    if (open > 0) {
        LOG_INFO(
                "draining %lld open connections (up to %lld ms; a second signal stops at once)",
                static_cast<long long>(open),
                static_cast<long long>(timeout.count()));
    }
    const timespec poll{0, 20'000'000};
    while (open > 0 && std::chrono::steady_clock::now() < deadline) {
        const int sig = sigtimedwait(&signals, nullptr, &poll);
        if (sig == SIGTERM || sig == SIGINT) {
            LOG_WARN(
                    "second signal: not waiting for %lld open connections",
                    static_cast<long long>(open));
            return;
        }
        open = proxy.active_sessions();
    }
    if (open > 0) {
        LOG_WARN(
                "drain timeout: closing %lld connections still open", static_cast<long long>(open));
    }
}

// What the workers' rings ended up with, for the start-up log: an operator (and the tests)
// can tell which receive path runs on this kernel.
std::string describe_io(const core::RingFeatures& f, const config::Config& cfg) {
    const config::IoOptions& io = cfg.io;
    std::string s = f.defer_taskrun ? "DEFER_TASKRUN" : "COOP_TASKRUN";
    if (f.buffer_ring) {
        s += ", multishot recv into a ring of " + std::to_string(io.ring_buffers) + " x "
                + std::to_string(io.ring_buffer_bytes) + " B buffers per worker";
        s += f.bundles ? ", recv bundles" : ", no recv bundles";
        if (!f.bundles && io.bundles) {
            s += f.recvsend_bundle ? " (they need DEFER_TASKRUN)" : " (kernel before 6.10)";
        }
        s += f.incremental ? ", buffers consumed incrementally" : ", whole buffers per recv";
        if (!f.incremental && io.incremental) {
            s += f.defer_taskrun ? " (kernel before 6.12)" : " (incremental needs DEFER_TASKRUN)";
        }
    } else {
        s += io.buffer_ring ? ", recv into per-connection buffers (no buffer ring: kernel)"
                            : ", recv into per-connection buffers (runtime.io.buffer_ring off)";
    }
    std::string spliced;
    for (const config::Listener& l : cfg.listeners) {
        // "auto" switches from the buffer ring path only: without a ring it never splices.
        if (l.splice == config::Splice::kOn
            || (l.splice == config::Splice::kAuto && f.buffer_ring)) {
            spliced += (spliced.empty() ? "" : ", ") + l.name
                    + (l.splice == config::Splice::kAuto ? " (auto)" : "");
        }
    }
    if (!spliced.empty()) {
        s += "; splice on listeners " + spliced;
    }
    return s;
}

// True while every worker's loop turned within `limit` (a worker stuck in a task does not).
bool workers_alive(const core::Runtime& rt, milliseconds limit) {
    std::vector<std::int64_t> beats;
    for (unsigned i = 0; i < rt.worker_count(); ++i) {
        beats.push_back(rt.worker(i).stats().heartbeat_ns.load(std::memory_order_relaxed));
    }
    return daemon::all_workers_alive(beats, daemon::coarse_now_ns(), limit);
}

}  // namespace

int main(int argc, char** argv) {
    const daemon::CliOutcome cli = daemon::parse_cli(argc, argv);
    if (!cli.options) {
        return cli.exit_code;
    }
    const daemon::CliOptions& opts = *cli.options;
    auto text = daemon::read_config_text(opts.config_path);
    auto cfg = text ? config::parse(*text) : config::load_file(*opts.config_path);
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
    const auto watchdog = std::chrono::duration_cast<milliseconds>(daemon::watchdog_interval());
    core::RuntimeOptions rt_options;
    rt_options.workers = opts.workers.value_or(cfg->workers);
    // Every idle connection keeps two receives in flight, each with a CQE to come: size the
    // completion queue for that (the kernel clamps it to its maximum).
    rt_options.ring.cq_entries = 65536;
    rt_options.ring.provided_buffers = cfg->io.buffer_ring;
    rt_options.ring.allow_bundles = cfg->io.bundles;
    rt_options.ring.buffers = {
            cfg->io.ring_buffers, cfg->io.ring_buffer_bytes, cfg->io.incremental};
    // Under the watchdog, idle workers turn their loop often enough to prove they are alive.
    rt_options.max_idle_wait = watchdog.count() > 0 ? watchdog / 8 : milliseconds(0);
    auto rt = core::Runtime::create(rt_options);
    if (!rt) {
        LOG_ERROR("%s", daemon::explain_io_uring_failure(rt.error().value()).c_str());
        return kExitNoIoUring;
    }
    // Before any listener accepts: a worker may still turn bundles off later (an older kernel
    // refusing them), and that is its own state to change.
    LOG_INFO("io: %s", describe_io((*rt)->worker(0).ring()->features(), *cfg).c_str());
    // The admin socket first: a second instance with the same config stops here, before its
    // SO_REUSEPORT listeners could share the first one's ports.
    const std::string admin_path =
            cfg->admin_socket.empty() ? config::default_admin_socket() : cfg->admin_socket;
    auto admin_socket = daemon::AdminServer::bind_socket(admin_path);
    if (!admin_socket) {
        LOG_ERROR("%s", admin_socket.error().c_str());
        (*rt)->shutdown();
        return kExitCannotStart;
    }
    auto proxy = daemon::Proxy::start(*cfg, **rt, daemon::inherited_listeners());
    if (!proxy) {
        LOG_ERROR("%s", proxy.error().c_str());
        ::unlink(admin_path.c_str());
        (*rt)->shutdown();
        return kExitCannotStart;
    }
    daemon::Control control(opts.config_path, *text, **proxy, (*rt)->worker_count());
    auto admin =
            std::make_unique<daemon::AdminServer>(admin_path, std::move(*admin_socket), control);
    auto metrics = daemon::MetricsServer::start(cfg->metrics_listen, control, **rt);
    if (!metrics) {
        LOG_ERROR("%s", metrics.error().c_str());
        (*proxy)->stop_accepting();
        admin.reset();
        (*rt)->shutdown();
        return kExitCannotStart;
    }
    LOG_INFO(
            "ringlbd %s started: %u workers, %zu listeners, config %s, metrics on %s",
            daemon::kVersion,
            (*rt)->worker_count(),
            cfg->listeners.size(),
            opts.config_path ? opts.config_path->c_str() : "(embedded default)",
            cfg->metrics_listen.c_str());
    daemon::notify_ready(daemon::status_line(**proxy));

    const milliseconds tick = watchdog.count() > 0 ? watchdog / 4 : milliseconds(5000);
    const timespec wait{
            static_cast<time_t>(tick.count() / 1000),
            static_cast<long>(tick.count() % 1000) * 1'000'000};
    for (;;) {
        const int sig = sigtimedwait(&signals, nullptr, &wait);
        if (sig < 0) {  // the tick: watchdog and status
            if (watchdog.count() > 0 && workers_alive(**rt, watchdog / 2)) {
                daemon::notify_watchdog();
            }
            daemon::notify_status(daemon::status_line(**proxy));
            continue;
        }
        if (sig == SIGHUP) {
            LOG_INFO("SIGHUP: reloading");
            (void)control.reload();
            continue;
        }
        LOG_INFO(
                "%s: stopping: no new connections; draining", sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
    }
    daemon::notify_stopping(
            "draining " + std::to_string((*proxy)->active_sessions()) + " connections");
    (*proxy)->stop_accepting();
    drain(**proxy, milliseconds(cfg->drain_timeout_ms), signals);
    admin.reset();
    metrics->reset();
    (*rt)->shutdown();
    LOG_INFO("stopped");
    return 0;
}
