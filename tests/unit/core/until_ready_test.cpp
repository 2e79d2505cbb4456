// SPDX-License-Identifier: MIT
// until_ready() with the poll faces of RecvStream, SendInFlight and Alarm: one task waits on
// several sources at once and is woken by whichever completes (on its own worker or another),
// not by an armed alarm; a started send counts as unsubmitted until the ring submits it; a
// send destroyed in flight, or a task aborted in the wait, leaks no OpState.
#include "core/until_ready.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "core/alarm.hpp"
#include "core/buffer.hpp"
#include "core/io/recv_stream.hpp"
#include "core/io/send.hpp"
#include "core/join_handle.hpp"
#include "core/runtime.hpp"
#include "core/uring/op_state.hpp"
#include "core/uring/ring.hpp"
#include "tests/support/loopback.hpp"

namespace ringlb::core {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<Runtime> ring_runtime(unsigned workers) {
    RuntimeOptions opts;
    opts.workers = workers;
    opts.ring.buffers = {64, 4096};
    auto rt = Runtime::create(opts);
    return rt ? std::move(*rt) : nullptr;
}

// Two streams and an alarm in one wait, as forward() waits on a connection.
struct TwoStreams {
    RecvStream first;
    RecvStream second;
    Alarm alarm;
    bool first_open = true;  // a stream at its end is not polled: it would be ready for good
    bool second_open = true;
    TwoStreams(int a, int b) : first(a), second(b) {}
};

bool poll_two_streams(void* ctx, TaskHeader& task) noexcept {
    auto* s = static_cast<TwoStreams*>(ctx);
    bool ready = s->first_open && s->first.ready_or_register(task);
    ready = (s->second_open && s->second.ready_or_register(task)) || ready;
    if (s->alarm.armed()) {
        ready = s->alarm.rang_or_register(task) || ready;
    }
    return ready;
}

// Reads both streams to EOF with one wait for all; notes the order in which bytes arrived
// ('1' or '2' per chunk), so that the test can tell a wake came from either.
Task<std::string> read_both(int a, int b, std::atomic<int>* bytes_read) {
    TwoStreams s(a, b);
    std::string order;
    bool& first_open = s.first_open;
    bool& second_open = s.second_open;
    EXPECT_TRUE(s.alarm.arm(30s));  // armed but never rings: a source that must not wake us
    while (first_open || second_open) {
        bool progressed = false;
        for (int i = 0; i < 2; ++i) {
            bool& open = i == 0 ? first_open : second_open;
            RecvStream& stream = i == 0 ? s.first : s.second;
            while (open) {
                std::optional<Received> in = stream.poll_next(true);
                if (!in) {
                    break;
                }
                if (!in->n) {
                    order += "E";  // an error: the test fails on it
                    open = false;
                    break;
                }
                if (in->n.value() == 0) {
                    open = false;
                    break;
                }
                order.append(in->n.value(), static_cast<char>('1' + i));
                // release: the test reads it to pace its writes (acquire in bytes_read_are()).
                bytes_read->fetch_add(in->n.value(), std::memory_order_release);
                progressed = true;
            }
        }
        if (!progressed && (first_open || second_open)) {
            co_await until_ready(&poll_two_streams, &s);
            EXPECT_FALSE(s.alarm.take_ring()) << "woken by the alarm, not by the data";
        }
    }
    co_return order;
}

bool bytes_read_are(const std::atomic<int>& bytes_read, int n) {
    return test::run_until([&] { return bytes_read.load(std::memory_order_acquire) == n; });
}

// The second socket's bytes arrive while the first stays silent, then the other way round:
// either stream alone must end the wait, on one worker and on two (a wake from another
// thread).
TEST(UntilReady, EitherOfTwoStreamsEndsTheWait) {
    for (unsigned workers : {1u, 2u}) {
        auto rt = ring_runtime(workers);
        if (!rt) {
            GTEST_SKIP() << "io_uring is not available here";
        }
        UniqueFd a1, b1, a2, b2;
        test::unix_stream_pair(a1, b1);
        test::unix_stream_pair(a2, b2);
        std::atomic<int> bytes_read{0};
        JoinHandle<std::string> reader = rt->spawn(read_both(a1.get(), a2.get(), &bytes_read));
        // Each write waits until the reader has taken the one before, so the order is ours.
        ASSERT_EQ(::write(b2.get(), "xx", 2), 2);
        ASSERT_TRUE(bytes_read_are(bytes_read, 2));
        ASSERT_EQ(::write(b1.get(), "y", 1), 1);
        ASSERT_TRUE(bytes_read_are(bytes_read, 3));
        ::shutdown(b1.get(), SHUT_WR);
        ASSERT_EQ(::write(b2.get(), "z", 1), 1);
        ::shutdown(b2.get(), SHUT_WR);
        ASSERT_TRUE(test::run_until([&] { return reader.is_finished(); }))
                << "the wait missed a wake (" << workers << " workers)";
        JoinResult<std::string> got = reader.take();
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(*got, "2212") << workers << " workers";
    }
}

struct OneSend {
    SendInFlight send;
};

bool poll_send(void* ctx, TaskHeader& task) noexcept {
    return static_cast<OneSend*>(ctx)->send.ready_or_register(task);
}

// A send started, waited for with until_ready(), and taken: its buffer comes back with the
// count; a second send on a full socket is destroyed in flight and cancelled.
Task<std::string> send_then_abandon(int fd) {
    std::string out;
    {
        OneSend s;
        Buffer buf = Buffer::allocate(5);
        std::memcpy(buf.data(), "hello", 5);
        Ring& ring = *Ring::current();
        const unsigned unsubmitted = ring.unsubmitted();
        if (!s.send.start(fd, buf, 1, 4)) {
            co_return "ring full";
        }
        if (buf.size() != 0) {
            out += "buffer not lent;";
        }
        // What forward() relies on before a close: the SQE is counted until it is submitted.
        if (ring.unsubmitted() != unsubmitted + 1) {
            out += "the prepared send is not counted as unsubmitted;";
        }
        ring.submit_now();
        if (ring.unsubmitted() != 0) {
            out += "unsubmitted after submit_now();";
        }
        co_await until_ready(&poll_send, &s);
        if (!s.send.done()) {
            out += "woken before done;";
        }
        Sent sent = s.send.take();
        if (s.send.active()) {
            out += "still active;";
        }
        if (!sent.n || sent.n.value() != 4 || sent.buf.size() != 5) {
            out += "bad result;";
        }
    }
    // Fill the socket so that the next send cannot complete, then drop it in flight.
    Buffer big = Buffer::allocate(1 << 20);
    std::memset(big.data(), 'x', big.size());
    while (::send(fd, big.data(), big.size(), MSG_DONTWAIT) > 0) {
    }
    {
        OneSend s;
        if (!s.send.start(fd, big, 0, big.size())) {
            co_return "ring full";
        }
    }  // cancelled here: the CQE frees the state
    co_return out;
}

TEST(UntilReady, ASendCompletesAndOneDroppedInFlightIsCancelled) {
    auto rt = ring_runtime(1);
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    const std::int64_t ops_before = live_op_states();
    UniqueFd a, b;
    test::unix_stream_pair(a, b);
    JoinResult<std::string> r = rt->block_on(send_then_abandon(a.get()));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, "");
    char got[4] = {};
    ASSERT_EQ(::read(b.get(), got, 4), 4);
    EXPECT_EQ(std::string(got, 4), "ello");
    EXPECT_TRUE(test::run_until([&] { return live_op_states() == ops_before; }))
            << "a send dropped in flight was not freed: " << live_op_states() - ops_before;
}

// A task aborted in the wait (from the test's thread) goes with its streams and alarm; all
// their operations are cancelled and freed.
TEST(UntilReady, ATaskAbortedInTheWaitLeaksNothing) {
    auto rt = ring_runtime(2);
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    const std::int64_t ops_before = live_op_states();
    UniqueFd a1, b1, a2, b2;
    test::unix_stream_pair(a1, b1);
    test::unix_stream_pair(a2, b2);
    std::atomic<int> bytes_read{0};
    JoinHandle<std::string> reader = rt->spawn(read_both(a1.get(), a2.get(), &bytes_read));
    ASSERT_EQ(::write(b1.get(), "y", 1), 1);
    ASSERT_TRUE(bytes_read_are(bytes_read, 1));  // it has been running and waits again
    reader.abort();
    ASSERT_TRUE(test::run_until([&] { return reader.is_finished(); }));
    EXPECT_TRUE(reader.header()->was_cancelled());
    EXPECT_TRUE(test::run_until([&] { return live_op_states() == ops_before; }))
            << "operations left behind: " << live_op_states() - ops_before;
}

}  // namespace
}  // namespace ringlb::core
