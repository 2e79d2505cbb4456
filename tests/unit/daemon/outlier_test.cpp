// SPDX-License-Identifier: MIT
// Pool's passive ejection (config `outlier`): the consecutive-failure threshold, the reset on
// success, the max_ejection_percent cap and the doubling back-off; and slow start, which offers
// a backend that just joined almost no connections unless it is the only one left.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "core/net/address.hpp"
#include "daemon/backend.hpp"
#include "daemon/pool.hpp"

namespace ringlb::daemon {
namespace {

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kSecond = 1'000 * kMs;
constexpr std::uint32_t kBaseEjectionMs = 60'000;

const core::SocketAddress kClient = core::SocketAddress::loopback_v4(40000);

config::Pool pool_config(std::size_t n, std::optional<config::Outlier> outlier) {
    config::Pool cfg;
    cfg.name = "web";
    cfg.balance = config::Balance::kRoundRobin;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string address = "10.0.0." + std::to_string(i + 1) + ":80";
        auto resolved = core::SocketAddress::parse(address);
        EXPECT_TRUE(resolved.has_value()) << address;
        cfg.backends.push_back({address, resolved.value(), 1});
    }
    cfg.outlier = outlier;
    return cfg;
}

/// Four backends; three failures in a row eject for 60 s, at most half of them at once.
std::shared_ptr<const Pool> four_backends() {
    return Pool::from_config(
            pool_config(4, config::Outlier{3, kBaseEjectionMs, 50}), nullptr, false);
}

void fail(const Pool& pool, std::size_t i, int times) {
    for (int k = 0; k < times; ++k) {
        pool.report_connect_failure(i);
    }
}

bool is_ejected(const Pool& pool, std::size_t i) {
    return pool.backend(i).state->ejected(coarse_now_ns());
}

/// How long backend `i` stays ejected from now.
std::int64_t ejected_for_ns(const Pool& pool, std::size_t i) {
    return pool.backend(i).state->ejected_until_ns.load() - coarse_now_ns();
}

/// Ends the current ejection of backend `i` as if its time had passed.
void expire(const Pool& pool, std::size_t i) {
    pool.backend(i).state->ejected_until_ns.store(0);
}

/// How often each backend is picked in `picks` picks (index size(): none available).
std::vector<int> count_picks(const Pool& pool, int picks) {
    std::vector<int> counts(pool.size() + 1, 0);
    for (int k = 0; k < picks; ++k) {
        const std::int64_t p = pool.pick(kClient, {});
        EXPECT_GE(p, -1);
        EXPECT_LT(p, static_cast<std::int64_t>(pool.size()));
        counts[p < 0 ? pool.size() : static_cast<std::size_t>(p)]++;
    }
    return counts;
}

// ---- passive ejection ----

TEST(PoolEjection, FewerFailuresThanTheThresholdDoNotEject) {
    const auto pool = four_backends();
    fail(*pool, 1, 2);
    EXPECT_FALSE(is_ejected(*pool, 1));
    EXPECT_TRUE(pool->backend(1).usable(coarse_now_ns()));
    EXPECT_EQ(pool->backend(1).state->consecutive_failures.load(), 2U);
    EXPECT_EQ(pool->backend(1).state->ejections.load(), 0U);
}

TEST(PoolEjection, TheThresholdEjects) {
    const auto pool = four_backends();
    fail(*pool, 1, 3);
    EXPECT_TRUE(is_ejected(*pool, 1));
    EXPECT_FALSE(pool->backend(1).usable(coarse_now_ns()));
    EXPECT_EQ(pool->backend(1).state->ejections.load(), 1U);
    EXPECT_EQ(pool->backend(1).state->consecutive_failures.load(), 0U);
    // Slow start begins when the ejection ends.
    EXPECT_EQ(
            pool->backend(1).state->up_since_ns.load(),
            pool->backend(1).state->ejected_until_ns.load());
    // The others are untouched.
    for (std::size_t i : {0U, 2U, 3U}) {
        EXPECT_FALSE(is_ejected(*pool, i)) << i;
    }
}

TEST(PoolEjection, AnEjectedBackendIsNeverPicked) {
    const auto pool = four_backends();
    fail(*pool, 2, 3);
    ASSERT_TRUE(is_ejected(*pool, 2));
    const auto counts = count_picks(*pool, 300);
    EXPECT_EQ(counts[2], 0);
    EXPECT_EQ(counts[4], 0) << "no backend available";
    EXPECT_EQ(counts[0] + counts[1] + counts[3], 300);
    for (std::size_t i : {0U, 1U, 3U}) {
        EXPECT_GT(counts[i], 0) << i;
    }
    // Nor on a retry that has tried every other one.
    const std::uint32_t tried[] = {0, 1, 3};
    EXPECT_NE(pool->pick(kClient, tried), 2);
}

TEST(PoolEjection, ASuccessResetsTheCount) {
    const auto pool = four_backends();
    fail(*pool, 0, 2);
    pool->report_connect_success(0);
    EXPECT_EQ(pool->backend(0).state->consecutive_failures.load(), 0U);
    fail(*pool, 0, 2);
    EXPECT_FALSE(is_ejected(*pool, 0));
    pool->report_connect_success(0);
    fail(*pool, 0, 2);
    EXPECT_FALSE(is_ejected(*pool, 0));
    fail(*pool, 0, 1);  // the third in a row
    EXPECT_TRUE(is_ejected(*pool, 0));
}

TEST(PoolEjection, FailuresOfOtherBackendsDoNotAddUp) {
    const auto pool = four_backends();
    fail(*pool, 0, 2);
    fail(*pool, 1, 2);
    fail(*pool, 2, 2);
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_FALSE(is_ejected(*pool, i)) << i;
    }
}

TEST(PoolEjection, AtMostMaxEjectionPercentAreEjected) {
    const auto pool = four_backends();
    fail(*pool, 0, 3);
    fail(*pool, 1, 3);
    ASSERT_TRUE(is_ejected(*pool, 0));
    ASSERT_TRUE(is_ejected(*pool, 1));
    // A third would be 75% of the pool: it is kept.
    fail(*pool, 2, 3);
    EXPECT_FALSE(is_ejected(*pool, 2));
    EXPECT_TRUE(pool->backend(2).usable(coarse_now_ns()));
    fail(*pool, 3, 10);
    EXPECT_FALSE(is_ejected(*pool, 3));
    const auto counts = count_picks(*pool, 100);
    EXPECT_EQ(counts[2] + counts[3], 100);

    // Once an ejection ends there is room again.
    expire(*pool, 0);
    fail(*pool, 2, 3);
    EXPECT_TRUE(is_ejected(*pool, 2));
    EXPECT_FALSE(is_ejected(*pool, 3));
}

TEST(PoolEjection, TheBackOffDoubles) {
    const auto pool = four_backends();
    fail(*pool, 0, 3);
    ASSERT_TRUE(is_ejected(*pool, 0));
    const std::int64_t first = ejected_for_ns(*pool, 0);
    EXPECT_LE(first, kBaseEjectionMs * kMs);
    EXPECT_GT(first, kBaseEjectionMs * kMs / 2);

    expire(*pool, 0);
    ASSERT_FALSE(is_ejected(*pool, 0));
    fail(*pool, 0, 3);
    ASSERT_TRUE(is_ejected(*pool, 0));
    const std::int64_t second = ejected_for_ns(*pool, 0);
    EXPECT_GT(second, 100 * kSecond);
    EXPECT_LE(second, 2 * kBaseEjectionMs * kMs);

    expire(*pool, 0);
    fail(*pool, 0, 3);
    const std::int64_t third = ejected_for_ns(*pool, 0);
    EXPECT_GT(third, 200 * kSecond);
    EXPECT_LE(third, 4 * kBaseEjectionMs * kMs);
    EXPECT_EQ(pool->backend(0).state->ejections.load(), 3U);
}

TEST(PoolEjection, TheBackOffStopsAt32TimesTheBase) {
    const auto pool = four_backends();
    for (int round = 0; round < 10; ++round) {
        expire(*pool, 0);
        fail(*pool, 0, 3);
        ASSERT_TRUE(is_ejected(*pool, 0)) << round;
    }
    const std::int64_t last = ejected_for_ns(*pool, 0);
    EXPECT_GT(last, 16 * kBaseEjectionMs * kMs);
    EXPECT_LE(last, 32 * kBaseEjectionMs * kMs);
}

TEST(PoolEjection, ASuccessSoonAfterAnEjectionKeepsTheBackOff) {
    const auto pool = four_backends();
    fail(*pool, 0, 3);
    // The ejection has just ended and the backend connects again: still on probation.
    pool->backend(0).state->ejected_until_ns.store(coarse_now_ns() - 1);
    pool->report_connect_success(0);
    EXPECT_EQ(pool->backend(0).state->ejections.load(), 1U);
    fail(*pool, 0, 3);
    EXPECT_GT(ejected_for_ns(*pool, 0), 100 * kSecond);
}

TEST(PoolEjection, ASuccessLongAfterAnEjectionStartsTheBackOffAfresh) {
    const auto pool = four_backends();
    fail(*pool, 0, 3);
    // The ejection ended two base periods ago.
    pool->backend(0).state->ejected_until_ns.store(coarse_now_ns() - 2 * kBaseEjectionMs * kMs);
    pool->report_connect_success(0);
    EXPECT_EQ(pool->backend(0).state->ejections.load(), 0U);
    fail(*pool, 0, 3);
    EXPECT_LE(ejected_for_ns(*pool, 0), kBaseEjectionMs * kMs);
}

TEST(PoolEjection, WithoutOutlierNothingIsEjected) {
    const auto pool = Pool::from_config(pool_config(4, std::nullopt), nullptr, false);
    for (std::size_t i = 0; i < 4; ++i) {
        fail(*pool, i, 100);
        EXPECT_FALSE(is_ejected(*pool, i)) << i;
        EXPECT_TRUE(pool->backend(i).usable(coarse_now_ns())) << i;
        EXPECT_EQ(pool->backend(i).state->ejections.load(), 0U) << i;
    }
    const auto counts = count_picks(*pool, 400);
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(counts[i], 100) << i;
    }
}

TEST(PoolEjection, EjectionIsSharedWithTheNextSnapshot) {
    const auto pool = four_backends();
    fail(*pool, 1, 3);
    const auto next = pool->with_weight(0, 5);
    EXPECT_TRUE(is_ejected(*next, 1));
    const auto reloaded = Pool::from_config(
            pool_config(4, config::Outlier{3, kBaseEjectionMs, 50}), pool.get(), true);
    EXPECT_TRUE(is_ejected(*reloaded, 1));
}

// ---- slow start ----

/// Two round-robin backends, slow start over 1000 s; backend 1 has just joined.
std::shared_ptr<const Pool> one_just_joined() {
    config::Pool cfg = pool_config(2, std::nullopt);
    cfg.slow_start_ms = 1'000'000;
    auto pool = Pool::from_config(cfg, nullptr, false);
    pool->backend(1).state->up_since_ns.store(coarse_now_ns());
    return pool;
}

TEST(PoolSlowStart, AJustJoinedBackendGetsAlmostNothing) {
    const auto pool = one_just_joined();
    const auto counts = count_picks(*pool, 1000);
    EXPECT_LT(counts[1], 50);
    EXPECT_EQ(counts[2], 0) << "no backend available";
    EXPECT_EQ(counts[0] + counts[1], 1000);
}

TEST(PoolSlowStart, AJustJoinedBackendIsUsedWhenItIsTheOnlyOne) {
    const auto pool = one_just_joined();
    pool->backend(0).state->healthy.store(false);
    const auto counts = count_picks(*pool, 1000);
    EXPECT_EQ(counts[1], 1000);
    EXPECT_EQ(counts[2], 0) << "no backend available";
}

TEST(PoolSlowStart, AfterSlowStartTheShareIsFull) {
    const auto pool = one_just_joined();
    // Joined before the slow start period.
    pool->backend(1).state->up_since_ns.store(coarse_now_ns() - 1'001 * kSecond);
    const auto counts = count_picks(*pool, 1000);
    EXPECT_EQ(counts[0], 500);
    EXPECT_EQ(counts[1], 500);
}

TEST(PoolSlowStart, ANewBackendInAReloadSlowStarts) {
    config::Pool cfg = pool_config(1, std::nullopt);
    cfg.slow_start_ms = 1'000'000;
    const auto first = Pool::from_config(cfg, nullptr, false);
    EXPECT_EQ(first->backend(0).state->up_since_ns.load(), 0);

    cfg = pool_config(2, std::nullopt);
    cfg.slow_start_ms = 1'000'000;
    const auto reloaded = Pool::from_config(cfg, first.get(), true);
    EXPECT_EQ(reloaded->backend(0).state, first->backend(0).state);  // kept, not restarted
    EXPECT_EQ(reloaded->backend(0).state->up_since_ns.load(), 0);
    EXPECT_NE(reloaded->backend(1).state->up_since_ns.load(), 0);
    const auto counts = count_picks(*reloaded, 1000);
    EXPECT_LT(counts[1], 50);
}

}  // namespace
}  // namespace ringlb::daemon
