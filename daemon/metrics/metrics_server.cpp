// SPDX-License-Identifier: MIT
// MetricsServer: the Collectable that turns ringlbd's counters into metric families.
#include "daemon/metrics/metrics_server.hpp"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include "core/runtime.hpp"
#include "core/uring/buffer_ring.hpp"
#include "core/uring/ring.hpp"
#include "daemon/control.hpp"
#include "daemon/metrics/process_stats.hpp"

namespace ringlb::daemon {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Builds one family at a time: family(...), then add(...) per labelled value.
class Families {
public:
    void family(const char* name, const char* help, MetricType type) {
        out_.push_back(MetricFamily{name, help, type, {}});
    }
    void add(double value, std::vector<ClientMetric::Label> labels = {}) {
        ClientMetric m;
        m.label = std::move(labels);
        if (out_.back().type == MetricType::Counter) {
            m.counter.value = value;
        } else {
            m.gauge.value = value;
        }
        out_.back().metric.push_back(std::move(m));
    }
    void add_histogram(const DurationHistogram::Snapshot& h) {
        ClientMetric m;
        m.histogram.sample_count = h.count;
        m.histogram.sample_sum = h.sum_seconds;
        std::uint64_t cumulative = 0;
        for (std::size_t b = 0; b < h.buckets.size(); ++b) {
            cumulative += h.buckets[b];
            const double bound = b < DurationHistogram::kBounds.size()
                    ? DurationHistogram::kBounds[b]
                    : std::numeric_limits<double>::infinity();
            m.histogram.bucket.push_back({cumulative, bound});
        }
        out_.back().metric.push_back(std::move(m));
    }
    std::vector<MetricFamily> take() { return std::move(out_); }

private:
    std::vector<MetricFamily> out_;
};

class Collector final : public prometheus::Collectable {
public:
    Collector(Control& control, const core::Runtime& runtime)
            : control_(control), runtime_(runtime) {}

    std::vector<MetricFamily> Collect() const override {
        Families f;
        collect_proxy(f);
        collect_workers(f);
        collect_control(f);
        collect_process(f);
        return f.take();
    }

private:
    void collect_proxy(Families& f) const {
        control_.proxy().inspect([&](const Proxy::View& v) {
            f.family(
                    "ringlb_listener_connections_total",
                    "Client connections accepted and served.",
                    MetricType::Counter);
            for (const auto& l : v.listeners) {
                f.add(static_cast<double>(l->accepted.load(std::memory_order_relaxed)),
                      {{"listener", name_of(*l)}});
            }
            f.family(
                    "ringlb_listener_active_connections",
                    "Client connections open now.",
                    MetricType::Gauge);
            for (const auto& l : v.listeners) {
                f.add(static_cast<double>(l->active.load(std::memory_order_relaxed)),
                      {{"listener", name_of(*l)}});
            }
            f.family(
                    "ringlb_listener_rejected_connections_total",
                    "Client connections closed without service, by reason.",
                    MetricType::Counter);
            for (const auto& l : v.listeners) {
                f.add(static_cast<double>(l->rejected_full.load(std::memory_order_relaxed)),
                      {{"listener", name_of(*l)}, {"reason", "max_connections"}});
                f.add(static_cast<double>(l->no_backend.load(std::memory_order_relaxed)),
                      {{"listener", name_of(*l)}, {"reason", "no_backend"}});
                f.add(static_cast<double>(l->rejected_proxy.load(std::memory_order_relaxed)),
                      {{"listener", name_of(*l)}, {"reason", "proxy_protocol"}});
                f.add(static_cast<double>(l->rejected_queue.load(std::memory_order_relaxed)),
                      {{"listener", name_of(*l)}, {"reason", "queue"}});
            }
            f.family("ringlb_bytes_total", "Bytes forwarded, by direction.", MetricType::Counter);
            for (const auto& l : v.listeners) {
                f.add(static_cast<double>(l->bytes.sum(&ForwardedBytes::client_to_backend)),
                      {{"listener", name_of(*l)}, {"direction", "client_to_backend"}});
                f.add(static_cast<double>(l->bytes.sum(&ForwardedBytes::backend_to_client)),
                      {{"listener", name_of(*l)}, {"direction", "backend_to_client"}});
            }
            f.family(
                    "ringlb_listener_splice_switches_total",
                    "Connection directions that carried bulk and moved to splice "
                    "(listeners[].splice: auto).",
                    MetricType::Counter);
            for (const auto& l : v.listeners) {
                f.add(static_cast<double>(l->bytes.sum(&ForwardedBytes::splice_switches)),
                      {{"listener", name_of(*l)}});
            }
            collect_backends(f, v);
            f.family(
                    "ringlb_connect_duration_seconds",
                    "Time to connect to a backend.",
                    MetricType::Histogram);
            f.add_histogram(v.stats.connect_duration.snapshot());
            f.family(
                    "ringlb_session_duration_seconds",
                    "Lifetime of proxied connections.",
                    MetricType::Histogram);
            f.add_histogram(v.stats.session_duration.snapshot());
            return 0;
        });
    }

    static void collect_backends(Families& f, const Proxy::View& v) {
        auto each = [&](auto fn) {
            for (const auto& [pool_name, pool] : v.pools) {
                for (const BackendEntry& b : pool->backends()) {
                    fn(pool_name, b);
                }
            }
        };
        f.family(
                "ringlb_backend_connections_total",
                "Connections made to the backend.",
                MetricType::Counter);
        each([&](const std::string& p, const BackendEntry& b) {
            f.add(static_cast<double>(b.state->connections.load(std::memory_order_relaxed)),
                  {{"pool", p}, {"backend", b.address}});
        });
        f.family(
                "ringlb_backend_active_connections",
                "Connections to the backend open now.",
                MetricType::Gauge);
        each([&](const std::string& p, const BackendEntry& b) {
            f.add(static_cast<double>(b.active()), {{"pool", p}, {"backend", b.address}});
        });
        f.family(
                "ringlb_backend_connect_errors_total",
                "Failed connect attempts, by reason.",
                MetricType::Counter);
        each([&](const std::string& p, const BackendEntry& b) {
            for (int e = 0; e < kConnectErrorKinds; ++e) {
                f.add(static_cast<double>(
                              b.state->connect_errors[e].load(std::memory_order_relaxed)),
                      {{"pool", p},
                       {"backend", b.address},
                       {"reason", to_string(static_cast<ConnectError>(e))}});
            }
        });
        // In service, not "below its max_connections": a full backend is not a down one, and
        // alerts on this gauge must not fire when a backend is merely busy.
        f.family(
                "ringlb_backend_up",
                "1 if the backend is in service (enabled, healthy, not ejected), else 0.",
                MetricType::Gauge);
        each([&](const std::string& p, const BackendEntry& b) {
            f.add(b.in_service(coarse_now_ns()) ? 1 : 0, {{"pool", p}, {"backend", b.address}});
        });
        f.family(
                "ringlb_pool_queued_clients",
                "Clients waiting in the pool's queue for a backend below its max_connections.",
                MetricType::Gauge);
        for (const auto& [pool_name, pool] : v.pools) {
            f.add(static_cast<double>(pool->queued().load(std::memory_order_relaxed)),
                  {{"pool", pool_name}});
        }
    }

    void collect_workers(Families& f) const {
        struct Counter {
            const char* name;
            const char* help;
            std::uint64_t (*read)(const core::Worker&);
        };
        static const Counter counters[] = {
                {"ringlb_worker_completions_total",
                 "io_uring completions reaped.",
                 [](const core::Worker& w) {
                     return w.ring()->stats().completions.load(std::memory_order_relaxed);
                 }},
                {"ringlb_worker_submissions_total",
                 "io_uring submissions.",
                 [](const core::Worker& w) {
                     return w.ring()->stats().submissions.load(std::memory_order_relaxed);
                 }},
                {"ringlb_worker_enter_calls_total",
                 "io_uring_enter system calls.",
                 [](const core::Worker& w) {
                     return w.ring()->stats().enters.load(std::memory_order_relaxed);
                 }},
                {"ringlb_worker_tasks_spawned_total",
                 "Tasks spawned on the worker.",
                 [](const core::Worker& w) {
                     return w.stats().tasks_spawned.load(std::memory_order_relaxed);
                 }},
                {"ringlb_worker_steals_total",
                 "Tasks the worker stole from another.",
                 [](const core::Worker& w) {
                     return w.stats().steals.load(std::memory_order_relaxed);
                 }},
        };
        for (const Counter& c : counters) {
            f.family(c.name, c.help, MetricType::Counter);
            for (unsigned i = 0; i < runtime_.worker_count(); ++i) {
                const core::Worker& w = runtime_.worker(i);
                if (w.ring() != nullptr) {
                    f.add(static_cast<double>(c.read(w)), {{"worker", std::to_string(i)}});
                }
            }
        }
        // The buffer ring: how much of it connections hold, and how often it ran dry.
        f.family(
                "ringlb_worker_ring_chunks_held",
                "Received chunks held by connections: ring buffers, or pieces of them where the "
                "kernel consumes buffers incrementally.",
                MetricType::Gauge);
        for (unsigned i = 0; i < runtime_.worker_count(); ++i) {
            const core::Worker& w = runtime_.worker(i);
            if (w.ring() != nullptr && w.ring()->buffers() != nullptr) {
                f.add(static_cast<double>(w.ring()->buffers()->lent()),
                      {{"worker", std::to_string(i)}});
            }
        }
        f.family(
                "ringlb_worker_ring_empty_total",
                "Receives that found the worker's buffer ring empty (they wait for buffers).",
                MetricType::Counter);
        for (unsigned i = 0; i < runtime_.worker_count(); ++i) {
            const core::Worker& w = runtime_.worker(i);
            if (w.ring() != nullptr && w.ring()->buffers() != nullptr) {
                f.add(static_cast<double>(w.ring()->buffers()->empties()),
                      {{"worker", std::to_string(i)}});
            }
        }
        // The batching factor (io_uring_enter is the one system call per loop turn): since
        // start; rate(completions) / rate(enter_calls) gives it over a window.
        f.family(
                "ringlb_worker_completions_per_enter",
                "Completions reaped per io_uring_enter since start (the batching factor).",
                MetricType::Gauge);
        for (unsigned i = 0; i < runtime_.worker_count(); ++i) {
            const core::Worker& w = runtime_.worker(i);
            if (w.ring() != nullptr) {
                const auto& rs = w.ring()->stats();
                const double enters =
                        static_cast<double>(rs.enters.load(std::memory_order_relaxed));
                const double done =
                        static_cast<double>(rs.completions.load(std::memory_order_relaxed));
                f.add(enters > 0 ? done / enters : 0, {{"worker", std::to_string(i)}});
            }
        }
    }

    void collect_control(Families& f) const {
        f.family("ringlb_config_reloads_total", "Config reloads, by result.", MetricType::Counter);
        f.add(static_cast<double>(control_.reloads_succeeded()), {{"result", "success"}});
        f.add(static_cast<double>(control_.reloads_failed()), {{"result", "failure"}});
        f.family(
                "ringlb_config_last_reload_success_timestamp_seconds",
                "When the running config was loaded (start-up or reload).",
                MetricType::Gauge);
        f.add(control_.last_reload_success());
    }

    void collect_process(Families& f) const {
        const ProcessStats p = process_stats_.read();
        f.family("process_cpu_seconds_total", "User and system CPU time.", MetricType::Counter);
        f.add(p.cpu_seconds);
        f.family("process_resident_memory_bytes", "Resident memory size.", MetricType::Gauge);
        f.add(p.resident_bytes);
        f.family("process_open_fds", "Open file descriptors.", MetricType::Gauge);
        f.add(p.open_fds);
        f.family("process_start_time_seconds", "Start time since the epoch.", MetricType::Gauge);
        f.add(p.start_time_seconds);
    }

    static std::string name_of(const ListenerState& l) { return l.view.load()->config.name; }

    Control& control_;
    const core::Runtime& runtime_;
    ProcessStatsReader process_stats_;
};

}  // namespace

struct MetricsServer::Impl {
    std::shared_ptr<Collector> collector;
    std::unique_ptr<prometheus::Exposer> exposer;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() = default;

core::Result<std::unique_ptr<MetricsServer>, std::string>
MetricsServer::start(const std::string& address, Control& control, const core::Runtime& runtime) {
    auto impl = std::make_unique<Impl>();
    impl->collector = std::make_shared<Collector>(control, runtime);
    try {
        // One serving thread: scrapes are rare, and each takes the control mutex anyway.
        impl->exposer = std::make_unique<prometheus::Exposer>(address, 1);
    } catch (const std::exception& e) {
        return core::Unexpected("metrics: cannot listen on " + address + ": " + e.what());
    }
    impl->exposer->RegisterCollectable(impl->collector);
    return std::make_unique<MetricsServer>(std::move(impl));
}

}  // namespace ringlb::daemon
