// SPDX-License-Identifier: MIT
// Ring restrictions: a worker's ring runs the operations ringlb issues and refuses every other
// opcode with -EACCES, in both set-up modes.
#include <liburing.h>

#include <gtest/gtest.h>

#include "core/io/one_shot.hpp"
#include "core/runtime.hpp"
#include "core/timer.hpp"
#include "core/uring/ring.hpp"
#include "tests/support/loopback.hpp"

namespace ringlb::core {
namespace {

// An awaiter for an arbitrary opcode: the test's way to submit what ringlb never does.
class [[nodiscard]] RawOp : public detail::OneShotAwaiter {
public:
    explicit RawOp(void (*prep)(io_uring_sqe*)) noexcept : prep_(prep) {}
    bool await_suspend(std::coroutine_handle<> h) noexcept { return submit(h, &prep, this); }
    IoResult await_resume() noexcept { return result(); }

private:
    static void prep(io_uring_sqe* sqe, OpState*, const void* self) noexcept {
        static_cast<const RawOp*>(self)->prep_(sqe);
    }
    void (*prep_)(io_uring_sqe*);
};

Task<IoResult> submit_nop() {
    co_return co_await RawOp([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
}

Task<IoResult> submit_openat() {
    co_return co_await RawOp([](io_uring_sqe* sqe) {
        io_uring_prep_openat(sqe, AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
    });
}

Task<bool> ring_is_restricted() {
    co_return Ring::current()->features().restricted;
}

Task<IoResult> allowed_timeout() {
    co_return co_await sleep(std::chrono::milliseconds(1));
}

class Restrictions : public ::testing::TestWithParam<bool> {};

TEST_P(Restrictions, OnlyRinglbsOperationsRun) {
    RINGLB_RUNTIME_OR_SKIP(rt, 1, GetParam());
    auto restricted = rt->block_on(ring_is_restricted());
    ASSERT_TRUE(restricted.has_value());
    ASSERT_TRUE(*restricted) << "the kernel refused IORING_REGISTER_RESTRICTIONS";
    auto nop = rt->block_on(submit_nop());
    ASSERT_TRUE(nop.has_value());
    EXPECT_TRUE(nop->is(std::errc::permission_denied)) << nop->raw();
    auto open = rt->block_on(submit_openat());
    ASSERT_TRUE(open.has_value());
    EXPECT_TRUE(open->is(std::errc::permission_denied)) << open->raw();
    auto slept = rt->block_on(allowed_timeout());  // and an allowed one still works
    ASSERT_TRUE(slept.has_value());
    EXPECT_TRUE(slept->has_value()) << slept->raw();
}

INSTANTIATE_TEST_SUITE_P(
        Ring,
        Restrictions,
        ::testing::Values(true, false),
        [](const ::testing::TestParamInfo<bool>& info) {
            return info.param ? "DeferTaskrun" : "Fallback";
        });

}  // namespace
}  // namespace ringlb::core
