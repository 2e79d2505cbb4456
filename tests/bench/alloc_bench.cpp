// SPDX-License-Identifier: MIT
// alloc_bench: heap allocations per forwarded chunk and per connection, and the heap an idle
// proxied connection keeps, for each receive path of forward(). Counts every operator new and
// aligned_alloc of the process (this binary replaces both), on real socketpairs.
//
//   build-release/tests/bench/alloc_bench [connections]
//
// Not a test: the figures go to docs/performance.md. The per-chunk count must be 0.
#include <dlfcn.h>
#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "core/runtime.hpp"
#include "core/unique_fd.hpp"
#include "daemon/forward.hpp"

namespace {

std::atomic<std::uint64_t> g_allocs{0};
std::atomic<std::int64_t> g_live_bytes{0};
std::atomic<bool> g_trace{false};  // print each allocation's size (set-up of connection 0)

void* counted(void* p) {
    if (p != nullptr) {
        g_allocs.fetch_add(1, std::memory_order_relaxed);
        g_live_bytes.fetch_add(
                static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
        if (g_trace.load(std::memory_order_relaxed)) {
            std::fprintf(stderr, "  alloc %zu\n", malloc_usable_size(p));
        }
    }
    return p;
}

void uncount(void* p) {
    if (p != nullptr) {
        g_live_bytes.fetch_sub(
                static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
    }
}

}  // namespace

// The replacements: every C++ allocation, and aligned_alloc (Buffer, the buffer ring).
// operator new below is malloc, so operator delete's free() matches it; g++ cannot tell.
#if defined(__GNUC__) && !defined(__clang__)
#    pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
    void* p = counted(std::malloc(n == 0 ? 1 : n));
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    return p;
}
void operator delete(void* p) noexcept {
    uncount(p);
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    uncount(p);
    std::free(p);
}

extern "C" void* aligned_alloc(std::size_t align, std::size_t n) {
    using Fn = void* (*)(std::size_t, std::size_t);
    static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "aligned_alloc"));
    return counted(real(align, n));
}

namespace {

using namespace ringlb;
using Clock = std::chrono::steady_clock;

struct Path {
    const char* name;
    bool buffer_ring;
    bool splice;
};

struct Conn {
    core::UniqueFd client;        // the test's end of the client socket
    core::UniqueFd client_proxy;  // forward()'s ends
    core::UniqueFd backend_proxy;
    core::UniqueFd backend;  // the test's end of the backend socket
};

Conn make_conn() {
    int a[2];
    int b[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, a) != 0
        || ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, b) != 0) {
        std::perror("socketpair");
        std::exit(1);
    }
    Conn c;
    c.client.reset(a[0]);
    c.client_proxy.reset(a[1]);
    c.backend_proxy.reset(b[0]);
    c.backend.reset(b[1]);
    return c;
}

void write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::send(fd, p, n, 0);
        if (w < 0) {
            if (errno == EAGAIN) {
                std::this_thread::yield();
                continue;
            }
            std::perror("send");
            std::exit(1);
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
}

void read_exactly(int fd, char* p, std::size_t n) {
    while (n > 0) {
        const ssize_t r = ::recv(fd, p, n, 0);
        if (r < 0 && errno == EAGAIN) {
            std::this_thread::yield();
            continue;
        }
        if (r <= 0) {
            std::perror("recv");
            std::exit(1);
        }
        p += r;
        n -= static_cast<std::size_t>(r);
    }
}

void run(const Path& path, int connections) {
    core::RuntimeOptions opts;
    opts.workers = 1;
    opts.ring.provided_buffers = path.buffer_ring;
    auto rt = core::Runtime::create(opts);
    if (!rt) {
        std::fprintf(stderr, "no io_uring\n");
        std::exit(1);
    }
    daemon::ForwardOptions fo;
    fo.buffer_ring = path.buffer_ring;
    fo.splice = path.splice;

    std::vector<Conn> conns;
    conns.reserve(static_cast<std::size_t>(connections));
    for (int i = 0; i < connections; ++i) {
        conns.push_back(make_conn());
    }
    std::vector<core::JoinHandle<daemon::ForwardResult>> forwards;
    forwards.reserve(static_cast<std::size_t>(connections));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));

    // 1. Set-up: what starting forward() on a connection allocates, and what it keeps.
    const std::uint64_t a0 = g_allocs.load();
    const std::int64_t b0 = g_live_bytes.load();
    const bool trace = std::getenv("ALLOC_BENCH_TRACE") != nullptr;
    for (Conn& c : conns) {
        g_trace.store(trace && &c == &conns[0]);
        forwards.push_back((*rt)->spawn(
                daemon::forward_task(c.client_proxy.get(), c.backend_proxy.get(), fo)));
        if (&c == &conns[0]) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            g_trace.store(false);
        }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // every pump armed
    const std::uint64_t a1 = g_allocs.load();
    const std::int64_t b1 = g_live_bytes.load();

    // 2. Small chunks: 64-byte ping-pong through connection 0, both directions.
    Conn& c0 = conns[0];
    char msg[64] = {};
    char got[64];
    const int kRoundTrips = 5000;
    for (int i = 0; i < 50; ++i) {  // warm the caches (OpStates, nodes, pipes) first
        write_all(c0.client.get(), msg, sizeof msg);
        read_exactly(c0.backend.get(), got, sizeof got);
        write_all(c0.backend.get(), msg, sizeof msg);
        read_exactly(c0.client.get(), got, sizeof got);
    }
    const std::uint64_t a2 = g_allocs.load();
    for (int i = 0; i < kRoundTrips; ++i) {
        write_all(c0.client.get(), msg, sizeof msg);
        read_exactly(c0.backend.get(), got, sizeof got);
        write_all(c0.backend.get(), msg, sizeof msg);
        read_exactly(c0.client.get(), got, sizeof got);
    }
    const std::uint64_t a3 = g_allocs.load();

    // 3. Bulk: 64 MiB through connection 1, one way, in 64 KiB writes.
    Conn& c1 = conns[1];
    const std::size_t kBulk = 64u << 20;
    std::thread reader([&] {
        std::vector<char> sink(1 << 16);
        std::size_t left = kBulk;
        while (left > 0) {
            const ssize_t r = ::recv(c1.backend.get(), sink.data(), sink.size(), 0);
            if (r < 0 && errno == EAGAIN) {
                std::this_thread::yield();
                continue;
            }
            if (r <= 0) {
                std::perror("bulk recv");
                std::exit(1);
            }
            left -= static_cast<std::size_t>(r);
        }
    });
    std::vector<char> block(1 << 16, 'x');
    write_all(c1.client.get(), block.data(), block.size());  // warm up
    const std::uint64_t a4 = g_allocs.load();
    for (std::size_t sent = block.size(); sent < kBulk; sent += block.size()) {
        write_all(c1.client.get(), block.data(), block.size());
    }
    reader.join();
    const std::uint64_t a5 = g_allocs.load();

    // 4. Tear-down.
    for (Conn& c : conns) {
        ::shutdown(c.client.get(), SHUT_WR);
        ::shutdown(c.backend.get(), SHUT_WR);
    }
    for (auto& f : forwards) {
        (void)(*rt)->block_on([](core::JoinHandle<daemon::ForwardResult> h) -> core::Task<int> {
            (void)co_await h;
            co_return 0;
        }(std::move(f)));
    }
    const double per_conn_allocs = static_cast<double>(a1 - a0) / connections;
    const double idle_bytes = static_cast<double>(b1 - b0) / connections;
    const double small_chunks = 2.0 * kRoundTrips;
    const double bulk_chunks = static_cast<double>(kBulk) / 16384.0;  // at least this many
    std::printf(
            "| %s | %.1f | %.0f | %.4f | %.4f |\n",
            path.name,
            per_conn_allocs,
            idle_bytes,
            static_cast<double>(a3 - a2) / small_chunks,
            static_cast<double>(a5 - a4) / bulk_chunks);
    (*rt)->shutdown();
}

}  // namespace

int main(int argc, char** argv) {
    const int connections = argc > 1 ? std::atoi(argv[1]) : 2000;
    std::printf("forward() on %d connections (socketpairs, 1 worker)\n\n", connections);
    std::printf("| receive path | allocations per connection (set-up) | heap bytes per idle "
                "connection | allocations per small chunk | allocations per 16 KiB of bulk |\n");
    std::printf("|---|---:|---:|---:|---:|\n");
    const Path paths[] = {
            {"buffer ring (default)", true, false},
            {"per-connection buffers", false, false},
            {"splice", true, true},
    };
    for (const Path& p : paths) {
        run(p, connections);
    }
    return 0;
}
