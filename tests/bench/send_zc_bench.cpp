// SPDX-License-Identifier: MIT
// send_zc_bench: is IORING_OP_SEND_ZC worth it for ringlbd's bulk path on this machine?
// Sends the same bytes over a loopback TCP connection with IORING_OP_SEND and with
// IORING_OP_SEND_ZC (waiting for each notification before reusing the buffer), for several
// chunk sizes, and reports Gbit/s and the sender's CPU per GB (getrusage of its thread). It
// also asks the kernel whether it really avoided the copy (IORING_SEND_ZC_REPORT_USAGE): on
// loopback it does not, so there send_zc only adds the notification round trip.
//
//   build-release/tests/bench/send_zc_bench [MiB per run]
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "core/uring/uring_compat.hpp"

#ifndef IORING_SEND_ZC_REPORT_USAGE
#    define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#    define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

namespace {

struct Pair {
    int sender = -1;
    int receiver = -1;
};

Pair tcp_pair() {
    const int l = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 1) != 0
        || ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        std::perror("listen");
        std::exit(1);
    }
    Pair p;
    p.sender = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(p.sender, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        std::perror("connect");
        std::exit(1);
    }
    p.receiver = ::accept(l, nullptr, nullptr);
    ::close(l);
    return p;
}

double thread_cpu_s() {
    rusage ru{};
    getrusage(RUSAGE_THREAD, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
            + static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Outcome {
    double gbps = 0;
    double cpu_s_per_gb = 0;
    bool copied = false;
};

Outcome run(bool zc, std::size_t chunk, std::size_t total) {
    Pair p = tcp_pair();
    std::thread sink([fd = p.receiver, total] {
        std::vector<char> buf(1 << 20);
        std::size_t got = 0;
        while (got < total) {
            const ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
            if (r <= 0) {
                break;
            }
            got += static_cast<std::size_t>(r);
        }
    });
    io_uring ring{};
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (io_uring_queue_init_params(64, &ring, &params) != 0) {
        std::fprintf(stderr, "io_uring_queue_init failed\n");
        std::exit(1);
    }
    std::vector<char> buf(chunk, 'z');
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = thread_cpu_s();
    std::size_t sent = 0;
    Outcome o;
    while (sent < total) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        const std::size_t n = std::min(chunk, total - sent);
        if (zc) {
            io_uring_prep_send_zc(sqe, p.sender, buf.data(), n, MSG_NOSIGNAL, 0);
            sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
        } else {
            io_uring_prep_send(sqe, p.sender, buf.data(), n, MSG_NOSIGNAL);
        }
        io_uring_submit(&ring);
        // send: one CQE. send_zc: the result (F_MORE), then the notification (F_NOTIF) once
        // the kernel no longer needs the buffer; only then may it be reused.
        bool result_seen = false;
        bool notif_seen = !zc;
        while (!result_seen || !notif_seen) {
            io_uring_cqe* cqe = nullptr;
            if (io_uring_wait_cqe(&ring, &cqe) != 0) {
                std::exit(1);
            }
            if ((cqe->flags & IORING_CQE_F_NOTIF) != 0) {
                notif_seen = true;
                o.copied = o.copied
                        || (static_cast<std::uint32_t>(cqe->res) & IORING_NOTIF_USAGE_ZC_COPIED)
                                != 0;
            } else {
                result_seen = true;
                if (cqe->res <= 0) {
                    std::fprintf(stderr, "send: %s\n", std::strerror(-cqe->res));
                    std::exit(1);
                }
                sent += static_cast<std::size_t>(cqe->res);
                if (zc && (cqe->flags & IORING_CQE_F_MORE) == 0) {
                    notif_seen = true;  // no notification follows
                }
            }
            io_uring_cqe_seen(&ring, cqe);
        }
    }
    const double cpu = thread_cpu_s() - c0;
    const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ::shutdown(p.sender, SHUT_WR);
    sink.join();
    io_uring_queue_exit(&ring);
    ::close(p.sender);
    ::close(p.receiver);
    const double gb = static_cast<double>(total) / 1e9;
    o.gbps = gb * 8 / secs;
    o.cpu_s_per_gb = cpu / gb;
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 2048;
    const std::size_t total = mib << 20;
    std::printf("loopback TCP, %zu MiB per run, one send in flight, medians of 3 runs\n\n", mib);
    std::printf("| chunk | send Gbit/s | send_zc Gbit/s | send CPU s/GB (sender) | send_zc CPU "
                "s/GB | send_zc copied anyway |\n|---:|---:|---:|---:|---:|---|\n");
    for (std::size_t chunk : {16384UL, 65536UL, 262144UL}) {
        Outcome a[3];
        Outcome b[3];
        for (int i = 0; i < 3; ++i) {  // interleaved A/B
            a[i] = run(false, chunk, total);
            b[i] = run(true, chunk, total);
        }
        auto med = [](Outcome* o, double Outcome::*f) {
            double v[3] = {o[0].*f, o[1].*f, o[2].*f};
            std::sort(v, v + 3);
            return v[1];
        };
        std::printf(
                "| %zu KiB | %.2f | %.2f | %.3f | %.3f | %s |\n",
                chunk / 1024,
                med(a, &Outcome::gbps),
                med(b, &Outcome::gbps),
                med(a, &Outcome::cpu_s_per_gb),
                med(b, &Outcome::cpu_s_per_gb),
                b[0].copied ? "yes" : "no");
    }
    return 0;
}
