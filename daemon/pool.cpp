// SPDX-License-Identifier: MIT
// Pool snapshots: from the config, and with one backend changed.
#include "daemon/pool.hpp"

#include <time.h>

#include <algorithm>

#include "daemon/log.hpp"

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

std::int64_t coarse_now_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

Pool::Pool(
        std::string name,
        config::Balance balance,
        std::vector<BackendEntry> backends,
        std::optional<config::Outlier> outlier,
        std::optional<config::HealthCheck> health_check,
        std::uint32_t slow_start_ms)
        : name_(std::move(name))
        , balance_(balance)
        , backends_(std::move(backends))
        , outlier_(outlier)
        , health_check_(std::move(health_check))
        , slow_start_ms_(slow_start_ms)
        , balancer_(balance_, backends_, static_cast<std::int64_t>(slow_start_ms) * 1'000'000) {}

void Pool::report_connect_success(std::size_t i) const noexcept {
    BackendState& st = *backends_[i].state;
    if (st.consecutive_failures.load(std::memory_order_relaxed) != 0) {
        st.consecutive_failures.store(0, std::memory_order_relaxed);
    }
    if (outlier_ && st.ejections.load(std::memory_order_relaxed) != 0) {
        // Well after its last ejection ended, a working backend starts its back-off afresh.
        const std::int64_t calm = static_cast<std::int64_t>(outlier_->base_ejection_ms) * 1'000'000;
        if (coarse_now_ns() > st.ejected_until_ns.load(std::memory_order_relaxed) + calm) {
            st.ejections.store(0, std::memory_order_relaxed);
        }
    }
}

void Pool::report_connect_failure(std::size_t i) const noexcept {
    if (!outlier_) {
        return;
    }
    BackendState& st = *backends_[i].state;
    const std::uint32_t failures =
            st.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
    if (failures < outlier_->consecutive_failures) {
        return;
    }
    const std::int64_t now = coarse_now_ns();
    std::size_t ejected = 0;
    for (const BackendEntry& b : backends_) {
        ejected += b.state->ejected(now) ? 1 : 0;
    }
    if (st.ejected(now)) {
        return;  // a racing failure already ejected it
    }
    if ((ejected + 1) * 100
        > static_cast<std::size_t>(outlier_->max_ejection_percent) * backends_.size()) {
        LOG_WARN(
                "backend %s/%s: %u connect failures in a row, but %zu of %zu backends are ejected "
                "already (max_ejection_percent %u): keeping it",
                name_.c_str(),
                backends_[i].address.c_str(),
                failures,
                ejected,
                backends_.size(),
                outlier_->max_ejection_percent);
        st.consecutive_failures.store(0, std::memory_order_relaxed);
        return;
    }
    const std::uint32_t times = st.ejections.fetch_add(1, std::memory_order_relaxed);
    const std::int64_t ms = static_cast<std::int64_t>(outlier_->base_ejection_ms)
            << std::min<std::uint32_t>(times, 5);
    st.ejected_until_ns.store(now + ms * 1'000'000, std::memory_order_relaxed);
    st.up_since_ns.store(now + ms * 1'000'000, std::memory_order_relaxed);  // slow start after
    st.consecutive_failures.store(0, std::memory_order_relaxed);
    LOG_WARN(
            "backend %s/%s: ejected for %lld ms after %u connect failures in a row",
            name_.c_str(),
            backends_[i].address.c_str(),
            static_cast<long long>(ms),
            failures);
}

std::shared_ptr<const Pool>
Pool::from_config(const config::Pool& cfg, const Pool* previous, bool reloaded) {
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
            if (reloaded) {
                state->up_since_ns.store(coarse_now_ns(), std::memory_order_relaxed);  // slow start
            }
        }
        entries.push_back(
                {b.address,
                 b.resolved,
                 b.weight,
                 AdminState::kEnabled,
                 std::move(state),
                 b.max_connections});
    }
    auto pool = std::make_shared<Pool>(
            cfg.name,
            cfg.balance,
            std::move(entries),
            cfg.outlier,
            cfg.health_check,
            cfg.slow_start_ms);
    pool->queue_size_ = cfg.queue_size;
    pool->queue_timeout_ms_ = cfg.queue_timeout_ms;
    if (previous != nullptr) {
        pool->queued_ = previous->queued_;  // clients queued before the reload still count
    }
    return pool;
}

std::shared_ptr<const Pool> Pool::copy_with(std::vector<BackendEntry> entries) const {
    auto pool = std::make_shared<Pool>(
            name_, balance_, std::move(entries), outlier_, health_check_, slow_start_ms_);
    pool->queue_size_ = queue_size_;
    pool->queue_timeout_ms_ = queue_timeout_ms_;
    pool->queued_ = queued_;
    return pool;
}

bool Pool::saturated() const noexcept {
    const std::int64_t now = coarse_now_ns();
    bool any_in_service = false;
    for (const BackendEntry& b : backends_) {
        if (b.usable(now)) {
            return false;
        }
        any_in_service = any_in_service || b.in_service(now);
    }
    return any_in_service;
}

std::shared_ptr<const Pool> Pool::with_admin(std::size_t index, AdminState admin) const {
    std::vector<BackendEntry> entries = backends_;
    entries[index].admin = admin;
    return copy_with(std::move(entries));
}

std::shared_ptr<const Pool> Pool::with_weight(std::size_t index, std::uint32_t weight) const {
    std::vector<BackendEntry> entries = backends_;
    entries[index].weight = weight;
    return copy_with(std::move(entries));
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
