// SPDX-License-Identifier: MIT
// read_proxy_header(), write_proxy_header().
#include "daemon/proxy_header_io.hpp"

#include <cstring>

#include "core/io/recv.hpp"
#include "core/io/send.hpp"

namespace ringlb::daemon {

using namespace ringlb::core;

Task<ReceivedProxyHeader> read_proxy_header(int fd, std::chrono::milliseconds timeout) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + timeout;
    ReceivedProxyHeader out;
    Buffer acc = Buffer::allocate(kProxyV2MaxBytes);
    std::size_t have = 0;
    for (;;) {
        const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            out.error = "no complete PROXY protocol header within the connect timeout";
            co_return out;
        }
        // Read into a scratch buffer, then append: the kernel only ever writes a lent buffer.
        Received in =
                co_await recv(fd, Buffer::allocate(kProxyV2MaxBytes - have), Deadline::in(left));
        if (!in.n) {
            out.error = in.n.is(std::errc::timed_out)
                    ? "no complete PROXY protocol header within the connect timeout"
                    : "reading the PROXY protocol header: " + in.n.error().message();
            co_return out;
        }
        if (in.n.value() == 0) {
            out.error = "the client closed before its PROXY protocol header was complete";
            co_return out;
        }
        std::memcpy(acc.data() + have, in.buf.data(), in.n.value());
        have += in.n.value();
        const ProxyParse p = parse_proxy_header(std::span(acc.data(), have));
        if (p.status == ProxyParse::Status::kInvalid) {
            out.error = p.error;
            co_return out;
        }
        if (p.status == ProxyParse::Status::kDone) {
            out.header = p.header;
            out.leftover_bytes = have - p.header.length;
            if (out.leftover_bytes > 0) {
                out.leftover = Buffer::allocate(out.leftover_bytes);
                std::memcpy(out.leftover.data(), acc.data() + p.header.length, out.leftover_bytes);
            }
            co_return out;
        }
        if (have == kProxyV2MaxBytes) {
            out.error = "PROXY protocol header too long";
            co_return out;
        }
    }
}

Task<IoResult> write_proxy_header(
        int fd, ProxyVersion v, const SocketAddress& source, const SocketAddress& destination) {
    const std::vector<std::byte> header = encode_proxy_header(v, source, destination);
    Buffer buf = Buffer::allocate(header.size());
    std::memcpy(buf.data(), header.data(), header.size());
    Sent sent = co_await send_all(fd, std::move(buf), header.size());
    co_return sent.n;
}

}  // namespace ringlb::daemon
