// SPDX-License-Identifier: MIT
// The completion path without a kernel: user_data encoding, and the single-shot handlers
// driven with fake CQEs (record the result, publish `done`, wake, drop the CQE's reference).
#include "core/uring/op_state.hpp"

#include <liburing.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "core/uring/timer_heap.hpp"
#include "core/uring/user_data.hpp"
#include "tests/support/counting_waker.hpp"

namespace ringlb::core {
namespace {

using test::CountingTarget;
using test::waker_for;

io_uring_cqe fake_cqe(std::int32_t res, std::uint32_t flags = 0) {
    io_uring_cqe cqe{};
    cqe.res = res;
    cqe.flags = flags;
    return cqe;
}

TEST(UserData, RoundTripsKindAndTarget) {
    OpState* op = acquire_op_state();
    for (auto kind :
         {CompletionKind::kIgnore, CompletionKind::kOneShot, CompletionKind::kAcceptStream}) {
        const std::uint64_t ud = user_data::encode(kind, op);
        EXPECT_EQ(user_data::kind(ud), kind);
        EXPECT_EQ(user_data::target(ud), op);
    }
    release(op);
}

// user_data keeps the kind in a state's low 4 bits: every state is 16-byte aligned, though
// its type is not alignas(16) (OpStateBase's operator new asks for it), whatever its size.
TEST(UserData, EveryStateIs16ByteAligned) {
    std::vector<OpState*> ops;
    std::vector<TimerState*> timers;
    for (int i = 0; i < 64; ++i) {
        ops.push_back(acquire_op_state());
        timers.push_back(acquire_timer_state());
        EXPECT_EQ(std::bit_cast<std::uintptr_t>(ops.back()) % 16, 0u);
        EXPECT_EQ(std::bit_cast<std::uintptr_t>(timers.back()) % 16, 0u);
        auto* odd = new OpStateBase();  // 64 bytes: any size keeps the alignment
        EXPECT_EQ(std::bit_cast<std::uintptr_t>(odd) % 16, 0u);
        delete odd;
    }
    for (OpState* op : ops) {
        release(op);
    }
    for (TimerState* t : timers) {
        release(t);
    }
}

TEST(OneShotHandler, RecordsTheResultPublishesDoneAndWakes) {
    const std::int64_t before = live_op_states();
    CountingTarget t;
    OpState* op = acquire_op_state();
    op->refs.fetch_add(1);  // the SQE's reference
    op->pending_cqes = 1;
    op->waker.register_waker(waker_for(t));
    detail::complete_one_shot(op, fake_cqe(-ECONNREFUSED, 7));
    EXPECT_TRUE(op->done.load());
    EXPECT_EQ(op->res, -ECONNREFUSED);
    EXPECT_EQ(op->cqe_flags, 7u);
    EXPECT_EQ(t.wakes.load(), 1);
    EXPECT_EQ(op->refs.load(), 1u) << "the CQE's reference was not dropped";
    release(op);
    if (before >= 0) {
        EXPECT_EQ(live_op_states(), before);
    }
}

TEST(OneShotHandler, ALinkedOperationIsDoneOnlyAfterBothCqes) {
    CountingTarget t;
    OpState* op = acquire_op_state();
    op->refs.fetch_add(2);  // the operation's and the linked timeout's SQEs
    op->pending_cqes = 2;
    op->waker.register_waker(waker_for(t));
    detail::complete_one_shot(op, fake_cqe(-ECANCELED));
    EXPECT_FALSE(op->done.load());
    EXPECT_EQ(t.wakes.load(), 0);
    detail::complete_link_timeout(op, fake_cqe(-ETIME));
    EXPECT_TRUE(op->done.load());
    EXPECT_EQ(op->timeout_res, -ETIME);
    EXPECT_EQ(t.wakes.load(), 1);
    EXPECT_EQ(op->refs.load(), 1u);
    release(op);
}

TEST(OneShotHandler, TheStateOutlivesItsAwaiterUntilTheCqe) {
    // An aborted awaiter drops its reference first; the CQE that arrives later frees the state.
    const std::int64_t before = live_op_states();
    OpState* op = acquire_op_state();
    op->refs.fetch_add(1);
    op->pending_cqes = 1;
    op->buf = Buffer::allocate(64);  // lent to the kernel
    release(op);                     // the awaiter is gone
    EXPECT_FALSE(op->buf.empty()) << "freed while the kernel still held it";
    detail::complete_one_shot(op, fake_cqe(-ECANCELED));  // frees it
    if (before >= 0) {
        EXPECT_EQ(live_op_states(), before);
    }
}

}  // namespace
}  // namespace ringlb::core
