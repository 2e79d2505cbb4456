// SPDX-License-Identifier: MIT
// Result<T, E>, IoResult and SocketAddress: the value types every layer returns.
#include "core/result.hpp"

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
