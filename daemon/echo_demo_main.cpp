// SPDX-License-Identifier: MIT
// ringlb-echo-demo: the runtime's demo, an echo server (default 127.0.0.1:7001) that runs in
// the foreground until SIGINT or SIGTERM.
#include <signal.h>

#include <cstdio>
#include <string>

#include "core/net/address.hpp"
#include "core/runtime.hpp"
#include "daemon/echo_service.hpp"

int main(int argc, char** argv) {
    using namespace ringlb;
    const std::string where = argc > 1 ? argv[1] : "127.0.0.1:7001";
    auto addr = core::SocketAddress::parse(where);
    if (!addr) {
        std::fprintf(stderr, "ringlb-echo-demo: %s: %s\n", where.c_str(), addr.error().c_str());
        return 64;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // inherited by the workers; sigwait below
    signal(SIGPIPE, SIG_IGN);

    auto listener = core::make_listener(*addr, 4096);
    if (!listener) {
        std::fprintf(
                stderr,
                "ringlb-echo-demo: cannot listen on %s: %s\n",
                where.c_str(),
                listener.error().message().c_str());
        return 71;
    }
    auto rt = core::Runtime::create();
    if (!rt) {
        std::fprintf(
                stderr,
                "ringlb-echo-demo: io_uring is unavailable: %s\n",
                rt.error().message().c_str());
        return 78;
    }
    daemon::EchoStats stats;
    core::JoinHandle<void> server = (*rt)->spawn(daemon::serve_echo(listener->get(), &stats));
    std::fprintf(
            stderr,
            "ringlb-echo-demo: echo on %s with %u workers; Ctrl-C stops\n",
            where.c_str(),
            (*rt)->worker_count());
    int sig = 0;
    sigwait(&stop, &sig);
    (*rt)->shutdown();
    std::fprintf(
            stderr,
            "ringlb-echo-demo: stopped after %llu connections, %llu bytes\n",
            static_cast<unsigned long long>(stats.connections.load()),
            static_cast<unsigned long long>(stats.bytes.load()));
    return 0;
}
