// SPDX-License-Identifier: MIT
// Tests for ArcSwap<T>: values, identity CAS, exact lifetimes of replaced values (guards,
// threads, fallback) and a reader/writer stress run that checks every snapshot is whole.
#include "core/arc_swap.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace ringlb::core {
namespace {

constexpr std::size_t kSlots = detail::kDebtSlotsPerNode;

// Live-object accounting for one test (LifetimeCounter-style).
struct Counters {
    std::atomic<int> constructed{0};
    std::atomic<int> destroyed{0};
    int live() const { return constructed.load() - destroyed.load(); }
};

struct Counted {
    Counted(Counters& c, int v) : counters(&c), value(v) { counters->constructed.fetch_add(1); }
    Counted(const Counted&) = delete;
    Counted& operator=(const Counted&) = delete;
    ~Counted() { counters->destroyed.fetch_add(1); }

    Counters* counters;
    int value;
};

std::shared_ptr<const Counted> make(Counters& c, int v) {
    return std::make_shared<const Counted>(c, v);
}

using Cell = ArcSwap<Counted>;

TEST(ArcSwap, LoadSeesInitialValue) {
    Counters c;
    auto initial = make(c, 1);
    Cell cell(initial);
    auto guard = cell.load();
    EXPECT_EQ(guard.get(), initial.get());
    EXPECT_EQ(guard->value, 1);
    EXPECT_EQ((*guard).value, 1);
    EXPECT_EQ(cell.load_full(), initial);
}

TEST(ArcSwap, StoreReplacesValue) {
    Counters c;
    Cell cell(make(c, 1));
    cell.store(make(c, 2));
    EXPECT_EQ(cell.load()->value, 2);
    EXPECT_EQ(cell.load_full()->value, 2);
    cell.store(make(c, 3));
    EXPECT_EQ(cell.load()->value, 3);
}

TEST(ArcSwap, UnborrowedOldValueIsDestroyedByStore) {
    Counters c;
    Cell cell(make(c, 1));
    {
        auto guard = cell.load();  // borrow and give back before the store
        EXPECT_EQ(guard->value, 1);
    }
    cell.store(make(c, 2));
    EXPECT_EQ(c.destroyed.load(), 1);
    EXPECT_EQ(c.live(), 1);
}

TEST(ArcSwap, ExchangeReturnsPreviousValue) {
    Counters c;
    auto first = make(c, 1);
    Cell cell(first);
    auto previous = cell.exchange(make(c, 2));
    EXPECT_EQ(previous, first);
    EXPECT_EQ(cell.load()->value, 2);
    first.reset();
    EXPECT_EQ(c.destroyed.load(), 0);  // `previous` still owns it
    previous.reset();
    EXPECT_EQ(c.destroyed.load(), 1);
}

TEST(ArcSwap, CompareAndSwapComparesIdentityNotContents) {
    Counters c;
    auto current = make(c, 1);
    Cell cell(current);
    auto look_alike = make(c, 1);
    EXPECT_FALSE(cell.compare_and_swap(look_alike, make(c, 2)));
    EXPECT_EQ(cell.load().get(), current.get());
    EXPECT_EQ(c.live(), 2);  // the rejected `desired` was dropped

    auto desired = make(c, 3);
    EXPECT_TRUE(cell.compare_and_swap(current, desired));
    EXPECT_EQ(cell.load().get(), desired.get());
    EXPECT_FALSE(cell.compare_and_swap(current, make(c, 4)));
    EXPECT_EQ(cell.load().get(), desired.get());
}

TEST(ArcSwap, GuardKeepsOldValueAliveUntilDropped) {
    Counters c;
    Cell cell(make(c, 1));
    std::optional<Cell::Guard> guard(cell.load());
    cell.store(make(c, 2));
    EXPECT_EQ(c.destroyed.load(), 0);
    EXPECT_EQ((*guard)->value, 1);
    EXPECT_EQ(cell.load()->value, 2);
    cell.store(make(c, 3));  // 2 had no reader: gone now; 1 still borrowed
    EXPECT_EQ(c.destroyed.load(), 1);
    EXPECT_EQ((*guard)->value, 1);
    guard.reset();
    EXPECT_EQ(c.destroyed.load(), 2);
    EXPECT_EQ(c.live(), 1);
}

TEST(ArcSwap, MovedFromGuardIsEmptyAndMoveAssignReleases) {
    Counters c;
    Cell cell(make(c, 1));
    auto a = cell.load();
    auto b = std::move(a);
    EXPECT_EQ(a.get(), nullptr);  // NOLINT(bugprone-use-after-move): testing moved-from state
    EXPECT_EQ(a.to_shared(), nullptr);
    EXPECT_EQ(b->value, 1);

    cell.store(make(c, 2));  // `b` now holds the only reference to 1
    auto d = cell.load();
    EXPECT_EQ(c.destroyed.load(), 0);
    b = std::move(d);  // releases 1
    EXPECT_EQ(c.destroyed.load(), 1);
    EXPECT_EQ(b->value, 2);
}

TEST(ArcSwap, GuardDestroyedOnAnotherThread) {
    Counters c;
    Cell cell(make(c, 1));
    auto borrowed = cell.load();
    cell.store(make(c, 2));  // pays the borrow of 1
    auto unpaid = cell.load();
    std::thread other([g1 = std::move(borrowed), g2 = std::move(unpaid)]() mutable {
        EXPECT_EQ(g1->value, 1);
        EXPECT_EQ(g2->value, 2);
        { auto drop = std::move(g1); }
        { auto drop = std::move(g2); }
    });
    other.join();
    EXPECT_EQ(c.destroyed.load(), 1);
    // The slot released on the other thread is free again here: the next store destroys 2
    // at once, so no stale debt on 2 remains.
    std::vector<Cell::Guard> guards;
    for (std::size_t i = 0; i < kSlots; ++i) {
        guards.push_back(cell.load());
    }
    guards.clear();
    cell.store(make(c, 3));
    EXPECT_EQ(c.destroyed.load(), 2);
}

TEST(ArcSwap, GuardOfExitedThreadStaysValid) {
    Counters c;
    Cell cell(make(c, 1));
    std::optional<Cell::Guard> escaped;
    std::thread([&] { escaped.emplace(cell.load()); }).join();
    // The thread's node went back to the registry with the slot still borrowed. A new thread
    // may claim that node; it must not reuse the busy slot.
    std::thread([&] {
        std::vector<Cell::Guard> guards;
        for (std::size_t i = 0; i < 2 * kSlots; ++i) {
            guards.push_back(cell.load());
        }
        for (const auto& g : guards) {
            EXPECT_EQ(g->value, 1);
        }
    }).join();
    cell.store(make(c, 2));
    EXPECT_EQ(c.destroyed.load(), 0);
    EXPECT_EQ((*escaped)->value, 1);
    escaped.reset();
    EXPECT_EQ(c.destroyed.load(), 1);
}

TEST(ArcSwap, MoreGuardsThanSlotsAreAllValid) {
    Counters c;
    Cell cell(make(c, 0));
    std::vector<Cell::Guard> guards;
    std::vector<int> expected;
    constexpr int kGuards = 3 * static_cast<int>(kSlots) + 1;
    for (int i = 0; i < kGuards; ++i) {
        guards.push_back(cell.load());
        expected.push_back(i / 3);
        if (i % 3 == 2) {
            cell.store(make(c, i / 3 + 1));
        }
    }
    const int stored = kGuards / 3 + 1;
    EXPECT_EQ(c.constructed.load(), stored);
    EXPECT_EQ(c.destroyed.load(), 0);  // every replaced value is still held by a guard
    for (std::size_t i = 0; i < guards.size(); ++i) {
        EXPECT_EQ(guards[i]->value, expected[i]) << "guard " << i;
        EXPECT_EQ(guards[i].to_shared()->value, expected[i]) << "guard " << i;
    }
    guards.clear();
    EXPECT_EQ(c.destroyed.load(), stored - 1);
    EXPECT_EQ(cell.load()->value, stored - 1);
}

TEST(ArcSwap, ToSharedOutlivesGuardAndStore) {
    Counters c;
    Cell cell(make(c, 1));
    std::shared_ptr<const Counted> unpaid_ref;
    std::shared_ptr<const Counted> paid_ref;
    {
        auto guard = cell.load();
        unpaid_ref = guard.to_shared();  // borrow not paid yet: comes from the cell
        EXPECT_EQ(unpaid_ref.get(), guard.get());
        cell.store(make(c, 2));
        paid_ref = guard.to_shared();  // now from the payment
        EXPECT_EQ(paid_ref.get(), guard.get());
    }
    cell.store(make(c, 3));
    EXPECT_EQ(c.destroyed.load(), 1);  // 2 died; 1 is held by both references
    EXPECT_EQ(unpaid_ref->value, 1);
    unpaid_ref.reset();
    EXPECT_EQ(c.destroyed.load(), 1);
    paid_ref.reset();
    EXPECT_EQ(c.destroyed.load(), 2);
}

TEST(ArcSwap, GuardOutlivesArcSwap) {
    Counters c;
    std::optional<Cell> cell(std::in_place, make(c, 1));
    auto guard = cell->load();
    cell.reset();
    EXPECT_EQ(c.destroyed.load(), 0);
    EXPECT_EQ(guard->value, 1);
    EXPECT_EQ(guard.to_shared()->value, 1);  // paid by ~ArcSwap: no cell needed
    { auto drop = std::move(guard); }
    EXPECT_EQ(c.destroyed.load(), 1);
}

TEST(ArcSwap, SameValueInTwoCellsLivesUntilLastReader) {
    Counters c;
    auto shared = make(c, 1);
    Cell a(shared);
    Cell b(shared);
    std::optional<Cell::Guard> from_a(a.load());
    std::optional<Cell::Guard> from_b(b.load());
    shared.reset();
    a.store(make(c, 2));
    b.store(make(c, 3));
    EXPECT_EQ(c.destroyed.load(), 0);
    EXPECT_EQ((*from_a)->value, 1);
    EXPECT_EQ((*from_b)->value, 1);
    from_a.reset();
    EXPECT_EQ(c.destroyed.load(), 0);
    from_b.reset();
    EXPECT_EQ(c.destroyed.load(), 1);
    EXPECT_EQ(a.load()->value, 2);
    EXPECT_EQ(b.load()->value, 3);
}

// White-box: replays the race in load() where the re-check fails and a writer pays the debt
// before load() withdraws it. Only a payment from the loading cell may be returned.
TEST(ArcSwap, PaymentOfStaleDebtIsReturnedOnlyToItsOwnCell) {
    Counters c;
    auto value = make(c, 1);
    Cell own(value);
    Cell other(value);  // same address in another cell, as after address reuse
    const std::uintptr_t debt = detail::debt_word(value.get());
    detail::DebtNode* node =
            detail::t_debt_node != nullptr ? detail::t_debt_node : detail::acquire_debt_node();
    ASSERT_NE(node, nullptr);

    detail::DebtSlot* slot = detail::find_free_slot(*node);
    ASSERT_NE(slot, nullptr);
    slot->debt.store(debt);   // a reader of `own` borrowed value, its re-check failed...
    other.store(make(c, 2));  // ...and `other`'s writer paid the debt
    EXPECT_EQ(slot->debt.load(), debt | detail::kDebtPaidBit);
    EXPECT_EQ(detail::cancel_debt(*slot, debt, &own), nullptr);
    EXPECT_EQ(slot->debt.load(), detail::kDebtFree);
    EXPECT_EQ(slot->paid, nullptr);

    slot = detail::find_free_slot(*node);
    ASSERT_NE(slot, nullptr);
    slot->debt.store(debt);
    own.store(make(c, 3));  // this time the loading cell's own writer pays
    value.reset();
    auto paid = detail::cancel_debt(*slot, debt, &own);
    EXPECT_EQ(slot->debt.load(), detail::kDebtFree);
    ASSERT_NE(paid, nullptr);
    EXPECT_EQ(static_cast<const Counted*>(paid.get())->value, 1);
    EXPECT_EQ(c.destroyed.load(), 0);
    paid.reset();
    EXPECT_EQ(c.destroyed.load(), 1);  // the payment was the last reference
}

TEST(ArcSwap, DebtToStringNamesEachState) {
    alignas(8) static const int object = 0;
    const std::uintptr_t word = detail::debt_word(&object);
    EXPECT_EQ(detail::debt_to_string(detail::kDebtFree), "free");
    EXPECT_EQ(detail::debt_to_string(word).rfind("borrowed 0x", 0), 0U);
    EXPECT_EQ(detail::debt_to_string(word | detail::kDebtPaidBit).rfind("paid 0x", 0), 0U);
}

TEST(ArcSwap, NullValueIsRejected) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    Counters c;
    EXPECT_DEATH(Cell(std::shared_ptr<const Counted>{}), "null initial value");
    Cell cell(make(c, 1));
    EXPECT_DEATH(cell.store(nullptr), "null value");
}

// --- Stress -----------------------------------------------------------------------------

constexpr std::uint64_t kAlive = 0x5afe'c0de'5afe'c0deULL;
constexpr std::uint64_t kDead = 0xdead'dead'dead'deadULL;

std::uint64_t mix(std::uint64_t x) {
    x += 0x9e37'79b9'7f4a'7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58'476d'1ce4'e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d0'49bb'1331'11ebULL;
    return x ^ (x >> 31);
}

struct Ledger {
    explicit Ledger(std::size_t ids) : destroyed_flags(ids) {}
    std::atomic<std::uint64_t> constructed{0};
    std::atomic<std::uint64_t> destroyed{0};
    std::atomic<std::uint64_t> destroyed_twice{0};
    std::atomic<std::uint64_t> destroyed_corrupt{0};
    std::vector<std::atomic<std::uint8_t>> destroyed_flags;
};

// A self-checking value: b == ~a, a == mix(id ^ tag), magic == kAlive until destroyed.
struct Snapshot {
    Snapshot(Ledger& l, std::uint64_t id, std::uint64_t tag)
            : ledger(&l), id(id), tag(tag), a(mix(id ^ tag)), b(~a) {
        ledger->constructed.fetch_add(1);
    }
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;
    ~Snapshot() {
        if (!intact()) {
            ledger->destroyed_corrupt.fetch_add(1);
        }
        magic = kDead;
        if (ledger->destroyed_flags[id].exchange(1) != 0) {
            ledger->destroyed_twice.fetch_add(1);
        }
        ledger->destroyed.fetch_add(1);
    }
    bool intact() const { return magic == kAlive && b == ~a && a == mix(id ^ tag); }

    Ledger* ledger;
    std::uint64_t id;
    std::uint64_t tag;
    std::uint64_t a;
    std::uint64_t b;
    std::uint64_t magic = kAlive;
};

using SnapshotCell = ArcSwap<Snapshot>;

struct ReaderErrors {
    std::atomic<std::uint64_t> torn{0};
    std::atomic<std::uint64_t> went_back{0};
    std::atomic<std::uint64_t> wrong_cell{0};
    std::atomic<std::uint64_t> loads{0};
};

bool still_intact_after_a_while(const Snapshot& s) {
    for (int i = 0; i < 64; ++i) {
        if (!s.intact()) {
            return false;
        }
        std::atomic_signal_fence(std::memory_order_seq_cst);  // keep re-reading memory
    }
    return true;
}

// Guards handed from one reader to another, so some guards die on a thread that did not
// create them while stores are running.
struct Handoff {
    std::mutex mutex;
    std::deque<SnapshotCell::Guard> guards;
};

void stress_reader(
        const SnapshotCell& cell,
        std::uint64_t tag,
        const std::atomic<bool>& done,
        Handoff& handoff,
        ReaderErrors& errors) {
    std::uint64_t last_id = 0;
    std::uint64_t loads = 0;
    std::vector<SnapshotCell::Guard> held;
    auto check = [&](const SnapshotCell::Guard& g) {
        if (!still_intact_after_a_while(*g)) {
            errors.torn.fetch_add(1);
        }
        if (g->tag != tag) {
            errors.wrong_cell.fetch_add(1);
        }
    };
    while (!done.load(std::memory_order_acquire)) {
        ++loads;
        auto guard = cell.load();
        check(guard);
        if (guard->id < last_id) {
            errors.went_back.fetch_add(1);  // loads of one thread must be monotonic
        }
        last_id = guard->id;
        if (loads % 64 == 0) {
            auto ref = guard.to_shared();
            if (ref.get() != guard.get() || !ref->intact()) {
                errors.torn.fetch_add(1);
            }
        }
        if (loads % 128 == 0) {
            std::lock_guard lock(handoff.mutex);
            if (handoff.guards.size() < 64) {
                handoff.guards.push_back(std::move(guard));
                continue;
            }
            for (const auto& g : handoff.guards) {
                if (!still_intact_after_a_while(*g)) {  // may be another cell's guard
                    errors.torn.fetch_add(1);
                }
            }
            handoff.guards.clear();  // mostly other threads' guards
        }
        held.push_back(std::move(guard));
        // Usually hold up to 3 at once; now and then more than a node has slots (fallback).
        if (loads % 1024 == 0) {
            while (held.size() < kSlots + 3) {
                held.push_back(cell.load());
            }
        }
        if (held.size() >= 3) {
            for (const auto& g : held) {
                check(g);
            }
            held.clear();
        }
    }
    for (const auto& g : held) {
        check(g);
    }
    errors.loads.fetch_add(loads);
}

void run_snapshot_stress(int readers, int cells, std::uint64_t swaps) {
    const std::uint64_t initial_ids = static_cast<std::uint64_t>(cells);
    Ledger ledger(initial_ids + swaps);
    ReaderErrors errors;
    Handoff handoff;
    std::atomic<bool> done{false};
    std::atomic<int> ready{0};
    {
        std::vector<std::unique_ptr<SnapshotCell>> cell_list;
        for (int i = 0; i < cells; ++i) {
            auto tag = static_cast<std::uint64_t>(i);
            cell_list.push_back(std::make_unique<SnapshotCell>(
                    std::make_shared<const Snapshot>(ledger, tag, tag)));
        }
        std::vector<std::thread> threads;
        for (int r = 0; r < readers; ++r) {
            auto which = static_cast<std::uint64_t>(r % cells);
            threads.emplace_back([&, which] {
                ready.fetch_add(1);
                stress_reader(*cell_list[which], which, done, handoff, errors);
            });
        }
        while (ready.load() < readers) {
            std::this_thread::yield();
        }
        for (std::uint64_t i = 0; i < swaps; ++i) {
            const std::uint64_t id = initial_ids + i;
            const auto which = static_cast<std::size_t>(i % initial_ids);
            SnapshotCell& cell = *cell_list[which];
            auto next = std::make_shared<const Snapshot>(ledger, id, which);
            if (i % 16 == 7) {
                auto previous = cell.exchange(std::move(next));
                EXPECT_TRUE(previous->intact());
            } else if (i % 16 == 11) {
                EXPECT_TRUE(cell.compare_and_swap(cell.load_full(), std::move(next)));
            } else {
                cell.store(std::move(next));
            }
        }
        done.store(true, std::memory_order_release);
        for (auto& t : threads) {
            t.join();
        }
        handoff.guards.clear();
        EXPECT_LT(ledger.destroyed.load(), ledger.constructed.load());
    }
    EXPECT_EQ(errors.torn.load(), 0U);
    EXPECT_EQ(errors.went_back.load(), 0U);
    EXPECT_EQ(errors.wrong_cell.load(), 0U);
    EXPECT_GT(errors.loads.load(), 0U);
    EXPECT_EQ(ledger.constructed.load(), initial_ids + swaps);
    EXPECT_EQ(ledger.destroyed.load(), ledger.constructed.load());
    EXPECT_EQ(ledger.destroyed_twice.load(), 0U);
    EXPECT_EQ(ledger.destroyed_corrupt.load(), 0U);
    std::uint64_t never_destroyed = 0;
    for (const auto& flag : ledger.destroyed_flags) {
        never_destroyed += flag.load() == 0 ? 1 : 0;
    }
    EXPECT_EQ(never_destroyed, 0U);
}

TEST(ArcSwap, ConcurrentReadersSeeWholeSnapshots) {
    run_snapshot_stress(/*readers=*/2, /*cells=*/1, /*swaps=*/100'000);
}

TEST(ArcSwap, ConcurrentReadersSeeWholeSnapshotsWithFourReaders) {
    run_snapshot_stress(/*readers=*/4, /*cells=*/1, /*swaps=*/100'000);
}

// Values of two cells share the allocator, so addresses recycle between them: a stale debt
// paid by the other cell's writer must never come back from load().
TEST(ArcSwap, ReadersNeverSeeAnotherCellsValue) {
    run_snapshot_stress(/*readers=*/4, /*cells=*/2, /*swaps=*/100'000);
}

}  // namespace
}  // namespace ringlb::core
