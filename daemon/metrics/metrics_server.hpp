// SPDX-License-Identifier: MIT
// MetricsServer: HTTP /metrics (prometheus-cpp's Exposer, its own threads) serving a
// Collectable that reads ringlbd's counters at scrape time: per-worker counters are summed
// there, so the data path never takes a lock or an atomic read-modify-write per chunk.
// prometheus-cpp stays inside daemon/metrics/.
#pragma once

#include <memory>
#include <string>

#include "core/result.hpp"

namespace ringlb::core {
class Runtime;
}

namespace ringlb::daemon {

class Control;

class MetricsServer {
public:
    /// Listens on `address` ("host:port"). The error says why it could not.
    static core::Result<std::unique_ptr<MetricsServer>, std::string>
    start(const std::string& address, Control& control, const core::Runtime& runtime);
    ~MetricsServer();

    struct Impl;
    explicit MetricsServer(std::unique_ptr<Impl> impl);

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace ringlb::daemon
