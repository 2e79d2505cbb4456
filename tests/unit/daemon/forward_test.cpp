// SPDX-License-Identifier: MIT
// forward() on real loopback TCP connections, in each receive path: the ring path (both
// directions in the awaiter), "auto" (which hands bulk to a splice pump mid-stream), the pumps
// of a ring-less worker and of `splice`. Bytes arrive exactly both ways at once over many
// connections on two workers; a half-close keeps the other way flowing; a reset and idleness
// end the connection with the right verdict; the end joins every pump. Under the sanitizer
// builds too (suite daemon).
#include "daemon/forward.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/join_handle.hpp"
#include "core/runtime.hpp"
#include "core/unique_fd.hpp"
#include "tests/support/loopback.hpp"

namespace ringlb::daemon {
namespace {

using namespace std::chrono_literals;
using core::UniqueFd;

enum class Path { kRing, kAuto, kNoRing, kSplice };

const char* to_string(Path p) {
    switch (p) {
        case Path::kRing:
            return "ring";
        case Path::kAuto:
            return "auto";
        case Path::kNoRing:
            return "no_ring";
        case Path::kSplice:
            return "splice";
    }
    return "?";
}

std::unique_ptr<core::Runtime> runtime_for(Path p) {
    core::RuntimeOptions opts;
    opts.workers = 2;
    if (p == Path::kNoRing) {
        opts.ring.provided_buffers = false;
    } else {
        opts.ring.buffers = {256, 16384};
    }
    auto rt = core::Runtime::create(opts);
    return rt ? std::move(*rt) : nullptr;
}

ForwardOptions options_for(Path p, PerWorker<ForwardedBytes>* counters) {
    ForwardOptions o;
    o.splice = p == Path::kSplice;
    o.splice_auto = p == Path::kAuto;
    o.buffer_ring = p != Path::kNoRing;
    o.pipe_bytes = 256 << 10;  // the daemon's default (listeners[].pipe_bytes)
    o.counters = counters;
    return o;
}

// One proxied connection: the client's and the backend's ends (blocking, the test's), and
// forward()'s two (non-blocking, as the daemon's are).
struct Connection {
    UniqueFd client;
    UniqueFd proxy_client;
    UniqueFd proxy_backend;
    UniqueFd backend;
};

UniqueFd accept_nonblocking(int listener) {
    UniqueFd fd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    return fd;
}

Connection connect_through(int listener, std::uint16_t port) {
    Connection c;
    c.client = test::connect_loopback(port);
    c.proxy_client = accept_nonblocking(listener);
    c.backend = test::connect_loopback(port);
    c.proxy_backend = accept_nonblocking(listener);
    return c;
}

// Writes `payload` to `fd`, then shuts its writing side down.
void write_all_then_shut(int fd, const std::string& payload) {
    for (std::size_t off = 0; off < payload.size();) {
        const ssize_t w = ::send(fd, payload.data() + off, payload.size() - off, MSG_NOSIGNAL);
        if (w <= 0) {
            return;  // the reader failed; the test's comparison reports it
        }
        off += static_cast<std::size_t>(w);
    }
    ::shutdown(fd, SHUT_WR);
}

std::string read_to_eof(int fd) {
    std::string got;
    char buf[65536];
    for (;;) {
        const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r <= 0) {
            return got;
        }
        got.append(buf, static_cast<std::size_t>(r));
    }
}

class ForwardPaths : public ::testing::TestWithParam<Path> {
protected:
    // Starts forward() with `o` on one connection (c_); false when io_uring is not available.
    bool start(const ForwardOptions& o) {
        rt_ = runtime_for(GetParam());
        if (!rt_) {
            return false;
        }
        std::uint16_t port = 0;
        listener_ = test::listen_loopback(8, &port);
        c_ = connect_through(listener_.get(), port);
        forward_ = rt_->spawn(forward_task(c_.proxy_client.get(), c_.proxy_backend.get(), o));
        return true;
    }
    // Waits for forward() to end and returns its result.
    ForwardResult result() {
        EXPECT_TRUE(test::run_until([&] { return forward_.is_finished(); }));
        core::JoinResult<ForwardResult> r = forward_.take();
        EXPECT_TRUE(r.has_value());
        return r.has_value() ? *r : ForwardResult{};
    }

    std::unique_ptr<core::Runtime> rt_;
    UniqueFd listener_;
    Connection c_;
    core::JoinHandle<ForwardResult> forward_;
};

constexpr int kConnections = 8;
constexpr std::size_t kBytes = 2 << 20;

// kConnections connections through forward(), each carrying kBytes both ways at once: every
// byte arrives, in order, and forward() reports both counts and a clean end.
void check_both_ways(core::Runtime& rt, Path path, PerWorker<ForwardedBytes>& counters) {
    core::Runtime* runtime = &rt;
    std::uint16_t port = 0;
    UniqueFd listener = test::listen_loopback(64, &port);
    ASSERT_TRUE(listener);
    std::vector<Connection> conns;
    std::vector<core::JoinHandle<ForwardResult>> forwards;
    for (int i = 0; i < kConnections; ++i) {
        conns.push_back(connect_through(listener.get(), port));
        ASSERT_TRUE(conns.back().proxy_client && conns.back().proxy_backend);
        forwards.push_back(runtime->spawn(forward_task(
                conns.back().proxy_client.get(),
                conns.back().proxy_backend.get(),
                options_for(path, &counters))));
    }
    std::vector<std::string> up(kConnections), down(kConnections);
    std::vector<std::string> got_up(kConnections), got_down(kConnections);
    std::vector<std::thread> threads;
    for (int i = 0; i < kConnections; ++i) {
        up[i] = test::random_bytes(kBytes, 2 * i + 1);
        down[i] = test::random_bytes(kBytes, 2 * i + 2);
        threads.emplace_back(write_all_then_shut, conns[i].client.get(), std::cref(up[i]));
        threads.emplace_back(write_all_then_shut, conns[i].backend.get(), std::cref(down[i]));
        threads.emplace_back([&, i] { got_up[i] = read_to_eof(conns[i].backend.get()); });
        threads.emplace_back([&, i] { got_down[i] = read_to_eof(conns[i].client.get()); });
    }
    for (std::thread& t : threads) {
        t.join();
    }
    for (int i = 0; i < kConnections; ++i) {
        EXPECT_TRUE(got_up[i] == up[i])
                << "connection " << i << " client -> backend: " << got_up[i].size() << " of "
                << kBytes << " bytes";
        EXPECT_TRUE(got_down[i] == down[i])
                << "connection " << i << " backend -> client: " << got_down[i].size() << " of "
                << kBytes << " bytes";
        ASSERT_TRUE(test::run_until([&] { return forwards[i].is_finished(); }));
        core::JoinResult<ForwardResult> r = forwards[i].take();
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->end, ForwardEnd::kClosed);
        EXPECT_EQ(r->client_to_backend, kBytes);
        EXPECT_EQ(r->backend_to_client, kBytes);
    }
    EXPECT_EQ(counters.sum(&ForwardedBytes::client_to_backend), kConnections * kBytes);
    EXPECT_EQ(counters.sum(&ForwardedBytes::backend_to_client), kConnections * kBytes);
}

// In each path. In "auto", each direction switches to splice.
TEST_P(ForwardPaths, BothWaysAtOnceOverManyConnections) {
    auto rt = runtime_for(GetParam());
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    PerWorker<ForwardedBytes> counters(2);
    check_both_ways(*rt, GetParam(), counters);
    const std::uint64_t switches = counters.sum(&ForwardedBytes::splice_switches);
    if (GetParam() == Path::kAuto) {
        EXPECT_GE(switches, static_cast<std::uint64_t>(kConnections))
                << "bulk directions did not move to splice";
    } else {
        EXPECT_EQ(switches, 0u);
    }
}

// A buffer ring far too small for the traffic (8 buffers per worker for 8 connections both
// ways): directions find every buffer lent (-ENOBUFS) and back off, and still every byte
// arrives in order.
TEST(ForwardStarved, ARingWithFewBuffersSlowsButLosesNothing) {
    core::RuntimeOptions opts;
    opts.workers = 2;
    opts.ring.buffers = {8, 4096};
    auto rt = core::Runtime::create(opts);
    if (!rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    PerWorker<ForwardedBytes> counters(2);
    check_both_ways(**rt, Path::kRing, counters);
}

// The client half-closes after its request; the backend still answers, the answer arrives,
// and the connection ends cleanly once the backend closes too.
TEST_P(ForwardPaths, AHalfCloseKeepsTheOtherWayFlowing) {
    if (!start(options_for(GetParam(), nullptr))) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    const std::string request = test::random_bytes(100000, 7);  // bulk enough for "auto"
    write_all_then_shut(c_.client.get(), request);
    EXPECT_TRUE(read_to_eof(c_.backend.get()) == request);
    write_all_then_shut(c_.backend.get(), "got it");
    EXPECT_EQ(read_to_eof(c_.client.get()), "got it");
    const ForwardResult r = result();
    EXPECT_EQ(r.end, ForwardEnd::kClosed);
    EXPECT_EQ(r.client_to_backend, request.size());
    EXPECT_EQ(r.backend_to_client, 6u);
}

// A backend that resets ends the connection as a reset, whatever the client is doing.
TEST_P(ForwardPaths, ABackendResetEndsItAsAReset) {
    if (!start(options_for(GetParam(), nullptr))) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    ASSERT_EQ(::send(c_.client.get(), "hi", 2, 0), 2);
    char buf[2];
    ASSERT_EQ(::recv(c_.backend.get(), buf, 2, MSG_WAITALL), 2);
    arm_reset_on_close(c_.backend.get());
    c_.backend.reset();
    EXPECT_EQ(result().end, ForwardEnd::kReset);
}

// Nothing either way for `idle`: the connection ends as idle; traffic before kept it open.
TEST_P(ForwardPaths, IdlenessEndsItAndTrafficDefersIt) {
    ForwardOptions o = options_for(GetParam(), nullptr);
    o.idle = 300ms;
    const auto start_time = std::chrono::steady_clock::now();
    if (!start(o)) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    for (int i = 0; i < 5; ++i) {  // 500 ms of traffic, a message every 100 ms
        std::this_thread::sleep_for(100ms);
        ASSERT_EQ(::send(c_.client.get(), "x", 1, 0), 1);
        char b;
        ASSERT_EQ(::recv(c_.backend.get(), &b, 1, 0), 1);
        EXPECT_FALSE(forward_.is_finished()) << "ended while traffic flowed";
    }
    const ForwardResult r = result();
    // 500 ms of traffic, then 300 ms idle (less the coarse clock's few ms).
    EXPECT_GE(std::chrono::steady_clock::now() - start_time, 780ms);
    EXPECT_EQ(r.end, ForwardEnd::kIdle);
    EXPECT_EQ(r.client_to_backend, 5u);
}

// forward(), then the runtime's count of unfinished tasks as soon as it returns, in the same
// run of the task: the pumps forward() joined are counted out by then; one it only aborted
// is not (nothing has run it since).
core::Task<std::pair<ForwardResult, std::int64_t>>
forward_then_count_tasks(core::Runtime* rt, int client, int backend, ForwardOptions o) {
    Forwarding forwarding(client, backend, o);
    co_await forwarding;
    const std::int64_t unfinished = rt->unfinished_tasks();
    co_return std::pair{forwarding.result(), unfinished};
}

// Bulk, then silence: on "auto" the bulk direction is handed to a splice pump, which is still
// waiting for data when idleness ends the connection. forward() stops and joins every pump
// before it returns (the caller closes the descriptors next): no task of it is left but the
// caller, and the pump's bytes are in the result.
TEST_P(ForwardPaths, TheEndStopsAndJoinsThePumps) {
    PerWorker<ForwardedBytes> counters(2);
    ForwardOptions o = options_for(GetParam(), &counters);
    o.idle = 200ms;
    rt_ = runtime_for(GetParam());
    if (!rt_) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    std::uint16_t port = 0;
    listener_ = test::listen_loopback(8, &port);
    c_ = connect_through(listener_.get(), port);
    auto forwarding = rt_->spawn(
            forward_then_count_tasks(rt_.get(), c_.proxy_client.get(), c_.proxy_backend.get(), o));
    const std::string bulk = test::random_bytes(300000, 11);
    std::thread writer([&] {
        for (std::size_t off = 0; off < bulk.size();) {
            const ssize_t w = ::send(c_.client.get(), bulk.data() + off, bulk.size() - off, 0);
            if (w <= 0) {
                return;
            }
            off += static_cast<std::size_t>(w);
        }
    });
    std::string got(bulk.size(), '\0');
    const ssize_t r = ::recv(c_.backend.get(), got.data(), got.size(), MSG_WAITALL);
    writer.join();
    EXPECT_EQ(r, static_cast<ssize_t>(bulk.size()));
    EXPECT_TRUE(got == bulk);
    ASSERT_TRUE(test::run_until([&] { return forwarding.is_finished(); }));
    auto out = forwarding.take();
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(out->first.end, ForwardEnd::kIdle);
    EXPECT_EQ(out->first.client_to_backend, bulk.size());
    EXPECT_EQ(out->second, 1) << "a pump outlived forward()";
    if (GetParam() == Path::kAuto) {
        EXPECT_EQ(counters.sum(&ForwardedBytes::splice_switches), 1u);
    }
}

struct ShutDownOnExit {
    int fd;
    ~ShutDownOnExit() { ::shutdown(fd, SHUT_RDWR); }
};

std::size_t open_descriptors() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry :
         std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n;
}

// Sends `up` from the client and `down` from the backend at once, each then shut down, and
// reads both to EOF: what the backend and the client received.
std::pair<std::string, std::string>
exchange(const Connection& c, const std::string& up, const std::string& down) {
    std::string got_up;
    std::string got_down;
    {
        std::jthread threads[] = {
                std::jthread(write_all_then_shut, c.client.get(), std::cref(up)),
                std::jthread(write_all_then_shut, c.backend.get(), std::cref(down)),
                std::jthread([&] { got_up = read_to_eof(c.backend.get()); }),
                std::jthread([&] { got_down = read_to_eof(c.client.get()); })};
    }
    return {std::move(got_up), std::move(got_down)};
}

std::size_t open_pipes() {
    std::size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ignored;
        n += std::filesystem::read_symlink(entry.path(), ignored).string().starts_with("pipe:");
    }
    return n;
}

// A runtime with one worker thread (the splice path's spare pipes are per thread; `rt` is
// null without io_uring) and a loopback listener for connect_through().
struct OneWorker {
    std::unique_ptr<core::Runtime> rt;
    std::uint16_t port = 0;
    UniqueFd listener;
};

OneWorker one_worker() {
    OneWorker w;
    core::RuntimeOptions opts;
    opts.workers = 1;
    if (auto made = core::Runtime::create(opts)) {
        w.rt = std::move(*made);
    }
    w.listener = test::listen_loopback(8, &w.port);
    return w;
}

core::Task<void> release_spare_pipes_task(std::error_code error) {
    release_spare_pipes_on(error);
    co_return;
}

// Out of descriptors, a worker closes the empty pipes it keeps, so that a client or a backend
// socket can take their place; any other error leaves them.
TEST(ForwardSplice, OutOfDescriptorsTheWorkerClosesItsSparePipes) {
    // The spares are per thread: the one that spliced is the one that frees.
    OneWorker w = one_worker();
    if (!w.rt) {
        GTEST_SKIP() << "io_uring is not available here";
    }
    ASSERT_TRUE(w.listener);
    const std::size_t pipes_before = open_pipes();
    {
        Connection c = connect_through(w.listener.get(), w.port);
        core::JoinHandle<ForwardResult> f = w.rt->spawn(forward_task(
                c.proxy_client.get(), c.proxy_backend.get(), options_for(Path::kSplice, nullptr)));
        const std::string up = test::random_bytes(200000, 1);
        const std::string down = test::random_bytes(200000, 2);
        const auto [got_up, got_down] = exchange(c, up, down);
        EXPECT_TRUE(got_up == up && got_down == down);
        ASSERT_TRUE(test::run_until([&] { return f.is_finished(); }));
    }
    const std::size_t kept = open_pipes() - pipes_before;
    ASSERT_GT(kept, 0u) << "no spare pipe after a splice transfer";
    auto release_on = [&](std::errc e) {
        core::JoinHandle<void> t = w.rt->spawn(release_spare_pipes_task(std::make_error_code(e)));
        return test::run_until([&] { return t.is_finished(); });
    };
    ASSERT_TRUE(release_on(std::errc::no_buffer_space));
    EXPECT_EQ(open_pipes() - pipes_before, kept);
    ASSERT_TRUE(release_on(std::errc::too_many_files_open));
    EXPECT_EQ(open_pipes(), pipes_before);
}

// The splice path keeps empty pipes between bursts, per worker thread (SparePipes). A pipe cut
// off mid-chunk (its reader reset while it held bytes) must never come back: the next
// connection on that worker would send those bytes as its own. The spares hold a few
// descriptors, all closed with their thread.
TEST(ForwardSplice, SparePipesCarryNoBytesFromOneConnectionToTheNext) {
    const std::size_t descriptors_before = open_descriptors();
    {
        // One thread: every connection takes the spares of the one before.
        OneWorker w = one_worker();
        if (!w.rt) {
            GTEST_SKIP() << "io_uring is not available here";
        }
        ASSERT_TRUE(w.listener);
        const std::size_t descriptors_idle = open_descriptors();
        for (int pipe_bytes : {4096, 1 << 20}) {
            ForwardOptions o = options_for(Path::kSplice, nullptr);
            o.pipe_bytes = static_cast<std::uint32_t>(pipe_bytes);
            for (int round = 0; round < 5; ++round) {
                {
                    // The backend floods a client that reads a little, then resets.
                    Connection c = connect_through(w.listener.get(), w.port);
                    core::JoinHandle<ForwardResult> f = w.rt->spawn(
                            forward_task(c.proxy_client.get(), c.proxy_backend.get(), o));
                    const std::string flood(8 << 20, 'x');
                    // Joined however the test leaves (an ASSERT returns early), after `unblock`
                    // shut its socket down, so a write stuck on a full socket returns.
                    std::jthread backend([&] { write_all_then_shut(c.backend.get(), flood); });
                    const ShutDownOnExit unblock{c.backend.get()};
                    char some[4096];
                    ASSERT_EQ(
                            ::recv(c.client.get(), some, sizeof some, MSG_WAITALL),
                            ssize_t(sizeof some));
                    const linger reset{1, 0};
                    ::setsockopt(c.client.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
                    c.client.reset();
                    ASSERT_TRUE(test::run_until([&] { return f.is_finished(); }));
                    core::JoinResult<ForwardResult> r = f.take();
                    ASSERT_TRUE(r.has_value());
                    EXPECT_EQ(r->end, ForwardEnd::kReset);
                    c.proxy_client.reset();  // the session would close both now
                    c.proxy_backend.reset();
                    backend.join();  // its writes fail once the proxy's end is gone
                }
                // Then a clean connection: exactly its own bytes, both ways.
                Connection c = connect_through(w.listener.get(), w.port);
                core::JoinHandle<ForwardResult> f =
                        w.rt->spawn(forward_task(c.proxy_client.get(), c.proxy_backend.get(), o));
                const std::string up = test::random_bytes(300000, 2 * round + 1);
                const std::string down = test::random_bytes(3 << 20, 2 * round + 2);
                const auto [got_up, got_down] = exchange(c, up, down);
                EXPECT_TRUE(got_up == up) << got_up.size() << " of " << up.size() << " bytes up";
                EXPECT_TRUE(got_down == down) << got_down.size() << " of " << down.size()
                                              << " bytes down, first " << got_down.substr(0, 8);
                ASSERT_TRUE(test::run_until([&] { return f.is_finished(); }));
                EXPECT_EQ(f.take()->end, ForwardEnd::kClosed);
            }
        }
        // Every connection is closed: what is left open is the spares, 4 pipes at most.
        EXPECT_LE(open_descriptors(), descriptors_idle + 8);
    }
    EXPECT_EQ(open_descriptors(), descriptors_before) << "a pipe outlived its worker thread";
}

INSTANTIATE_TEST_SUITE_P(
        Paths,
        ForwardPaths,
        ::testing::Values(Path::kRing, Path::kAuto, Path::kNoRing, Path::kSplice),
        [](const ::testing::TestParamInfo<Path>& info) { return to_string(info.param); });

}  // namespace
}  // namespace ringlb::daemon
