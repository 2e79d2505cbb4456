// SPDX-License-Identifier: MIT
// Balancer: the four algorithms behind one pick().
#include "daemon/balance/balancer.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <string>

#include "core/assert.hpp"

namespace ringlb::daemon {
namespace {

std::uint64_t next_random() noexcept {
    // splitmix64, one state per thread: no shared cache line, no lock.
    thread_local std::uint64_t state =
            reinterpret_cast<std::uintptr_t>(&state) ^ 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// a is less loaded than b when active_a / weight_a < active_b / weight_b (cross-multiplied).
bool less_loaded(const BackendEntry& a, const BackendEntry& b) noexcept {
    return a.active() * static_cast<std::int64_t>(b.weight)
            < b.active() * static_cast<std::int64_t>(a.weight);
}

}  // namespace

std::uint64_t client_key(const core::SocketAddress& client) noexcept {
    if (client.family() == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(client.get());
        return hash_bytes(&sin->sin_addr, sizeof sin->sin_addr);
    }
    if (client.family() == AF_INET6) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(client.get());
        return hash_bytes(&sin6->sin6_addr, sizeof sin6->sin6_addr);
    }
    return 0;
}

Balancer::Balancer(
        config::Balance kind, std::span<const BackendEntry> backends, std::int64_t slow_start_ns)
        : kind_(kind), backends_(backends), slow_start_ns_(slow_start_ns) {
    RINGLB_CHECK(!backends_.empty(), "a balancer needs at least one backend");
    std::vector<std::uint32_t> weights;
    std::vector<std::string> names;
    for (const BackendEntry& b : backends_) {
        weights.push_back(b.weight);
        names.push_back(b.address);
    }
    if (kind_ == config::Balance::kRoundRobin) {
        round_robin_.emplace(weights);
    } else if (kind_ == config::Balance::kMaglev) {
        maglev_.emplace(names, weights);
    }
}

template <class Usable>
std::int64_t Balancer::least_loaded(Usable usable) noexcept {
    // Ties are broken uniformly at random (reservoir sampling over the equally loaded), so a
    // backend's share does not depend on its position next to a busy one.
    std::int64_t best = -1;
    std::uint64_t ties = 0;
    for (std::size_t i = 0; i < backends_.size(); ++i) {
        if (!usable(i)) {
            continue;
        }
        if (best < 0 || less_loaded(backends_[i], backends_[static_cast<std::size_t>(best)])) {
            best = static_cast<std::int64_t>(i);
            ties = 1;
        } else if (
                !less_loaded(backends_[static_cast<std::size_t>(best)], backends_[i])
                && next_random() % ++ties == 0) {
            best = static_cast<std::int64_t>(i);
        }
    }
    return best;
}

template <class Usable>
std::int64_t Balancer::power_of_two(Usable usable) noexcept {
    const std::size_t n = backends_.size();
    if (n >= 2) {
        const std::size_t a = next_random() % n;
        const std::size_t b = (a + 1 + next_random() % (n - 1)) % n;  // distinct from a
        if (usable(a) && usable(b)) {
            return static_cast<std::int64_t>(less_loaded(backends_[b], backends_[a]) ? b : a);
        }
    }
    return least_loaded(usable);  // one of the two is out (or n == 1): scan instead
}

template <class Usable>
std::int64_t Balancer::pick_with(const core::SocketAddress& client, Usable usable) noexcept {
    switch (kind_) {
        case config::Balance::kRoundRobin:
            return round_robin_->pick(usable);
        case config::Balance::kLeastConn:
            return least_loaded(usable);
        case config::Balance::kP2c:
            return power_of_two(usable);
        case config::Balance::kMaglev:
            return maglev_->lookup_usable(client_key(client), usable);
    }
    return -1;
}

std::int64_t
Balancer::pick(const core::SocketAddress& client, std::span<const std::uint32_t> tried) noexcept {
    const std::int64_t now = coarse_now_ns();
    auto available = [this, now](std::size_t i) {
        return backends_[i].usable(now);
    };
    auto untried = [&](std::size_t i) {
        return available(i) && std::find(tried.begin(), tried.end(), i) == tried.end();
    };
    auto warmed = [&](std::size_t i) {
        if (!untried(i)) {
            return false;
        }
        const std::int64_t since = backends_[i].state->up_since_ns.load(std::memory_order_relaxed);
        if (slow_start_ns_ == 0 || since == 0 || now - since >= slow_start_ns_) {
            return true;
        }
        // Slow start: offered with probability (time since it joined) / slow_start, which
        // scales its share of new connections under every algorithm alike.
        const auto draw = static_cast<std::int64_t>(
                next_random() % static_cast<std::uint64_t>(slow_start_ns_));
        return draw < now - since;
    };
    if (const std::int64_t p = pick_with(client, warmed); p >= 0) {
        return p;
    }
    // Only slow-starting backends were left, or every available one was tried: go on with
    // what there is rather than turn the client away.
    if (const std::int64_t p = pick_with(client, untried); p >= 0 || tried.empty()) {
        return p;
    }
    return pick_with(client, available);
}

}  // namespace ringlb::daemon
