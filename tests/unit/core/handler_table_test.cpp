// SPDX-License-Identifier: MIT
// HandlerTable: registration rules, dispatch, and the registration race.
#include "core/handler_table.hpp"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace ringlb::core {
namespace {

int g_calls_a = 0;
int g_calls_b = 0;
void* g_last_target = nullptr;

void handler_a(void* target, const io_uring_cqe& /*cqe*/) noexcept {
    ++g_calls_a;
    g_last_target = target;
}
void handler_b(void* /*target*/, const io_uring_cqe& /*cqe*/) noexcept {
    ++g_calls_b;
}

const io_uring_cqe& fake_cqe() {
    // The handlers under test never read the CQE; a reference to static storage suffices.
    alignas(16) static unsigned char storage[32] = {};
    return *reinterpret_cast<const io_uring_cqe*>(storage);
}

TEST(HandlerTable, DoubleRegisterFails) {
    HandlerTable<4> table;
    EXPECT_TRUE(table.register_handler(1, &handler_a));
    EXPECT_FALSE(table.register_handler(1, &handler_b));
    EXPECT_EQ(table.get(1), &handler_a);
}

TEST(HandlerTable, UnregisterReturnsTheOldHandlerAndFreesTheSlot) {
    HandlerTable<4> table;
    ASSERT_TRUE(table.register_handler(2, &handler_a));
    EXPECT_EQ(table.unregister_handler(2), &handler_a);
    EXPECT_EQ(table.unregister_handler(2), nullptr);  // already empty: none
    EXPECT_TRUE(table.register_handler(2, &handler_b));
}

TEST(HandlerTable, EmptySlotIsNotHandled) {
    HandlerTable<4> table;
    g_calls_a = 0;
    EXPECT_FALSE(table.handle(0, nullptr, fake_cqe()));
    EXPECT_EQ(g_calls_a, 0);
}

TEST(HandlerTable, OutOfRangeSlotsAreRejected) {
    HandlerTable<4> table;
    EXPECT_FALSE(table.register_handler(4, &handler_a));
    EXPECT_FALSE(table.register_handler(1000, &handler_a));
    EXPECT_EQ(table.unregister_handler(4), nullptr);
    EXPECT_FALSE(table.handle(4, nullptr, fake_cqe()));
    EXPECT_FALSE(table.register_handler(0, nullptr));
}

TEST(HandlerTable, HandleCallsTheRegisteredHandlerWithItsTarget) {
    HandlerTable<4> table;
    ASSERT_TRUE(table.register_handler(3, &handler_a));
    ASSERT_TRUE(table.register_handler(0, &handler_b));
    g_calls_a = g_calls_b = 0;
    int target = 0;
    EXPECT_TRUE(table.handle(3, &target, fake_cqe()));
    EXPECT_EQ(g_calls_a, 1);
    EXPECT_EQ(g_calls_b, 0);
    EXPECT_EQ(g_last_target, &target);
}

TEST(HandlerTable, RacingRegistrationsHaveExactlyOneWinner) {
    constexpr int kThreads = 8;
    constexpr int kRounds = 500;
    HandlerTable<2> table;
    for (int round = 0; round < kRounds; ++round) {
        std::atomic<int> ready{0};
        std::atomic<int> winners{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                ready.fetch_add(1);
                while (ready.load() < kThreads) {
                }
                if (table.register_handler(1, t % 2 == 0 ? &handler_a : &handler_b)) {
                    winners.fetch_add(1);
                }
            });
        }
        for (auto& th : threads) {
            th.join();
        }
        ASSERT_EQ(winners.load(), 1) << "round " << round;
        ASSERT_NE(table.unregister_handler(1), nullptr);
    }
}

}  // namespace
}  // namespace ringlb::core
