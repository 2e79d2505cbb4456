// SPDX-License-Identifier: MIT
// Shared test helpers (see loopback.hpp).
#include "tests/support/loopback.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdlib>
#include <random>
#include <thread>

#include "core/net/address.hpp"

namespace ringlb::test {

std::atomic<int> LifetimeCounter::live{0};
std::atomic<int> LifetimeCounter::destroyed{0};

bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

std::unique_ptr<core::Runtime>
make_runtime(unsigned workers, bool allow_defer_taskrun, unsigned cq_entries, unsigned sq_entries) {
    core::RuntimeOptions opts;
    opts.workers = workers;
    opts.ring.allow_defer_taskrun = allow_defer_taskrun;
    opts.ring.cq_entries = cq_entries;
    opts.ring.sq_entries = sq_entries;
    auto rt = core::Runtime::create(opts);
    if (!rt) {
        return nullptr;
    }
    return std::move(*rt);
}

core::UniqueFd listen_loopback(int backlog, std::uint16_t* port) {
    auto fd = core::make_listener(core::SocketAddress::loopback_v4(0), backlog);
    if (!fd) {
        return {};
    }
    if (port != nullptr) {
        auto local = core::local_address(fd->get());
        *port = local ? local->port() : 0;
    }
    return std::move(*fd);
}

core::UniqueFd connect_loopback(std::uint16_t port) {
    core::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const core::SocketAddress addr = core::SocketAddress::loopback_v4(port);
    if (::connect(fd.get(), addr.get(), addr.length()) == -1) {
        return {};
    }
    timeval tv{};
    tv.tv_sec = 10;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

std::uint16_t closed_port() {
    std::uint16_t port = 0;
    core::UniqueFd fd = listen_loopback(1, &port);
    return port;  // closed when fd goes out of scope
}

void unix_stream_pair(core::UniqueFd& nonblocking, core::UniqueFd& blocking) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0
        || ::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK) != 0) {
        std::abort();  // the test cannot run at all
    }
    nonblocking.reset(sv[0]);
    blocking.reset(sv[1]);
}

std::string random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::string out(n, '\0');
    for (auto& c : out) {
        c = static_cast<char>(gen());
    }
    return out;
}

std::uint64_t raise_fd_limit() {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

}  // namespace ringlb::test
