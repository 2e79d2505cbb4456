// SPDX-License-Identifier: MIT
// Pool snapshots: from the config, and with one backend changed.
#include "daemon/pool.hpp"

namespace ringlb::daemon {

const char* to_string(ConnectError e) noexcept {
    switch (e) {
        case ConnectError::kRefused:
            return "refused";
        case ConnectError::kTimeout:
            return "timeout";
        case ConnectError::kOther:
            return "other";
    }
    return "other";
}

const char* to_string(AdminState s) noexcept {
    switch (s) {
        case AdminState::kEnabled:
            return "enabled";
        case AdminState::kDisabled:
            return "disabled";
        case AdminState::kDraining:
            return "draining";
    }
    return "enabled";
}

Pool::Pool(std::string name, config::Balance balance, std::vector<BackendEntry> backends)
        : name_(std::move(name))
        , balance_(balance)
        , backends_(std::move(backends))
        , balancer_(balance_, backends_) {}

std::shared_ptr<const Pool> Pool::from_config(const config::Pool& cfg, const Pool* previous) {
    std::vector<BackendEntry> entries;
    entries.reserve(cfg.backends.size());
    for (const config::Backend& b : cfg.backends) {
        std::shared_ptr<BackendState> state;
        if (previous != nullptr) {
            if (auto i = previous->find(b.address)) {
                state = previous->backend(*i).state;
            }
        }
        if (state == nullptr) {
            state = std::make_shared<BackendState>();
        }
        entries.push_back(
                {b.address, b.resolved, b.weight, AdminState::kEnabled, std::move(state)});
    }
    return std::make_shared<const Pool>(cfg.name, cfg.balance, std::move(entries));
}

std::shared_ptr<const Pool> Pool::with_admin(std::size_t index, AdminState admin) const {
    std::vector<BackendEntry> entries = backends_;
    entries[index].admin = admin;
    return std::make_shared<const Pool>(name_, balance_, std::move(entries));
}

std::shared_ptr<const Pool> Pool::with_weight(std::size_t index, std::uint32_t weight) const {
    std::vector<BackendEntry> entries = backends_;
    entries[index].weight = weight;
    return std::make_shared<const Pool>(name_, balance_, std::move(entries));
}

std::optional<std::size_t> Pool::find(const std::string& address) const noexcept {
    for (std::size_t i = 0; i < backends_.size(); ++i) {
        if (backends_[i].address == address) {
            return i;
        }
    }
    return std::nullopt;
}

}  // namespace ringlb::daemon
