// SPDX-License-Identifier: MIT
// Pool: backend states from the config, and the balancer over them.
#include "daemon/pool.hpp"

namespace ringlb::daemon {
namespace {

std::vector<std::shared_ptr<BackendState>> make_states(const config::Pool& cfg) {
    std::vector<std::shared_ptr<BackendState>> states;
    states.reserve(cfg.backends.size());
    for (const config::Backend& b : cfg.backends) {
        states.push_back(std::make_shared<BackendState>(b.address, b.resolved, b.weight));
    }
    return states;
}

}  // namespace

std::vector<BackendState*> Pool::raw(const std::vector<std::shared_ptr<BackendState>>& v) {
    std::vector<BackendState*> out;
    out.reserve(v.size());
    for (const auto& s : v) {
        out.push_back(s.get());
    }
    return out;
}

Pool::Pool(const config::Pool& cfg)
        : name_(cfg.name), backends_(make_states(cfg)), balancer_(cfg.balance, raw(backends_)) {}

}  // namespace ringlb::daemon
