// SPDX-License-Identifier: MIT
// RecvStream and BufferRing on real loopback sockets: exact bytes with and without recv
// bundles, no buffer held while idle, the pause at max_queued, an empty ring (-ENOBUFS) and
// its recovery, the warm window (a long transfer cycles through few buffers; a burst wider
// than the window widens it without an error), a consumer stolen by another worker
// mid-stream, buffers given back from other threads, and the fallback without a ring.
#include "core/io/recv_stream.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/buffer.hpp"
#include "core/io/chunk_queue.hpp"
#include "core/io/recv.hpp"
#include "core/join_handle.hpp"
#include "core/runtime.hpp"
#include "core/timer.hpp"
#include "core/uring/buffer_ring.hpp"
#include "core/uring/ring.hpp"
#include "core/yield.hpp"
#include "tests/support/loopback.hpp"

namespace ringlb::core {
namespace {

using namespace std::chrono_literals;

struct Mode {
    bool bundles;
    bool defer;
    bool incremental = false;  // asked for; the kernel may not have it (6.12)
};

std::unique_ptr<Runtime>
stream_runtime(unsigned workers, Mode mode, std::uint32_t count = 64, std::uint32_t bytes = 4096) {
    RuntimeOptions opts;
    opts.workers = workers;
    opts.ring.allow_defer_taskrun = mode.defer;
    opts.ring.allow_bundles = mode.bundles;
    opts.ring.buffers = {count, bytes, mode.incremental};
    auto rt = Runtime::create(opts);
    return rt ? std::move(*rt) : nullptr;
}

BufferRing* ring_buffers(const Runtime& rt, unsigned worker = 0) {
    return rt.worker(worker).ring()->buffers();
}

/// The page a chunk starts in: which ring buffer it is in, for rings of 4 KiB buffers (their
/// memory is page-aligned).
std::uintptr_t page_of(const std::byte* p) {
    return reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t{4095};
}

/// Writes `payload` to `fd` in writes of at most `step` bytes, then shuts down its writing
/// side. Stops early if a write fails (the reader failed; the test's assertions report it).
std::thread write_then_shut(int fd, const std::string& payload, std::size_t step = 1 << 30) {
    return std::thread([fd, &payload, step] {
        for (std::size_t off = 0; off < payload.size();) {
            const std::size_t n = std::min(step, payload.size() - off);
            const ssize_t w = ::write(fd, payload.data() + off, n);
            if (w <= 0) {
                return;
            }
            off += static_cast<std::size_t>(w);
        }
        ::shutdown(fd, SHUT_WR);
    });
}

/// Reads the stream to EOF; returns the bytes, or a marker on error. Notes in `seen` where
/// each chunk was.
Task<std::string>
read_all(int fd, std::uint32_t max_queued, std::set<const std::byte*>* seen = nullptr) {
    RecvStream stream(fd, max_queued);
    std::string got;
    for (;;) {
        Received r = co_await stream.next();
        if (!r.n) {
            if (r.n.is(std::errc::resource_unavailable_try_again)) {
                continue;
            }
            if (r.n.is(std::errc::no_buffer_space)) {
                (void)co_await sleep(1ms);
                continue;
            }
            co_return "error: " + r.n.error().message();
        }
        if (r.n.value() == 0) {
            co_return got;
        }
        if (!r.buf.is_provided() || r.buf.size() != r.n.value()) {
            co_return std::string("error: not a provided buffer of the received size");
        }
        got.append(reinterpret_cast<const char*>(r.buf.data()), r.buf.size());
        if (seen != nullptr) {
            seen->insert(r.buf.data());
        }
    }
}

// The handler and the consumer on two threads (a stolen pump): every chunk arrives once, in
// order, while nodes go round between the two through the queue's spare stack.
TEST(ChunkQueue, ProducerAndConsumerOnTwoThreadsKeepOrder) {
    detail::ChunkQueue q;
    constexpr std::int32_t kCount = 200000;
    std::thread producer([&] {
        for (std::int32_t i = 1; i <= kCount; ++i) {
            q.push(i, Buffer{});
        }
    });
    std::int32_t expected = 1;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (expected <= kCount && std::chrono::steady_clock::now() < deadline) {
        if (!q.has_items()) {
            std::this_thread::yield();
            continue;
        }
        const detail::ChunkQueue::Chunk c = q.pop();
        ASSERT_EQ(c.res, expected);
        ++expected;
    }
    producer.join();
    EXPECT_EQ(expected, kCount + 1);
    EXPECT_FALSE(q.has_items());
}

class StreamModes : public ::testing::TestWithParam<Mode> {};

TEST_P(StreamModes, ForwardsEveryByteInOrderAcrossWrites) {
    auto rt = stream_runtime(2, GetParam());
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    ASSERT_NE(ring_buffers(*rt), nullptr);
    const RingFeatures& features = rt->worker(0).ring()->features();
    // Bundles and incremental consumption are used only where the kernel has them (and
    // DEFER_TASKRUN is on); report which path ran.
    if (GetParam().bundles) {
        std::printf("bundles in use: %d\n", features.bundles);
    } else {
        EXPECT_FALSE(features.bundles);
    }
    if (GetParam().incremental && GetParam().defer) {
        std::printf("incremental consumption in use: %d\n", features.incremental);
    } else {
        EXPECT_FALSE(features.incremental);
    }
    EXPECT_EQ(ring_buffers(*rt)->incremental(), features.incremental);
    UniqueFd a;
    UniqueFd b;
    test::unix_stream_pair(a, b);
    const std::string payload = test::random_bytes(3 * 1024 * 1024 + 17, 42);
    std::thread writer([&] {
        std::size_t off = 0;
        std::size_t step = 1;
        while (off < payload.size()) {
            // Sizes from 1 byte to 64 KiB: small chunks, whole buffers and bundles.
            const std::size_t n = std::min(step, payload.size() - off);
            const ssize_t w = ::write(b.get(), payload.data() + off, n);
            if (w <= 0) {
                return;  // the reader failed; the assertions below report it
            }
            off += static_cast<std::size_t>(w);
            step = step >= 65536 ? 1 : step * 3;
        }
        ::shutdown(b.get(), SHUT_WR);
    });
    JoinResult<std::string> got = rt->block_on(read_all(a.get(), 4));
    ::shutdown(a.get(), SHUT_RDWR);  // a failed read must not leave the writer blocked
    writer.join();
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->size(), payload.size()) << got->substr(0, 80);
    EXPECT_TRUE(*got == payload);
    // Every buffer is back (some via other workers' give-back stacks).
    EXPECT_TRUE(test::run_until([&] {
        return ring_buffers(*rt, 0)->lent() == 0 && ring_buffers(*rt, 1)->lent() == 0;
    }));
}

INSTANTIATE_TEST_SUITE_P(
        Core,
        StreamModes,
        ::testing::Values(
                Mode{.bundles = true, .defer = true, .incremental = true},
                Mode{.bundles = true, .defer = true},
                Mode{.bundles = false, .defer = true, .incremental = true},
                Mode{.bundles = false, .defer = true},
                Mode{.bundles = false, .defer = false, .incremental = true}),
        [](const auto& info) {
            return std::string(info.param.bundles ? "Bundles" : "NoBundles")
                    + (info.param.defer ? "Defer" : "Coop")
                    + (info.param.incremental ? "Incremental" : "");
        });

// The warm window: 3 MiB through one stream on a ring of 1,024 buffers. Posting them all, the
// kernel would take the oldest each time and the transfer would touch every one (cold in the
// cache); with the window it cycles through the window and the few in flight.
TEST_P(StreamModes, ALongTransferCyclesThroughFewBuffers) {
    auto rt = stream_runtime(1, GetParam(), 1024, 4096);
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    UniqueFd a;
    UniqueFd b;
    test::unix_stream_pair(a, b);
    const std::string payload = test::random_bytes(3 * 1024 * 1024, 7);
    std::thread writer = write_then_shut(b.get(), payload);
    std::set<const std::byte*> chunks;
    JoinResult<std::string> got = rt->block_on(read_all(a.get(), 4, &chunks));
    ::shutdown(a.get(), SHUT_RDWR);
    writer.join();
    ASSERT_TRUE(got.has_value());
    ASSERT_TRUE(*got == payload) << got->substr(0, 80);
    std::set<std::uintptr_t> seen;  // buffers: consumed incrementally, chunks start anywhere
    for (const std::byte* c : chunks) {
        seen.insert(page_of(c));
    }
    // Measured: 43 with bundles, 63 with a plain multishot (it drains the window in one
    // pass), 32 with COOP; posting every buffer, about 770.
    std::printf("3 MiB went through %zu of 1024 buffers\n", seen.size());
    EXPECT_LE(seen.size(), 3 * BufferRing::kInitialWindow)
            << "the transfer cycled through the ring";
}

/// Takes a few chunks from the stream, stops it, drains it to -EAGAIN, then reads the rest
/// with plain recv()s: the hand-over the splice path's "auto" switch makes.
Task<std::string> stop_drain_then_recv(int fd) {
    RecvStream stream(fd, 4);
    std::string got;
    bool stopped = false;
    for (int chunks = 0;;) {
        Received r = co_await (stopped ? stream.drain() : stream.next());
        if (!r.n) {
            if (r.n.is(std::errc::resource_unavailable_try_again)) {
                if (stopped) {
                    break;  // the recv has ended: the socket is ours
                }
                continue;
            }
            if (r.n.is(std::errc::no_buffer_space)) {
                continue;
            }
            co_return "error: " + r.n.error().message();
        }
        if (r.n.value() == 0) {
            co_return got;  // EOF before the hand-over
        }
        got.append(reinterpret_cast<const char*>(r.buf.data()), r.buf.size());
        if (++chunks == 5 && !stopped) {
            stream.stop();
            stopped = true;
        }
    }
    for (;;) {
        Received r = co_await recv(fd, Buffer::allocate(65536));
        if (!r.n) {
            co_return "error after the hand-over: " + r.n.error().message();
        }
        if (r.n.value() == 0) {
            co_return got;
        }
        got.append(
                reinterpret_cast<const char*>(r.buf.data()), static_cast<std::size_t>(r.n.value()));
    }
}

TEST_P(StreamModes, StopAndDrainHandTheSocketOverWithEveryByteInOrder) {
    auto rt = stream_runtime(2, GetParam());
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    for (int round = 0; round < 5; ++round) {
        UniqueFd a;
        UniqueFd b;
        test::unix_stream_pair(a, b);
        const std::string payload = test::random_bytes(1024 * 1024, 100 + round);
        std::thread writer = write_then_shut(b.get(), payload, 3000);
        JoinResult<std::string> got = rt->block_on(stop_drain_then_recv(a.get()));
        ::shutdown(a.get(), SHUT_RDWR);
        writer.join();
        ASSERT_TRUE(got.has_value());
        ASSERT_EQ(got->size(), payload.size()) << got->substr(0, 80);
        ASSERT_TRUE(*got == payload) << "bytes reordered or lost at the hand-over";
    }
    EXPECT_TRUE(test::run_until([&] {
        return ring_buffers(*rt, 0)->lent() == 0 && ring_buffers(*rt, 1)->lent() == 0;
    }));
}

// Reads `total` bytes, then EOF, checking eof_is_next() before every chunk: true only when
// the chunk that comes next is the EOF, since a sender trusts it to hold its last bytes back
// for the FIN (MSG_MORE). `end_seen_coming`: whether it said so before the EOF was taken.
Task<std::string> read_watching_for_the_end(int fd, std::size_t total, bool* end_seen_coming) {
    // Room for every chunk of the test's payloads: a paused recv (max_queued reached) would
    // see the FIN only when next() arms it again.
    RecvStream stream(fd, 16);
    std::string got;
    for (;;) {
        if (got.size() == total) {
            // Everything is here: the FIN, already written, is queued or on its way.
            for (int i = 0; i < 1000 && !stream.eof_is_next(); ++i) {
                co_await yield_now();
            }
        }
        const bool said_end = stream.eof_is_next();
        Received r = co_await stream.next();
        if (!r.n) {
            if (r.n.is(std::errc::resource_unavailable_try_again)) {
                continue;
            }
            co_return "error: " + r.n.error().message();
        }
        if (said_end && r.n.value() != 0) {
            co_return std::string("error: eof_is_next() was true, then data came");
        }
        if (r.n.value() == 0) {
            *end_seen_coming = said_end;
            co_return got;
        }
        got.append(reinterpret_cast<const char*>(r.buf.data()), r.buf.size());
    }
}

// The peer writes and closes before the reader starts, so its bytes and its FIN wait together.
// With the multishot recv (DEFER_TASKRUN) the FIN is queued behind the last chunk, and
// eof_is_next() says so before it is taken; with a recv armed per next() it cannot know.
TEST_P(StreamModes, EofIsNextOnlyWhenTheFinIsQueuedBehindTheLastChunk) {
    auto rt = stream_runtime(1, GetParam());
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    for (const std::size_t size : {std::size_t{5}, std::size_t{6000}, std::size_t{20000}}) {
        UniqueFd a;
        UniqueFd b;
        test::unix_stream_pair(a, b);
        const std::string payload = test::random_bytes(size, size);
        ASSERT_EQ(::write(b.get(), payload.data(), payload.size()), ssize_t(payload.size()));
        ::shutdown(b.get(), SHUT_WR);
        bool end_seen_coming = false;
        JoinResult<std::string> got =
                rt->block_on(read_watching_for_the_end(a.get(), size, &end_seen_coming));
        ASSERT_TRUE(got.has_value());
        ASSERT_EQ(*got, payload) << got->substr(0, 80);
        if (GetParam().defer) {
            EXPECT_TRUE(end_seen_coming) << size << " bytes";
        }
    }
}

// Kernels 6.10 to 6.14 take recv bundles but answer -EINVAL to a capped one: the ring must
// stop using bundles and the stream must go on without them, losing nothing. Forced here with
// a flag the kernel rejects in the same way.
TEST(RecvStream, AKernelRejectingCappedBundlesFallsBackWithoutThem) {
    RuntimeOptions opts;
    opts.workers = 1;
    opts.ring.buffers = {64, 4096};
    opts.ring.fault_bundles = true;
    auto created = Runtime::create(opts);
    if (!created) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    auto rt = std::move(*created);
    if (!rt->worker(0).ring()->features().bundles) {
        GTEST_SKIP() << "this kernel has no recv bundles (6.10): nothing to fall back from";
    }
    UniqueFd a;
    UniqueFd b;
    test::unix_stream_pair(a, b);
    const std::string payload = test::random_bytes(1024 * 1024, 21);
    std::thread writer = write_then_shut(b.get(), payload, 20000);
    struct Out {
        std::string bytes;
        bool bundles_after = true;
    };
    JoinResult<Out> got = rt->block_on([](int fd) -> Task<Out> {
        Out out;
        out.bytes = co_await read_all(fd, 4);
        out.bundles_after = Ring::current()->features().bundles;  // the owner thread
        co_return out;
    }(a.get()));
    ::shutdown(a.get(), SHUT_RDWR);
    writer.join();
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->bytes.size(), payload.size()) << got->bytes.substr(0, 80);
    EXPECT_TRUE(got->bytes == payload);
    EXPECT_FALSE(got->bundles_after) << "the -EINVAL did not turn bundles off";
}

Task<std::int32_t> first_result(RecvStream& stream) {
    Received r = co_await stream.next();
    co_return r.n ? static_cast<std::int32_t>(r.n.value()) : -r.n.error().value();
}

/// How many SQEs the kernel has consumed from the ring behind `ring_fd` (its fdinfo SqHead).
std::uint64_t sq_head(int ring_fd) {
    std::FILE* f = std::fopen(("/proc/self/fdinfo/" + std::to_string(ring_fd)).c_str(), "r");
    if (f == nullptr) {
        return 0;
    }
    char line[256];
    unsigned long long head = 0;
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::sscanf(line, "SqHead: %llu", &head) == 1) {
            break;
        }
    }
    std::fclose(f);
    return head;
}

TEST(RecvStream, AnIdleStreamHoldsNoBuffer) {
    auto rt = stream_runtime(1, {true, true});
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    UniqueFd a;
    UniqueFd b;
    test::unix_stream_pair(a, b);
    RecvStream stream(a.get());
    const int ring_fd = rt->worker(0).ring()->fd();
    const std::uint64_t consumed = sq_head(ring_fd);
    JoinHandle<std::int32_t> waiting = rt->spawn(first_result(stream));
    // Armed (the kernel took its SQE), no data: nothing may be taken from the ring.
    ASSERT_TRUE(test::run_until([&] { return sq_head(ring_fd) > consumed; }));
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(ring_buffers(*rt)->lent(), 0u);
    ASSERT_EQ(::write(b.get(), "ping", 4), 4);
    JoinResult<std::int32_t> r = rt->block_on([](JoinHandle<std::int32_t> h) -> Task<std::int32_t> {
        JoinResult<std::int32_t> v = co_await h;
        co_return v.has_value() ? *v : -1;
    }(std::move(waiting)));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, 4);
}

/// Takes one chunk and holds it (the peer's send never completes); reports what is lent once
/// it stops growing (and the sample after), then drains the stream.
Task<std::string> hold_then_drain(
        int fd,
        std::uint32_t max_queued,
        BufferRing* ring,
        std::uint32_t* lent_paused,
        std::uint32_t* lent_later) {
    RecvStream stream(fd, max_queued);
    Received first;
    do {
        first = co_await stream.next();
    } while (!first.n && first.n.is(std::errc::resource_unavailable_try_again));
    if (!first.n || first.n.value() == 0) {
        co_return std::string("error: no first chunk");
    }
    // The writer keeps writing; the stream must stop taking buffers: wait until the count
    // holds still for 200 ms (a loaded machine may take a while to get there).
    *lent_later = ring->lent();
    for (int i = 0; i < 50; ++i) {
        *lent_paused = *lent_later;
        (void)co_await sleep(200ms);
        *lent_later = ring->lent();
        if (*lent_later == *lent_paused) {
            break;
        }
    }
    std::string got(reinterpret_cast<const char*>(first.buf.data()), first.buf.size());
    first.buf.reset();
    for (;;) {
        Received r = co_await stream.next();
        if (!r.n) {
            if (r.n.is(std::errc::resource_unavailable_try_again)
                || r.n.is(std::errc::no_buffer_space)) {
                continue;
            }
            co_return "error: " + r.n.error().message();
        }
        if (r.n.value() == 0) {
            co_return got;
        }
        got.append(reinterpret_cast<const char*>(r.buf.data()), r.buf.size());
    }
}

TEST_P(StreamModes, ASlowConsumerPausesTheRecvInsteadOfDrainingTheRing) {
    auto rt = stream_runtime(1, GetParam(), 1024, 4096);
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    UniqueFd a;
    UniqueFd b;
    test::unix_stream_pair(a, b);
    const std::string payload = test::random_bytes(16 * 1024 * 1024, 7);
    std::thread writer = write_then_shut(b.get(), payload);
    std::uint32_t lent_paused = 0;
    std::uint32_t lent_later = 0;
    JoinResult<std::string> got =
            rt->block_on(hold_then_drain(a.get(), 4, ring_buffers(*rt), &lent_paused, &lent_later));
    ::shutdown(a.get(), SHUT_RDWR);
    writer.join();
    ASSERT_TRUE(got.has_value());
    EXPECT_TRUE(*got == payload) << got->size();
    // Paused and stable, far short of the ring's 1,024 buffers (16 MiB were on offer). With
    // DEFER_TASKRUN: max_queued plus what arrived before the cancel took effect; without it
    // (one recv per next()) just the chunk held.
    EXPECT_GE(lent_paused, GetParam().defer ? 4u : 1u);
    EXPECT_EQ(lent_paused, lent_later);
    EXPECT_LE(lent_paused, 256u);  // under TSan a run of retries lands first: ~100 seen
    EXPECT_TRUE(test::run_until([&] { return ring_buffers(*rt)->lent() == 0; }));
}

/// Two streams on a 2-buffer ring: the first holds both buffers, so the second sees -ENOBUFS;
/// once they are dropped, the second gets its bytes.
Task<std::string> starve_then_recover(int fd1, int fd2) {
    RecvStream s1(fd1, 8);
    std::vector<Buffer> held;
    while (held.size() < 2) {
        Received r = co_await s1.next();
        if (!r.n) {
            if (r.n.is(std::errc::resource_unavailable_try_again)
                || r.n.is(std::errc::no_buffer_space)) {
                continue;
            }
            co_return "error: s1 " + r.n.error().message();
        }
        held.push_back(std::move(r.buf));
    }
    RecvStream s2(fd2, 8);
    Received r2 = co_await s2.next();
    if (r2.n || !r2.n.is(std::errc::no_buffer_space)) {
        co_return std::string("error: expected ENOBUFS");
    }
    held.clear();  // back to the ring
    for (;;) {
        r2 = co_await s2.next();
        if (r2.n && r2.n.value() > 0) {
            co_return std::string(reinterpret_cast<const char*>(r2.buf.data()), r2.buf.size());
        }
        if (!r2.n && r2.n.is(std::errc::resource_unavailable_try_again)) {
            continue;
        }
        co_return "error: s2 " + (r2.n ? std::string("EOF") : r2.n.error().message());
    }
}

TEST(RecvStream, AnEmptyRingGivesEnobufsAndRecovers) {
    auto rt = stream_runtime(1, {false, true}, 2, 4096);
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    UniqueFd a1, b1, a2, b2;
    test::unix_stream_pair(a1, b1);
    test::unix_stream_pair(a2, b2);
    const std::string big(3 * 4096, 'x');
    ASSERT_EQ(::write(b1.get(), big.data(), big.size()), static_cast<ssize_t>(big.size()));
    ASSERT_EQ(::write(b2.get(), "second", 6), 6);
    JoinResult<std::string> got = rt->block_on(starve_then_recover(a1.get(), a2.get()));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, "second");
    EXPECT_TRUE(test::run_until([&] { return ring_buffers(*rt)->lent() == 0; }));
}

Task<Buffer> one_buffer(int fd) {
    RecvStream stream(fd);
    for (;;) {
        Received r = co_await stream.next();
        if (r.n && r.n.value() > 0) {
            co_return std::move(r.buf);
        }
        if (!r.n && r.n.is(std::errc::resource_unavailable_try_again)) {
            continue;
        }
        co_return Buffer{};
    }
}

/// The byte at `offset` of the migration test's stream: a reordered or lost chunk shows.
char pattern_byte(std::uint64_t offset) noexcept {
    return static_cast<char>((offset * 131 + (offset >> 9)) & 0xff);
}

struct Migrated {
    std::uint64_t bytes = 0;            // received, all matching the pattern
    std::string error;                  // the first problem, if any
    std::set<std::thread::id> threads;  // where the consumer ran
};

/// Reads to EOF, checking the pattern, yielding after every chunk so that another worker can
/// steal the task; sets `moved` once it has run on two threads.
Task<Migrated> read_all_yielding(int fd, std::atomic<bool>* moved, std::atomic<bool>* done) {
    RecvStream stream(fd, 4);
    Migrated out;
    for (;;) {
        Received r = co_await stream.next();
        out.threads.insert(std::this_thread::get_id());
        if (out.threads.size() >= 2) {
            moved->store(true);
        }
        if (!r.n) {
            if (r.n.is(std::errc::resource_unavailable_try_again)) {
                continue;
            }
            if (r.n.is(std::errc::no_buffer_space)) {
                co_await sleep(1ms);
                continue;
            }
            out.error = "error: " + r.n.error().message();
            break;
        }
        if (r.n.value() == 0) {
            break;
        }
        const auto* p = reinterpret_cast<const char*>(r.buf.data());
        for (std::size_t k = 0; k < r.buf.size() && out.error.empty(); ++k) {
            if (p[k] != pattern_byte(out.bytes + k)) {
                out.error = "wrong byte at offset " + std::to_string(out.bytes + k);
            }
        }
        out.bytes += r.buf.size();
        r.buf.reset();  // given back from whichever worker runs us now
        co_await yield_now();
    }
    done->store(true);
    co_return out;
}

/// Keeps its worker busy for 2 ms without yielding.
Task<void> hog() {
    const auto until = std::chrono::steady_clock::now() + 2ms;
    while (std::chrono::steady_clock::now() < until) {
    }
    co_return;
}

// A consumer that moves between workers mid-stream (stolen while its own worker is busy):
// the recv armed on one ring, re-armed on the other, buffers given back across threads.
TEST(RecvStream, AConsumerStolenMidStreamGetsEveryByteInOrder) {
    RuntimeOptions opts;
    opts.workers = 2;
    opts.ring.buffers = {64, 4096};
    opts.max_idle_wait = 1ms;  // an idle worker looks for tasks to steal every millisecond
    auto created = Runtime::create(opts);
    if (!created) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    auto rt = std::move(*created);
    UniqueFd a;
    UniqueFd b;
    test::unix_stream_pair(a, b);
    // The writer goes on until the reader has moved (and 2 MiB at least): how soon a steal
    // happens depends on the machine's load.
    std::atomic<bool> moved{false};
    std::atomic<bool> done{false};
    std::uint64_t written = 0;
    std::thread writer([&] {
        char block[8192];
        while (written < (64u << 20) && (written < (2u << 20) || !moved.load())) {
            for (std::size_t k = 0; k < sizeof block; ++k) {
                block[k] = pattern_byte(written + k);
            }
            std::size_t off = 0;
            while (off < sizeof block) {
                const ssize_t w = ::write(b.get(), block + off, sizeof block - off);
                if (w <= 0) {
                    return;
                }
                off += static_cast<std::size_t>(w);
            }
            written += sizeof block;
        }
        ::shutdown(b.get(), SHUT_WR);
    });
    JoinHandle<Migrated> reader = rt->spawn_on_worker(0, read_all_yielding(a.get(), &moved, &done));
    // Busy spells on worker 0 (or on 1, if it steals them): the reader, queued behind one,
    // is stolen by the idle worker.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!done.load() && std::chrono::steady_clock::now() < deadline) {
        JoinHandle<void> h = rt->spawn_on_worker(0, hog());
        h.header()->wait_finished();
    }
    reader.header()->wait_finished();
    JoinResult<Migrated> got = reader.take();
    ::shutdown(a.get(), SHUT_RDWR);
    writer.join();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->error, "");
    EXPECT_EQ(got->bytes, written);
    EXPECT_GE(got->threads.size(), 2u) << "the consumer never moved: the test proves nothing";
    EXPECT_TRUE(test::run_until([&] {
        return ring_buffers(*rt, 0)->lent() == 0 && ring_buffers(*rt, 1)->lent() == 0;
    }));
}

// stop() from another thread, twice for the same stream, while the ring's owner is too busy
// to submit the cancels: each must be queued once (the remote-cancel list links through the
// state itself, so a second push would cut the list or loop it), and every stream must end.
TEST(RecvStream, RepeatedRemoteStopsWhileTheOwnerIsBusyEndEachRecvOnce) {
    const std::int64_t ops_before = live_op_states();
    {
        auto rt = stream_runtime(1, {true, true}, 64, 4096);
        if (!rt) {
            GTEST_SKIP() << "io_uring is not available here";
        }
        UniqueFd a1, b1, a2, b2;
        test::unix_stream_pair(a1, b1);
        test::unix_stream_pair(a2, b2);
        RecvStream s1(a1.get());
        RecvStream s2(a2.get());
        std::atomic<int> waiting{0};
        auto wait_one = [](RecvStream* s, std::atomic<int>* w) -> Task<std::int32_t> {
            w->fetch_add(1);
            co_return co_await first_result(*s);
        };
        JoinHandle<std::int32_t> r1 = rt->spawn_on_worker(0, wait_one(&s1, &waiting));
        JoinHandle<std::int32_t> r2 = rt->spawn_on_worker(0, wait_one(&s2, &waiting));
        ASSERT_TRUE(test::run_until([&] { return waiting.load() == 2; }));
        std::this_thread::sleep_for(20ms);  // both recvs armed and waiting
        std::atomic<bool> busy{false};
        JoinHandle<void> h = rt->spawn_on_worker(0, [](std::atomic<bool>* b) -> Task<void> {
            b->store(true);
            const auto until = std::chrono::steady_clock::now() + 100ms;
            while (std::chrono::steady_clock::now() < until) {
            }
            co_return;
        }(&busy));
        ASSERT_TRUE(test::run_until([&] { return busy.load(); }));
        // All three land on the list while the worker spins. Pushed again, s2 would link to
        // itself and cut s1 (below it) off the list: s1's recv would never end.
        s1.stop();
        s2.stop();
        s2.stop();
        h.header()->wait_finished();
        ASSERT_TRUE(test::run_until([&] {
            return r1.header()->is_finished() && r2.header()->is_finished();
        })) << "a stopped recv never ended: a cancel was lost";
        JoinResult<std::int32_t> e1 = r1.take();
        JoinResult<std::int32_t> e2 = r2.take();
        ASSERT_TRUE(e1.has_value() && e2.has_value());
        EXPECT_EQ(*e1, -EAGAIN);
        EXPECT_EQ(*e2, -EAGAIN);
        rt->shutdown();
    }
    if (ops_before >= 0) {
        EXPECT_EQ(live_op_states(), ops_before);
    }
}

struct Burst {
    std::vector<Buffer> held;  // one chunk per stream, all held at once
    int enobufs = 0;           // -ENOBUFS seen by the consumers
    std::uint32_t window = 0;  // the ring's window afterwards
};

/// Arms one stream per descriptor in the same loop turn (their data is there already, so the
/// kernel fills them all during one enter) and keeps the first chunk of each.
Task<Burst> burst(std::vector<int> fds) {
    Burst out;
    std::vector<std::unique_ptr<RecvStream>> streams;
    for (const int fd : fds) {
        streams.push_back(std::make_unique<RecvStream>(fd));
    }
    std::vector<JoinHandle<Buffer>> firsts;
    for (auto& s : streams) {
        firsts.push_back(spawn([](RecvStream* stream, int* enobufs) -> Task<Buffer> {
            for (;;) {
                Received r = co_await stream->next();
                if (r.n && r.n.value() > 0) {
                    co_return std::move(r.buf);
                }
                if (!r.n && r.n.is(std::errc::no_buffer_space)) {
                    ++*enobufs;  // one worker: no race
                    co_await sleep(1ms);
                    continue;
                }
                if (!r.n && r.n.is(std::errc::resource_unavailable_try_again)) {
                    continue;
                }
                co_return Buffer{};
            }
        }(s.get(), &out.enobufs)));
    }
    for (auto& f : firsts) {
        JoinResult<Buffer> b = co_await f;
        out.held.push_back(b ? std::move(*b) : Buffer{});
    }
    out.window = Ring::current()->buffers()->window();  // the owner thread: one worker
    co_return out;
}

TEST(RecvStream, ABurstWiderThanTheWindowWidensItWithoutAnError) {
    auto rt = stream_runtime(1, {true, true}, 256, 4096);
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    constexpr int kStreams = 100;  // > BufferRing::kInitialWindow, < 256
    std::vector<UniqueFd> ours(kStreams);
    std::vector<UniqueFd> theirs(kStreams);
    std::vector<int> fds;
    for (int i = 0; i < kStreams; ++i) {
        test::unix_stream_pair(ours[i], theirs[i]);
        ASSERT_EQ(::write(theirs[i].get(), "burst", 5), 5);
        fds.push_back(ours[i].get());
    }
    JoinResult<Burst> got = rt->block_on(burst(fds));
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->held.size(), static_cast<std::size_t>(kStreams));
    for (const Buffer& b : got->held) {
        ASSERT_EQ(std::string(reinterpret_cast<const char*>(b.data()), b.size()), "burst");
    }
    EXPECT_EQ(got->enobufs, 0) << "a consumer saw -ENOBUFS while buffers waited off the ring";
    EXPECT_GE(got->window, 2 * BufferRing::kInitialWindow) << "the window never widened";
    got->held.clear();
    EXPECT_TRUE(test::run_until([&] { return ring_buffers(*rt)->lent() == 0; }));
}

/// One worker whose buffer ring of `count` 4 KiB buffers is consumed incrementally, or null
/// with the reason in `why` (no io_uring; a kernel before 6.12).
std::unique_ptr<Runtime> incremental_runtime(std::uint32_t count, std::string* why) {
    auto rt = stream_runtime(1, {.bundles = true, .defer = true, .incremental = true}, count, 4096);
    if (!rt) {
        *why = "io_uring is not available here";
    } else if (!ring_buffers(*rt)->incremental()) {
        *why = "this kernel has no incremental buffer consumption (6.12)";
        // On a kernel that has it, not getting it is a failure, not a reason to skip.
        utsname u{};
        int major = 0;
        int minor = 0;
        if (::uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2
            && (major > 6 || (major == 6 && minor >= 12))) {
            ADD_FAILURE() << "kernel " << u.release << " has IOU_PBUF_RING_INC; the ring did "
                          << "not register with it";
        }
        rt.reset();
    }
    return rt;
}

// Incremental consumption: the same burst takes a few bytes of one buffer per stream, not a
// buffer each, so the window has no reason to widen; each chunk is a piece of its own.
TEST(RecvStream, IncrementallySmallMessagesOfManyStreamsShareABuffer) {
    std::string why;
    auto rt = incremental_runtime(256, &why);
    if (!rt) {
        GTEST_SKIP() << why;
    }
    constexpr int kStreams = 100;
    std::vector<UniqueFd> ours(kStreams);
    std::vector<UniqueFd> theirs(kStreams);
    std::vector<int> fds;
    for (int i = 0; i < kStreams; ++i) {
        test::unix_stream_pair(ours[i], theirs[i]);
        const std::string msg = "burst " + std::to_string(1000 + i);  // 10 bytes each
        ASSERT_EQ(::write(theirs[i].get(), msg.data(), msg.size()), 10);
        fds.push_back(ours[i].get());
    }
    JoinResult<Burst> got = rt->block_on(burst(fds));
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->held.size(), static_cast<std::size_t>(kStreams));
    std::set<std::uintptr_t> buffers;
    std::set<const std::byte*> starts;
    for (int i = 0; i < kStreams; ++i) {
        const Buffer& b = got->held[i];
        ASSERT_EQ(
                std::string(reinterpret_cast<const char*>(b.data()), b.size()),
                "burst " + std::to_string(1000 + i));
        buffers.insert(page_of(b.data()));
        starts.insert(b.data());
    }
    EXPECT_EQ(starts.size(), static_cast<std::size_t>(kStreams)) << "two chunks at one place";
    EXPECT_EQ(buffers.size(), 1u) << "1,000 bytes in 100 messages spread over several buffers";
    EXPECT_EQ(got->enobufs, 0);
    EXPECT_EQ(got->window, BufferRing::kInitialWindow);
    EXPECT_EQ(ring_buffers(*rt)->lent(), static_cast<std::uint32_t>(kStreams));
    got->held.clear();
    EXPECT_TRUE(test::run_until([&] { return ring_buffers(*rt)->lent() == 0; }));
}

/// Receives until `want` bytes came, holding every chunk. Dropping none, a 4-buffer ring runs
/// dry (-ENOBUFS): the caller sizes `want` below it.
Task<std::vector<Buffer>> hold_chunks(int fd, std::size_t want) {
    RecvStream stream(fd, 64);
    std::vector<Buffer> held;
    std::size_t got = 0;
    while (got < want) {
        Received r = co_await stream.next();
        if (r.n && r.n.value() > 0) {
            got += r.buf.size();
            held.push_back(std::move(r.buf));
        } else if (!(!r.n && r.n.is(std::errc::resource_unavailable_try_again))) {
            break;  // EOF or an error: the caller's size check reports it
        }
    }
    co_return held;
}

std::string concat(const std::vector<Buffer>& chunks) {
    std::string out;
    for (const Buffer& b : chunks) {
        out.append(reinterpret_cast<const char*>(b.data()), b.size());
    }
    return out;
}

// The safety of incremental consumption: a buffer goes back to the ring only once the kernel
// has filled it and every piece of it is given back. A held piece whose buffer came back too
// early would be overwritten by the next recvs: here 1 MiB goes through a ring of 4 buffers
// (about 250 rounds of it) while one piece, and then pieces of a second buffer, are held.
TEST(RecvStream, IncrementallyAHeldPieceKeepsItsBufferOutOfTheRing) {
    std::string why;
    auto rt = incremental_runtime(4, &why);
    if (!rt) {
        GTEST_SKIP() << why;
    }
    UniqueFd a1, b1, a2, b2, a3, b3;
    test::unix_stream_pair(a1, b1);
    test::unix_stream_pair(a2, b2);
    test::unix_stream_pair(a3, b3);
    // A piece at the start of a buffer the kernel goes on filling...
    const std::string keep = test::random_bytes(100, 1);
    ASSERT_EQ(::write(b1.get(), keep.data(), keep.size()), 100);
    JoinResult<std::vector<Buffer>> kept = rt->block_on(hold_chunks(a1.get(), keep.size()));
    ASSERT_TRUE(kept.has_value());
    ASSERT_TRUE(concat(*kept) == keep);
    // ... and pieces that span a buffer's end: the rest of that buffer, the next one's start.
    const std::string span = test::random_bytes(6000, 2);
    ASSERT_EQ(::write(b2.get(), span.data(), span.size()), 6000);
    JoinResult<std::vector<Buffer>> spanning = rt->block_on(hold_chunks(a2.get(), span.size()));
    ASSERT_TRUE(spanning.has_value());
    ASSERT_TRUE(concat(*spanning) == span);
    ASSERT_GE(spanning->size(), 2u);
    EXPECT_EQ(page_of(kept->front().data()), page_of(spanning->front().data()))
            << "the second stream did not go on in the first one's buffer";
    EXPECT_EQ(spanning->front().data(), kept->front().data() + keep.size());
    // What splice "auto" counts as bulk: a chunk that runs to its buffer's end.
    EXPECT_FALSE(kept->front().reaches_ring_buffer_end());
    EXPECT_TRUE(spanning->front().reaches_ring_buffer_end());
    EXPECT_FALSE(spanning->back().reaches_ring_buffer_end());
    // Two buffers are held now; 1 MiB goes through the other two.
    const std::string bulk = test::random_bytes(1024 * 1024, 3);
    std::thread writer = write_then_shut(b3.get(), bulk, 3000);
    JoinResult<std::string> got = rt->block_on(read_all(a3.get(), 1));
    ::shutdown(a3.get(), SHUT_RDWR);
    writer.join();
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->size(), bulk.size()) << got->substr(0, 80);
    EXPECT_TRUE(*got == bulk);
    EXPECT_TRUE(concat(*kept) == keep)
            << "a held piece was overwritten: its buffer went back early";
    EXPECT_TRUE(concat(*spanning) == span) << "held pieces were overwritten";
    kept->clear();
    spanning->clear();
    EXPECT_TRUE(test::run_until([&] { return ring_buffers(*rt)->lent() == 0; }));
    // And all four buffers are usable again: 3 x 4 KiB and a byte held at once need them all
    // (the one at the ring's head may be filled but for a byte).
    const std::string whole = test::random_bytes(3 * 4096 + 1, 4);
    ASSERT_EQ(::write(b1.get(), whole.data(), whole.size()), 3 * 4096 + 1);
    JoinResult<std::vector<Buffer>> all = rt->block_on(hold_chunks(a1.get(), whole.size()));
    ASSERT_TRUE(all.has_value());
    EXPECT_TRUE(concat(*all) == whole) << "a buffer did not come back to the ring";
}

// Pieces of one buffer given back on another thread, in any order: the last one (and only
// that one) puts the buffer back, through the remote stack. 40 rounds on a 4-buffer ring: a
// buffer lost or put back twice shows as -ENOBUFS or as overwritten data.
TEST(RecvStream, IncrementallyPiecesGivenBackOnAnotherThreadReturnTheirBufferOnce) {
    std::string why;
    auto rt = incremental_runtime(4, &why);
    if (!rt) {
        GTEST_SKIP() << why;
    }
    for (int round = 0; round < 40; ++round) {
        UniqueFd a, b, c, d;
        test::unix_stream_pair(a, b);
        test::unix_stream_pair(c, d);
        // 3,000 + 5,192 bytes: the second stream fills the first one's buffer and the next.
        const std::string m1 = test::random_bytes(3000, 10 + round);
        const std::string m2 = test::random_bytes(5192, 100 + round);
        ASSERT_EQ(::write(b.get(), m1.data(), m1.size()), 3000);
        JoinResult<std::vector<Buffer>> p1 = rt->block_on(hold_chunks(a.get(), m1.size()));
        ASSERT_EQ(::write(d.get(), m2.data(), m2.size()), 5192);
        JoinResult<std::vector<Buffer>> p2 = rt->block_on(hold_chunks(c.get(), m2.size()));
        ASSERT_TRUE(p1.has_value() && p2.has_value());
        ASSERT_TRUE(concat(*p1) == m1) << "round " << round;
        ASSERT_TRUE(concat(*p2) == m2) << "round " << round;
        // Given back here, on the test's thread, the later pieces first.
        p2->clear();
        p1->clear();
        ASSERT_TRUE(test::run_until([&] { return ring_buffers(*rt)->lent() == 0; }))
                << "round " << round;
    }
}

// The stress behind the count: 100 pieces of a buffer given back by four threads at once, 120
// rounds on a ring of 4 buffers (each buffer is filled about 6 times). A buffer put back twice
// would be filled by two recvs at once (the messages would mix); one never put back would
// leave the ring dry (-ENOBUFS). Run under ThreadSanitizer in CI.
TEST(RecvStream, IncrementallyPiecesDroppedOnManyThreadsAtOnce) {
    std::string why;
    auto rt = incremental_runtime(4, &why);
    if (!rt) {
        GTEST_SKIP() << why;
    }
    constexpr int kStreams = 100;
    constexpr int kThreads = 4;
    for (int round = 0; round < 120; ++round) {
        std::vector<UniqueFd> ours(kStreams);
        std::vector<UniqueFd> theirs(kStreams);
        std::vector<int> fds;
        for (int i = 0; i < kStreams; ++i) {
            test::unix_stream_pair(ours[i], theirs[i]);
            // 8 bytes: a buffer's end never cuts one in two (a stream would get two chunks).
            const std::string msg =
                    "r" + std::to_string(100 + round) + "s" + std::to_string(100 + i);
            ASSERT_EQ(::write(theirs[i].get(), msg.data(), msg.size()), 8);
            fds.push_back(ours[i].get());
        }
        JoinResult<Burst> got = rt->block_on(burst(fds));
        ASSERT_TRUE(got.has_value());
        ASSERT_EQ(got->held.size(), static_cast<std::size_t>(kStreams));
        for (int i = 0; i < kStreams; ++i) {
            const Buffer& b = got->held[i];
            ASSERT_EQ(
                    std::string(reinterpret_cast<const char*>(b.data()), b.size()),
                    "r" + std::to_string(100 + round) + "s" + std::to_string(100 + i))
                    << "round " << round;
        }
        ASSERT_EQ(got->enobufs, 0) << "round " << round << ": the ring ran dry";
        std::atomic<int> ready{0};
        std::vector<std::thread> droppers;
        for (int t = 0; t < kThreads; ++t) {
            droppers.emplace_back([&, t] {
                ready.fetch_add(1);
                while (ready.load() < kThreads) {
                }
                for (int i = t; i < kStreams; i += kThreads) {
                    got->held[i].reset();
                }
            });
        }
        for (std::thread& d : droppers) {
            d.join();
        }
        ASSERT_TRUE(test::run_until([&] { return ring_buffers(*rt)->lent() == 0; }))
                << "round " << round;
    }
}

TEST(RecvStream, ABufferDroppedOnAnotherThreadGoesBackToItsRing) {
    auto rt = stream_runtime(1, {true, true}, 4, 4096);
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    for (int round = 0; round < 20; ++round) {  // 20 rounds on a 4-buffer ring: reuse works
        UniqueFd a, b;
        test::unix_stream_pair(a, b);
        ASSERT_EQ(::write(b.get(), "abc", 3), 3);
        JoinResult<Buffer> buf = rt->block_on(one_buffer(a.get()));
        ASSERT_TRUE(buf.has_value());
        ASSERT_TRUE(buf->is_provided());
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf->data()), buf->size()), "abc");
        EXPECT_EQ(ring_buffers(*rt)->lent(), 1u);
        buf->reset();  // on the test's thread: the remote stack, drained by the worker
        EXPECT_TRUE(test::run_until([&] { return ring_buffers(*rt)->lent() == 0; }));
    }
}

TEST(RecvStream, BuffersOutliveTheirRuntime) {
    auto rt = stream_runtime(1, {true, true}, 4, 4096);
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    UniqueFd a, b;
    test::unix_stream_pair(a, b);
    ASSERT_EQ(::write(b.get(), "late", 4), 4);
    JoinResult<Buffer> buf = rt->block_on(one_buffer(a.get()));
    rt.reset();  // the ring goes; the buffer's memory stays until it is dropped (ASan checks)
    ASSERT_TRUE(buf.has_value());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf->data()), buf->size()), "late");
}

TEST(RecvStream, WithoutABufferRingNextSaysNotSupported) {
    RuntimeOptions opts;
    opts.workers = 1;
    opts.ring.provided_buffers = false;
    auto created = Runtime::create(opts);
    if (!created) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    auto rt = std::move(*created);
    EXPECT_EQ(ring_buffers(*rt), nullptr);
    EXPECT_FALSE(rt->worker(0).ring()->features().buffer_ring);
    UniqueFd a, b;
    test::unix_stream_pair(a, b);
    JoinResult<std::int32_t> r = rt->block_on([](int fd) -> Task<std::int32_t> {
        RecvStream stream(fd);
        co_return co_await first_result(stream);
    }(a.get()));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, -EOPNOTSUPP);
}

}  // namespace
}  // namespace ringlb::core
