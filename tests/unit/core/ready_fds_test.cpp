// SPDX-License-Identifier: MIT
// ReadyFds: the multishot-accept queue keeps every entry, in order, across chunk boundaries,
// with the producer and the consumer on different threads.
#include "core/io/ready_fds.hpp"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace ringlb::core::detail {
namespace {

TEST(ReadyFds, KeepsOrderAcrossChunksOnOneThread) {
    ReadyFds q;
    EXPECT_FALSE(q.has_items());
    for (std::int32_t i = 0; i < 1000; ++i) {
        q.push(i);
    }
    for (std::int32_t i = 0; i < 1000; ++i) {
        ASSERT_TRUE(q.has_items());
        ASSERT_EQ(q.pop(), i);
    }
    EXPECT_FALSE(q.has_items());
}

TEST(ReadyFds, ConcurrentProducerAndConsumerLoseAndReorderNothing) {
    // The consumer polls has_items() while the producer crosses chunk boundaries: an entry
    // read before it is written shows up as a wrong value here, and (the window is a few
    // instructions wide) as a data race in the TSan build that CI runs this test under.
    constexpr std::int32_t kCount = 2'000'000;
    ReadyFds q;
    std::thread producer([&] {
        for (std::int32_t i = 0; i < kCount; ++i) {
            q.push(i);
        }
    });
    std::int32_t expected = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (expected < kCount && std::chrono::steady_clock::now() < deadline) {
        if (!q.has_items()) {
            continue;
        }
        const std::int32_t v = q.pop();
        if (v != expected) {
            ADD_FAILURE() << "popped " << v << ", expected " << expected;
            break;
        }
        ++expected;
    }
    producer.join();
    EXPECT_EQ(expected, kCount);
}

}  // namespace
}  // namespace ringlb::core::detail
