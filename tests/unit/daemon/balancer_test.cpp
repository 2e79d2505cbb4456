// SPDX-License-Identifier: MIT
// Balancer and its parts: nginx's smooth weighted order, weighted round robin, least_conn,
// power of two choices, Maglev's shares and consistency, and the rules every algorithm obeys
// (skip unavailable backends, avoid the ones already tried while another is available).
#include "daemon/balance/balancer.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/net/address.hpp"
#include "daemon/backend.hpp"
#include "daemon/balance/maglev_table.hpp"
#include "daemon/balance/smooth_round_robin.hpp"

namespace ringlb::daemon {
namespace {

using config::Balance;

core::SocketAddress addr(const std::string& text) {
    auto r = core::SocketAddress::parse(text);
    EXPECT_TRUE(r.has_value()) << text;
    return r.value();
}

std::string backend_name(int n) {
    return "10.0.0." + std::to_string(n) + ":80";
}

/// Backends named 10.0.0.1:80, 10.0.0.2:80, ... with the given weights. pool[i] is the
/// backend's live state (active count, health) shared with the balancer's entries.
struct Pool {
    explicit Pool(const std::vector<std::uint32_t>& weights) {
        for (std::size_t i = 0; i < weights.size(); ++i) {
            const std::string name = backend_name(static_cast<int>(i) + 1);
            entries.push_back(
                    {name,
                     addr(name),
                     weights[i],
                     AdminState::kEnabled,
                     std::make_shared<BackendState>()});
        }
    }
    std::span<const BackendEntry> ptrs() const { return entries; }
    BackendState& operator[](std::size_t i) { return *entries[i].state; }
    std::size_t size() const { return entries.size(); }

    std::vector<BackendEntry> entries;
};

/// The i-th of a deterministic set of distinct client addresses.
core::SocketAddress client(int i) {
    return addr(
            "192.0.2." + std::to_string(i % 250) + ":" + std::to_string(10000 + i / 250 % 50000));
}

const core::SocketAddress kClient = core::SocketAddress::loopback_v4(40000);

std::vector<int> count_picks(Balancer& b, std::size_t n, int picks) {
    std::vector<int> counts(n, 0);
    for (int i = 0; i < picks; ++i) {
        const std::int64_t p = b.pick(client(i), {});
        EXPECT_GE(p, 0);
        EXPECT_LT(p, static_cast<std::int64_t>(n));
        if (p >= 0 && p < static_cast<std::int64_t>(n)) {
            ++counts[static_cast<std::size_t>(p)];
        }
    }
    return counts;
}

// ---- smooth_weighted_sequence ----

TEST(SmoothWeightedSequence, FiveOneOneGivesNginxsDocumentedOrder) {
    const std::vector<std::uint32_t> w{5, 1, 1};
    const std::vector<std::uint32_t> expected{0, 0, 1, 0, 2, 0, 0};  // a,a,b,a,c,a,a
    EXPECT_EQ(smooth_weighted_sequence(w), expected);
}

TEST(SmoothWeightedSequence, PeriodIsTheSumAndEachIndexAppearsWeightTimes) {
    const std::vector<std::vector<std::uint32_t>> cases{
            {1}, {1, 2}, {3, 1, 1}, {5, 1, 1}, {7, 3, 2, 1}, {1, 1, 1, 1}, {100, 1}, {4, 4, 9}};
    for (const auto& w : cases) {
        const std::vector<std::uint32_t> seq = smooth_weighted_sequence(w);
        const auto total = std::accumulate(w.begin(), w.end(), std::size_t{0});
        ASSERT_EQ(seq.size(), total);
        std::vector<std::uint32_t> counts(w.size(), 0);
        for (std::uint32_t i : seq) {
            ASSERT_LT(i, w.size());
            ++counts[i];
        }
        EXPECT_EQ(counts, w);
    }
}

TEST(SmoothWeightedSequence, EqualWeightsNeverRepeatAnIndexInARow) {
    const std::vector<std::uint32_t> w{1, 1, 1, 1, 1};
    const std::vector<std::uint32_t> seq = smooth_weighted_sequence(w);
    ASSERT_EQ(seq.size(), 5u);
    EXPECT_EQ(std::set<std::uint32_t>(seq.begin(), seq.end()).size(), 5u);
}

TEST(SmoothRoundRobin, NoUsableIndexGivesMinusOne) {
    const std::vector<std::uint32_t> w{2, 1};
    SmoothRoundRobin rr(w);
    EXPECT_EQ(rr.pick([](std::size_t) { return false; }), -1);
    EXPECT_EQ(rr.pick([](std::size_t i) { return i == 1; }), 1);
}

// ---- round robin ----

void expect_weighted_counts(const std::vector<std::uint32_t>& weights) {
    Pool pool(weights);
    Balancer b(Balance::kRoundRobin, pool.ptrs());
    constexpr int kPicks = 1000;
    const std::vector<int> counts = count_picks(b, pool.size(), kPicks);
    const double sum = std::accumulate(weights.begin(), weights.end(), 0.0);
    for (std::size_t i = 0; i < weights.size(); ++i) {
        const double expected = kPicks * weights[i] / sum;
        EXPECT_NEAR(counts[i], expected, 1.0)
                << "backend " << i << " of weights " << ::testing::PrintToString(weights);
    }
}

TEST(BalancerRoundRobin, OneTwoSharesFollowTheWeightsWithinOne) {
    expect_weighted_counts({1, 2});
}

TEST(BalancerRoundRobin, ThreeOneOneSharesFollowTheWeightsWithinOne) {
    expect_weighted_counts({3, 1, 1});
}

TEST(BalancerRoundRobin, UnevenWeightsShareFollowTheWeightsWithinOne) {
    expect_weighted_counts({7, 3, 2, 1});
}

TEST(BalancerRoundRobin, AWeightOneBackendIsNeverPickedTwiceInARow) {
    for (const std::vector<std::uint32_t>& w :
         {std::vector<std::uint32_t>{3, 1, 1}, std::vector<std::uint32_t>{1, 1, 1}}) {
        Pool pool(w);
        Balancer b(Balance::kRoundRobin, pool.ptrs());
        std::int64_t prev = -1;
        for (int i = 0; i < 1000; ++i) {
            const std::int64_t p = b.pick(kClient, {});
            ASSERT_GE(p, 0);
            if (w[static_cast<std::size_t>(p)] == 1) {
                EXPECT_NE(p, prev) << "pick " << i << " of weights " << ::testing::PrintToString(w);
            }
            prev = p;
        }
    }
}

TEST(BalancerRoundRobin, EqualWeightsRotateThroughEveryBackend) {
    Pool pool({1, 1, 1});
    Balancer b(Balance::kRoundRobin, pool.ptrs());
    for (int round = 0; round < 10; ++round) {
        std::set<std::int64_t> seen;
        for (int i = 0; i < 3; ++i) {
            seen.insert(b.pick(kClient, {}));
        }
        EXPECT_EQ(seen, (std::set<std::int64_t>{0, 1, 2})) << "round " << round;
    }
}

// ---- rules every algorithm obeys ----

class EveryAlgorithm : public ::testing::TestWithParam<Balance> {};

TEST_P(EveryAlgorithm, AnUnavailableBackendIsNeverPicked) {
    Pool pool({1, 2, 1, 1});
    pool[1].healthy = false;
    Balancer b(GetParam(), pool.ptrs());
    std::set<std::int64_t> seen;
    for (int i = 0; i < 2000; ++i) {
        const std::int64_t p = b.pick(client(i), {});
        ASSERT_GE(p, 0);
        ASSERT_NE(p, 1) << "pick " << i;
        seen.insert(p);
    }
    EXPECT_EQ(seen, (std::set<std::int64_t>{0, 2, 3}));
}

TEST_P(EveryAlgorithm, OnlyTheAvailableBackendIsPicked) {
    Pool pool({1, 1, 1});
    pool[0].healthy = false;
    pool[2].healthy = false;
    Balancer b(GetParam(), pool.ptrs());
    for (int i = 0; i < 200; ++i) {
        EXPECT_EQ(b.pick(client(i), {}), 1);
    }
}

TEST_P(EveryAlgorithm, AllUnavailableGivesMinusOne) {
    Pool pool({1, 2, 3});
    for (std::size_t i = 0; i < pool.size(); ++i) {
        pool[i].healthy = false;
    }
    Balancer b(GetParam(), pool.ptrs());
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(b.pick(client(i), {}), -1);
        const std::uint32_t tried[] = {0};
        EXPECT_EQ(b.pick(client(i), tried), -1);
    }
}

TEST_P(EveryAlgorithm, ATriedBackendIsAvoidedWhileAnotherIsAvailable) {
    Pool pool({1, 1, 1});
    Balancer b(GetParam(), pool.ptrs());
    for (std::uint32_t t = 0; t < 3; ++t) {
        const std::uint32_t tried[] = {t};
        for (int i = 0; i < 500; ++i) {
            const std::int64_t p = b.pick(client(i), tried);
            ASSERT_GE(p, 0);
            ASSERT_NE(p, static_cast<std::int64_t>(t)) << "pick " << i;
        }
    }
}

TEST_P(EveryAlgorithm, TwoTriedLeaveTheThird) {
    Pool pool({1, 1, 1});
    Balancer b(GetParam(), pool.ptrs());
    const std::uint32_t tried[] = {2, 0};
    for (int i = 0; i < 300; ++i) {
        EXPECT_EQ(b.pick(client(i), tried), 1);
    }
}

TEST_P(EveryAlgorithm, ATriedBackendIsAvoidedEvenWhenAnotherIsDown) {
    Pool pool({1, 1, 1});
    pool[1].healthy = false;
    Balancer b(GetParam(), pool.ptrs());
    const std::uint32_t tried[] = {0};
    for (int i = 0; i < 300; ++i) {
        EXPECT_EQ(b.pick(client(i), tried), 2);
    }
}

TEST_P(EveryAlgorithm, WhenEveryAvailableBackendWasTriedItGoesRoundAgain) {
    Pool pool({1, 1, 1});
    pool[2].healthy = false;
    Balancer b(GetParam(), pool.ptrs());
    const std::uint32_t tried[] = {0, 1};
    for (int i = 0; i < 300; ++i) {
        const std::int64_t p = b.pick(client(i), tried);
        EXPECT_TRUE(p == 0 || p == 1) << p;
    }
    const std::uint32_t all[] = {0, 1, 2};
    pool[2].healthy = true;
    for (int i = 0; i < 300; ++i) {
        const std::int64_t p = b.pick(client(i), all);
        EXPECT_GE(p, 0);
        EXPECT_LT(p, 3);
    }
}

TEST_P(EveryAlgorithm, ASingleBackendIsAlwaysPicked) {
    Pool pool({4});
    Balancer b(GetParam(), pool.ptrs());
    EXPECT_EQ(b.kind(), GetParam());
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(b.pick(client(i), {}), 0);
    }
    const std::uint32_t tried[] = {0};
    EXPECT_EQ(b.pick(kClient, tried), 0);  // tried, but the only one: go round again
}

INSTANTIATE_TEST_SUITE_P(
        Balancer,
        EveryAlgorithm,
        ::testing::Values(
                Balance::kRoundRobin, Balance::kLeastConn, Balance::kP2c, Balance::kMaglev),
        [](const ::testing::TestParamInfo<Balance>& info) {
            switch (info.param) {
                case Balance::kRoundRobin:
                    return "RoundRobin";
                case Balance::kLeastConn:
                    return "LeastConn";
                case Balance::kP2c:
                    return "P2c";
                case Balance::kMaglev:
                    return "Maglev";
            }
            return "Unknown";
        });

// ---- least_conn ----

TEST(BalancerLeastConn, PicksTheBackendWithFewestActive) {
    Pool pool({1, 1, 1});
    pool[0].active = 5;
    pool[2].active = 5;
    Balancer b(Balance::kLeastConn, pool.ptrs());
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(b.pick(client(i), {}), 1);
    }
}

TEST(BalancerLeastConn, ComparesActivePerWeight) {
    // 8/4 = 2 per weight against 3/1 = 3: the busier backend by count wins by weight.
    Pool pool({4, 1});
    pool[0].active = 8;
    pool[1].active = 3;
    Balancer b(Balance::kLeastConn, pool.ptrs());
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(b.pick(client(i), {}), 0);
    }
    pool[1].active = 1;  // 1/1 < 2
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(b.pick(client(i), {}), 1);
    }
}

TEST(BalancerLeastConn, TiesAreSharedEvenlyAmongTheEquallyLoaded) {
    Pool pool({1, 1, 1, 1});
    pool[1].active = 3;  // 0, 2 and 3 tie at zero; 2 sits right after the busy one
    Balancer b(Balance::kLeastConn, pool.ptrs());
    const std::vector<int> counts = count_picks(b, pool.size(), 3000);
    EXPECT_EQ(counts[1], 0);
    for (std::size_t i : {0u, 2u, 3u}) {
        // 1000 expected each (sd ~26): a position-biased tie-break gives 750/1500/750.
        EXPECT_GE(counts[i], 850) << "tied backend " << i;
        EXPECT_LE(counts[i], 1150) << "tied backend " << i;
    }
}

TEST(BalancerLeastConn, AllEqualSpreadsOverEveryBackend) {
    Pool pool({1, 1, 1});
    Balancer b(Balance::kLeastConn, pool.ptrs());
    const std::vector<int> counts = count_picks(b, pool.size(), 300);
    for (std::size_t i = 0; i < counts.size(); ++i) {
        EXPECT_GE(counts[i], 50) << "backend " << i;
    }
}

// ---- p2c ----

TEST(BalancerP2c, OfTwoAlwaysPicksTheLessLoaded) {
    Pool pool({1, 1});
    pool[0].active = 7;
    pool[1].active = 2;
    Balancer b(Balance::kP2c, pool.ptrs());
    for (int i = 0; i < 1000; ++i) {
        ASSERT_EQ(b.pick(client(i), {}), 1) << "pick " << i;
    }
    pool[0].active = 1;
    for (int i = 0; i < 1000; ++i) {
        ASSERT_EQ(b.pick(client(i), {}), 0) << "pick " << i;
    }
}

TEST(BalancerP2c, TheMostLoadedOfTenIsNeverPicked) {
    Pool pool(std::vector<std::uint32_t>(10, 1));
    for (std::size_t i = 0; i < pool.size(); ++i) {
        pool[i].active = static_cast<std::int64_t>(i % 3);
    }
    pool[6].active = 1'000'000;
    Balancer b(Balance::kP2c, pool.ptrs());
    const std::vector<int> counts = count_picks(b, pool.size(), 10'000);
    EXPECT_EQ(counts[6], 0);
}

TEST(BalancerP2c, EqualLoadsSpreadOverEveryBackend) {
    Pool pool(std::vector<std::uint32_t>(10, 1));
    Balancer b(Balance::kP2c, pool.ptrs());
    const std::vector<int> counts = count_picks(b, pool.size(), 10'000);
    for (std::size_t i = 0; i < counts.size(); ++i) {
        // Expected 1,000 each; binomial sd ~30, so 600 fails only when the choice is broken.
        EXPECT_GE(counts[i], 600) << "backend " << i;
    }
}

TEST(BalancerP2c, PrefersTheLighterBackendOverall) {
    // The less loaded of two random picks: the idle backend wins every pair it is in.
    Pool pool(std::vector<std::uint32_t>(5, 1));
    for (std::size_t i = 0; i < pool.size(); ++i) {
        pool[i].active = 10;
    }
    pool[3].active = 0;
    Balancer b(Balance::kP2c, pool.ptrs());
    const std::vector<int> counts = count_picks(b, pool.size(), 10'000);
    // It is in 2 of every 5 pairs (4,000 expected); a uniform choice would give 2,000.
    EXPECT_GE(counts[3], 3'500);
}

// ---- Maglev ----

std::vector<std::string> names_of(int n) {
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i) {
        names.push_back(backend_name(i + 1));
    }
    return names;
}

std::vector<std::size_t> table_shares(const MaglevTable& t, std::size_t n) {
    std::vector<std::size_t> shares(n, 0);
    for (std::uint64_t k = 0; k < t.size(); ++k) {
        const std::uint32_t i = t.lookup(k);
        EXPECT_LT(i, n);
        if (i < n) {
            ++shares[i];
        }
    }
    return shares;
}

TEST(MaglevTable, EqualWeightsGetRoughlyEqualShares) {
    const std::vector<std::string> names = names_of(10);
    const std::vector<std::uint32_t> weights(10, 1);
    const MaglevTable t(names, weights, 65537);
    ASSERT_EQ(t.size(), 65537u);
    const std::vector<std::size_t> shares = table_shares(t, 10);
    const double fair = 65537.0 / 10;
    for (std::size_t i = 0; i < shares.size(); ++i) {
        EXPECT_GE(shares[i], 0.8 * fair) << names[i];
        EXPECT_LE(shares[i], 1.2 * fair) << names[i];
    }
}

TEST(MaglevTable, AWeightTwoBackendGetsTwiceTheEntries) {
    const std::vector<std::string> names = names_of(10);
    std::vector<std::uint32_t> weights(10, 1);
    weights[4] = 2;
    const MaglevTable t(names, weights, 65537);
    const std::vector<std::size_t> shares = table_shares(t, 10);
    const double unit = 65537.0 / 11;
    EXPECT_GE(shares[4], 0.8 * 2 * unit);
    EXPECT_LE(shares[4], 1.2 * 2 * unit);
    for (std::size_t i = 0; i < shares.size(); ++i) {
        if (i != 4) {
            EXPECT_GE(shares[i], 0.8 * unit) << names[i];
            EXPECT_LE(shares[i], 1.2 * unit) << names[i];
        }
    }
}

TEST(MaglevTable, EveryEntryIsFilledForASmallPrimeSize) {
    const std::vector<std::string> names = names_of(3);
    const std::vector<std::uint32_t> weights{1, 2, 3};
    const MaglevTable t(names, weights, 13);
    ASSERT_EQ(t.size(), 13u);
    const std::vector<std::size_t> shares = table_shares(t, 3);
    EXPECT_EQ(shares[0] + shares[1] + shares[2], 13u);
    for (std::size_t s : shares) {
        EXPECT_GT(s, 0u);
    }
}

TEST(MaglevTable, TheSameNamesBuildTheSameTable) {
    const std::vector<std::string> names = names_of(7);
    const std::vector<std::uint32_t> weights(7, 1);
    const MaglevTable a(names, weights);
    const MaglevTable b(names, weights);
    for (std::uint64_t k = 0; k < a.size(); ++k) {
        ASSERT_EQ(a.lookup(k), b.lookup(k)) << k;
    }
}

/// How many of `keys` map to a different backend name after backend #3 (10.0.0.4) is removed
/// from ten, and how many were on it.
struct Disruption {
    std::size_t moved = 0;
    std::size_t on_removed = 0;
};

Disruption remove_one_of_ten(const std::vector<std::uint64_t>& keys) {
    const std::vector<std::string> before_names = names_of(10);
    std::vector<std::string> after_names = before_names;
    after_names.erase(after_names.begin() + 3);  // indices of the later ones shift down
    const MaglevTable before(before_names, std::vector<std::uint32_t>(10, 1));
    const MaglevTable after(after_names, std::vector<std::uint32_t>(9, 1));
    Disruption d;
    for (std::uint64_t k : keys) {
        const std::string& was = before_names[before.lookup(k)];
        const std::string& now = after_names[after.lookup(k)];
        EXPECT_NE(now, before_names[3]);
        if (was == before_names[3]) {
            ++d.on_removed;
        }
        if (was != now) {
            ++d.moved;
        }
    }
    return d;
}

TEST(MaglevTable, RemovingOneOfTenMovesLittleMoreThanItsKeys) {
    std::vector<std::uint64_t> keys;
    for (int i = 0; i < 10'000; ++i) {
        const std::string k = "client-" + std::to_string(i);
        keys.push_back(hash_bytes(k.data(), k.size()));
    }
    const Disruption d = remove_one_of_ten(keys);
    EXPECT_GE(d.on_removed, 700u);  // ~1,000
    EXPECT_LE(d.on_removed, 1300u);
    EXPECT_GE(d.moved, d.on_removed);  // every key of the removed backend moves
    EXPECT_LE(d.moved, 1500u) << "more than 15% of the keys moved";
}

TEST(MaglevTable, RemovingOneOfTenMovesFewRandomIpv4Clients) {
    std::mt19937 rng(12345);
    std::vector<std::uint64_t> keys;
    for (int i = 0; i < 10'000; ++i) {
        const std::uint32_t ip = rng();
        keys.push_back(hash_bytes(&ip, sizeof ip));
    }
    const Disruption d = remove_one_of_ten(keys);
    EXPECT_GE(d.on_removed, 700u);
    EXPECT_LE(d.on_removed, 1300u);
    EXPECT_GE(d.moved, d.on_removed);
    EXPECT_LE(d.moved, 1500u) << "more than 15% of the keys moved";
}

TEST(MaglevTable, LookupUsableSkipsToTheNextUsableEntry) {
    const std::vector<std::string> names = names_of(4);
    const MaglevTable t(names, std::vector<std::uint32_t>(4, 1));
    for (std::uint64_t k = 0; k < 2000; ++k) {
        const std::uint32_t home = t.lookup(k);
        EXPECT_EQ(t.lookup_usable(k, [](std::size_t) { return true; }), home);
        const std::int64_t other = t.lookup_usable(k, [&](std::size_t i) { return i != home; });
        EXPECT_GE(other, 0);
        EXPECT_NE(other, static_cast<std::int64_t>(home));
    }
    EXPECT_EQ(t.lookup_usable(7, [](std::size_t) { return false; }), -1);
}

TEST(HashBytes, IsDeterministicAndDependsOnSeedAndEveryByte) {
    const std::string a = "client-1";
    const std::string b = "client-2";
    EXPECT_EQ(hash_bytes(a.data(), a.size()), hash_bytes(a.data(), a.size()));
    EXPECT_NE(hash_bytes(a.data(), a.size()), hash_bytes(b.data(), b.size()));
    EXPECT_NE(hash_bytes(a.data(), a.size(), 1), hash_bytes(a.data(), a.size(), 2));
}

TEST(ClientKey, IgnoresThePort) {
    EXPECT_EQ(client_key(addr("198.51.100.7:1234")), client_key(addr("198.51.100.7:65000")));
    EXPECT_EQ(client_key(addr("[2001:db8::1]:80")), client_key(addr("[2001:db8::1]:443")));
}

TEST(ClientKey, DiffersBetweenAddresses) {
    EXPECT_NE(client_key(addr("198.51.100.7:1234")), client_key(addr("198.51.100.8:1234")));
    EXPECT_NE(client_key(addr("[2001:db8::1]:80")), client_key(addr("[2001:db8::2]:80")));
    std::set<std::uint64_t> keys;
    for (int i = 0; i < 250; ++i) {
        keys.insert(client_key(client(i)));
    }
    EXPECT_EQ(keys.size(), 250u);
}

TEST(BalancerMaglev, TheSameClientIpAlwaysMapsToTheSameBackend) {
    Pool pool(std::vector<std::uint32_t>(10, 1));
    Balancer b(Balance::kMaglev, pool.ptrs());
    std::set<std::int64_t> used;
    for (int ip = 0; ip < 200; ++ip) {
        const std::string host = "203.0.113." + std::to_string(ip);
        const std::int64_t first = b.pick(addr(host + ":1000"), {});
        ASSERT_GE(first, 0);
        used.insert(first);
        for (int port = 1001; port < 1050; ++port) {
            ASSERT_EQ(b.pick(addr(host + ":" + std::to_string(port)), {}), first)
                    << host << ":" << port;
        }
    }
    EXPECT_GE(used.size(), 8u) << "200 clients landed on few backends";
}

TEST(BalancerMaglev, AgreesWithTheTableOverTheClientKey) {
    Pool pool(std::vector<std::uint32_t>(10, 1));
    Balancer b(Balance::kMaglev, pool.ptrs());
    const MaglevTable t(names_of(10), std::vector<std::uint32_t>(10, 1));
    for (int i = 0; i < 1000; ++i) {
        EXPECT_EQ(
                b.pick(client(i), {}), static_cast<std::int64_t>(t.lookup(client_key(client(i)))));
    }
}

TEST(BalancerMaglev, ABackendGoingDownMovesOnlyItsOwnClients) {
    Pool pool(std::vector<std::uint32_t>(10, 1));
    Balancer b(Balance::kMaglev, pool.ptrs());
    std::vector<std::int64_t> home;
    for (int i = 0; i < 2000; ++i) {
        home.push_back(b.pick(client(i), {}));
    }
    pool[5].healthy = false;
    for (int i = 0; i < 2000; ++i) {
        const std::int64_t now = b.pick(client(i), {});
        if (home[static_cast<std::size_t>(i)] == 5) {
            EXPECT_NE(now, 5);
            EXPECT_GE(now, 0);
        } else {
            EXPECT_EQ(now, home[static_cast<std::size_t>(i)]) << "client " << i;
        }
    }
}

}  // namespace
}  // namespace ringlb::daemon
