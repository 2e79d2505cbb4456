// SPDX-License-Identifier: MIT
// Result<T, E>, IoResult and SocketAddress: the value types every layer returns.
#include "core/result.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "core/io_result.hpp"
#include "core/net/address.hpp"

namespace ringlb::core {
namespace {

TEST(Result, HoldsAValueOrAnError) {
    Result<int> ok = 5;
    ASSERT_TRUE(ok.has_value());
    EXPECT_EQ(*ok, 5);
    Result<int> bad = Unexpected(std::make_error_code(std::errc::connection_refused));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error(), std::errc::connection_refused);
    EXPECT_EQ(bad.value_or(9), 9);
}

TEST(Result, VoidResult) {
    Result<void> ok;
    EXPECT_TRUE(ok.has_value());
    Result<void, std::string> bad = Unexpected(std::string("no"));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error(), "no");
}

TEST(IoResult, MapsNegativeErrnoToErrorCodes) {
    IoResult n = IoResult::from_res(17);
    ASSERT_TRUE(n);
    EXPECT_EQ(n.value(), 17u);
    IoResult e = IoResult::from_res(-ECONNRESET);
    ASSERT_FALSE(e);
    EXPECT_TRUE(e.is(std::errc::connection_reset));
    EXPECT_EQ(e.error(), std::errc::connection_reset);
    EXPECT_FALSE(IoResult::from_res(0).is(std::errc::connection_reset));
}

TEST(SocketAddress, ParsesV4AndV6AndPrintsThemBack) {
    auto v4 = SocketAddress::parse("127.0.0.1:7000");
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->port(), 7000);
    EXPECT_EQ(v4->to_string(), "127.0.0.1:7000");
    auto v6 = SocketAddress::parse("[::1]:8443");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->family(), AF_INET6);
    EXPECT_EQ(v6->to_string(), "[::1]:8443");
}

// The storage is sized for IPv6, not sockaddr_storage: an address the kernel hands back (here
// a connected socket's two ends, both families) must come through whole: its full length,
// its text, and equal to what the other end reports.
TEST(SocketAddress, HoldsKernelAddressesOfBothFamilies) {
    struct Family {
        const char* bind_to;
        socklen_t length;
        const char* text_prefix;
    };
    for (const Family& f :
         {Family{"127.0.0.1:0", sizeof(sockaddr_in), "127.0.0.1:"},
          Family{"[::1]:0", sizeof(sockaddr_in6), "[::1]:"}}) {
        SCOPED_TRACE(f.bind_to);
        auto bind_to = SocketAddress::parse(f.bind_to);
        ASSERT_TRUE(bind_to);
        auto listener = make_listener(*bind_to, 4);
        if (!listener && bind_to->family() == AF_INET6) {
            GTEST_SKIP() << "no IPv6 loopback here";
        }
        ASSERT_TRUE(listener) << listener.error().message();
        auto bound = local_address(listener->get());
        ASSERT_TRUE(bound);
        EXPECT_EQ(bound->family(), bind_to->family());
        EXPECT_EQ(bound->length(), f.length);
        ASSERT_NE(bound->port(), 0);
        EXPECT_EQ(bound->to_string(), f.text_prefix + std::to_string(bound->port()));
        auto client = make_tcp_socket(bound->family());
        ASSERT_TRUE(client);
        const int rc = ::connect(client->get(), bound->get(), bound->length());
        ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);
        // Both sockets are non-blocking: wait for the handshake before accepting.
        pollfd fds[2] = {{listener->get(), POLLIN, 0}, {client->get(), POLLOUT, 0}};
        ASSERT_EQ(::poll(&fds[0], 1, 5000), 1);
        ASSERT_EQ(::poll(&fds[1], 1, 5000), 1);
        const int accepted = ::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC);
        ASSERT_GE(accepted, 0) << std::strerror(errno);
        UniqueFd server(accepted);
        auto client_end = local_address(client->get());
        auto seen_by_server = peer_address(server.get());
        ASSERT_TRUE(client_end);
        ASSERT_TRUE(seen_by_server);
        EXPECT_EQ(seen_by_server->length(), f.length);
        EXPECT_EQ(seen_by_server->to_string(), f.text_prefix + std::to_string(client_end->port()));
        EXPECT_TRUE(*seen_by_server == *client_end) << seen_by_server->to_string();
        auto server_seen_by_client = peer_address(client->get());
        ASSERT_TRUE(server_seen_by_client);
        EXPECT_TRUE(*server_seen_by_client == *bound) << server_seen_by_client->to_string();
    }
}

// A caller may pass a sockaddr_storage's full length (as getsockname's buffers are): the
// address is kept, the rest cut.
TEST(SocketAddress, FromTakesAStorageLengthForAnIpv6Address) {
    sockaddr_storage ss{};
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(8443);
    sin6->sin6_addr.s6_addr[15] = 1;  // ::1
    const SocketAddress a = SocketAddress::from(reinterpret_cast<const sockaddr*>(&ss), sizeof ss);
    EXPECT_EQ(a.family(), AF_INET6);
    EXPECT_EQ(a.length(), sizeof(sockaddr_in6));
    EXPECT_EQ(a.to_string(), "[::1]:8443");
    EXPECT_TRUE(a == *SocketAddress::parse("[::1]:8443"));
}

TEST(SocketAddress, RejectsMalformedAddressesWithAReason) {
    EXPECT_EQ(SocketAddress::parse("127.0.0.1").error(), "expected \"host:port\"");
    EXPECT_EQ(
            SocketAddress::parse("127.0.0.1:70000").error(),
            "invalid port \"70000\" (expected 0-65535)");
    EXPECT_EQ(
            SocketAddress::parse("::1:80").error(),
            "an IPv6 address must be written \"[address]:port\"");
    EXPECT_EQ(SocketAddress::parse("[::1]80").error(), "expected \"[v6-address]:port\"");
    EXPECT_EQ(
            SocketAddress::parse("example.invalid:80").error(),
            "\"example.invalid\" is not a numeric IPv4 or IPv6 address");
}

}  // namespace
}  // namespace ringlb::core
