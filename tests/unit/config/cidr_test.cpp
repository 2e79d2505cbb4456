// SPDX-License-Identifier: MIT
// config::Cidr: parsing networks and bare addresses, the errors for bad ones, and contains() at
// the edges of byte-aligned and odd prefixes, for both families and IPv4-mapped clients.
#include "config/cidr.hpp"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "core/net/address.hpp"

namespace ringlb::config {
namespace {

Cidr cidr(std::string_view text) {
    auto r = Cidr::parse(text);
    EXPECT_TRUE(r.has_value()) << text << ": " << (r.has_value() ? "" : r.error());
    return r.has_value() ? r.value() : Cidr{};
}

core::SocketAddress addr(const std::string& text) {
    auto r = core::SocketAddress::parse(text);
    EXPECT_TRUE(r.has_value()) << text;
    return r.has_value() ? r.value() : core::SocketAddress{};
}

/// The client "ip" (IPv4 or bare IPv6) on an arbitrary port.
core::SocketAddress client(const std::string& ip) {
    return addr(ip.find(':') == std::string::npos ? ip + ":40000" : "[" + ip + "]:40000");
}

void expect_in(const Cidr& net, std::string_view net_text, const std::string& ip) {
    EXPECT_TRUE(net.contains(client(ip))) << ip << " should be in " << net_text;
}

void expect_out(const Cidr& net, std::string_view net_text, const std::string& ip) {
    EXPECT_FALSE(net.contains(client(ip))) << ip << " should not be in " << net_text;
}

/// Parsing `text` fails with a message naming it and saying what is wrong (`reason`).
void expect_error(std::string_view text, std::string_view reason) {
    auto r = Cidr::parse(text);
    ASSERT_FALSE(r.has_value()) << '"' << text << "\" parsed";
    const std::string& e = r.error();
    EXPECT_NE(e.find("\"" + std::string(text) + "\""), std::string::npos) << e;
    EXPECT_NE(e.find(reason), std::string::npos) << e;
}

// ---- parse ----

TEST(Cidr, ParsesAnIpv4Network) {
    const Cidr net = cidr("127.0.0.0/8");
    expect_in(net, "127.0.0.0/8", "127.0.0.1");
    expect_out(net, "127.0.0.0/8", "10.0.0.1");
}

TEST(Cidr, ABareIpv4AddressIsASlash32) {
    const Cidr net = cidr("10.1.2.3");
    expect_in(net, "10.1.2.3", "10.1.2.3");
    expect_out(net, "10.1.2.3", "10.1.2.2");
    expect_out(net, "10.1.2.3", "10.1.2.4");
    expect_out(net, "10.1.2.3", "11.1.2.3");
}

TEST(Cidr, ABareIpv6AddressIsASlash128) {
    const Cidr net = cidr("2001:db8::7");
    expect_in(net, "2001:db8::7", "2001:db8::7");
    expect_out(net, "2001:db8::7", "2001:db8::6");
    expect_out(net, "2001:db8::7", "2001:db8::8");
}

TEST(Cidr, ParsesIpv6Loopback) {
    const Cidr net = cidr("::1/128");
    expect_in(net, "::1/128", "::1");
    expect_out(net, "::1/128", "::");
    expect_out(net, "::1/128", "::2");
    expect_out(net, "::1/128", "8000::1");
}

TEST(Cidr, ParsesAnIpv6Network) {
    const Cidr net = cidr("2001:db8::/32");
    expect_in(net, "2001:db8::/32", "2001:db8::");
    expect_in(net, "2001:db8::/32", "2001:db8::1");
    expect_in(net, "2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
    expect_out(net, "2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff");
    expect_out(net, "2001:db8::/32", "2001:db9::");
    expect_out(net, "2001:db8::/32", "::1");
}

TEST(Cidr, SlashZeroHoldsEveryAddressOfItsFamily) {
    const Cidr v4 = cidr("0.0.0.0/0");
    for (const char* ip : {"0.0.0.0", "1.2.3.4", "127.0.0.1", "255.255.255.255"}) {
        expect_in(v4, "0.0.0.0/0", ip);
    }
    expect_in(v4, "0.0.0.0/0", "::ffff:8.8.8.8");
    expect_out(v4, "0.0.0.0/0", "::1");
    expect_out(v4, "0.0.0.0/0", "2001:db8::1");

    const Cidr v6 = cidr("::/0");
    for (const char* ip : {"::", "::1", "2001:db8::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}) {
        expect_in(v6, "::/0", ip);
    }
    expect_out(v6, "::/0", "1.2.3.4");
    expect_out(v6, "::/0", "0.0.0.0");
}

TEST(Cidr, TheFullLengthPrefixIsAccepted) {
    expect_in(cidr("10.0.0.1/32"), "10.0.0.1/32", "10.0.0.1");
    expect_out(cidr("10.0.0.1/32"), "10.0.0.1/32", "10.0.0.0");
    expect_in(cidr("::1/128"), "::1/128", "::1");
}

TEST(Cidr, BadAddressesAreErrors) {
    expect_error("300.1.1.1", "not an IP address");
    expect_error("300.1.1.1/8", "not an IP address");
    expect_error("", "not an IP address");
    expect_error("/8", "not an IP address");
    expect_error("localhost", "not an IP address");
    expect_error("10.0.0", "not an IP address");
    expect_error(" 10.0.0.0/8", "not an IP address");
    expect_error("[::1]/128", "not an IP address");
    expect_error("1::2::3/64", "not an IP address");
}

TEST(Cidr, BadPrefixesAreErrors) {
    expect_error("10.0.0.0/33", "prefix");
    expect_error("10.0.0.0/33", "0-32");
    expect_error("::/129", "prefix");
    expect_error("::/129", "0-128");
    expect_error("10.0.0.0/", "prefix");
    expect_error("10.0.0.0/x", "prefix");
    expect_error("10.0.0.0/-1", "prefix");
    expect_error("10.0.0.0/+8", "prefix");
    expect_error("10.0.0.0/8x", "prefix");
    expect_error("10.0.0.0/8/8", "prefix");
    expect_error("10.0.0.0/ 8", "prefix");
    expect_error("10.0.0.0/4294967304", "prefix");  // 2^32 + 8: no wrap-around to /8
}

// ---- contains ----

TEST(Cidr, Slash8Boundaries) {
    const Cidr net = cidr("127.0.0.0/8");
    expect_in(net, "127.0.0.0/8", "127.0.0.0");
    expect_in(net, "127.0.0.0/8", "127.255.255.255");
    expect_in(net, "127.0.0.0/8", "127.128.0.1");
    expect_out(net, "127.0.0.0/8", "126.255.255.255");
    expect_out(net, "127.0.0.0/8", "128.0.0.0");
    expect_out(net, "127.0.0.0/8", "0.0.0.0");
}

TEST(Cidr, Slash31Boundaries) {
    const Cidr net = cidr("10.0.0.2/31");
    expect_in(net, "10.0.0.2/31", "10.0.0.2");
    expect_in(net, "10.0.0.2/31", "10.0.0.3");
    expect_out(net, "10.0.0.2/31", "10.0.0.1");
    expect_out(net, "10.0.0.2/31", "10.0.0.4");
    expect_out(net, "10.0.0.2/31", "10.0.1.2");
}

TEST(Cidr, Slash1SplitsTheAddressSpace) {
    const Cidr net = cidr("128.0.0.0/1");
    expect_in(net, "128.0.0.0/1", "128.0.0.0");
    expect_in(net, "128.0.0.0/1", "255.255.255.255");
    expect_out(net, "128.0.0.0/1", "127.255.255.255");
    expect_out(net, "128.0.0.0/1", "0.0.0.0");
}

TEST(Cidr, OddIpv4Prefix) {
    // 10.8.0.0/13 is 10.8.0.0 - 10.15.255.255.
    const Cidr net = cidr("10.8.0.0/13");
    expect_in(net, "10.8.0.0/13", "10.8.0.0");
    expect_in(net, "10.8.0.0/13", "10.15.255.255");
    expect_in(net, "10.8.0.0/13", "10.12.34.56");
    expect_out(net, "10.8.0.0/13", "10.7.255.255");
    expect_out(net, "10.8.0.0/13", "10.16.0.0");
    expect_out(net, "10.8.0.0/13", "11.8.0.0");
}

TEST(Cidr, HostBitsInTheNetworkAreIgnored) {
    const Cidr net = cidr("10.9.1.2/13");  // the same network as 10.8.0.0/13
    expect_in(net, "10.9.1.2/13", "10.8.0.0");
    expect_in(net, "10.9.1.2/13", "10.15.255.255");
    expect_out(net, "10.9.1.2/13", "10.16.0.0");
    expect_out(net, "10.9.1.2/13", "10.7.255.255");
}

TEST(Cidr, OddIpv6Prefix) {
    // /67: the first 64 bits, then the top three bits of the 9th byte (0xe0: 111).
    const std::string text = "2001:db8:0:0:e000::/67";
    const Cidr net = cidr(text);
    expect_in(net, text, "2001:db8::e000:0:0:0");
    expect_in(net, text, "2001:db8::ffff:ffff:ffff:ffff");
    expect_in(net, text, "2001:db8::f123:4567:89ab:cdef");
    expect_out(net, text, "2001:db8::dfff:ffff:ffff:ffff");
    expect_out(net, text, "2001:db8:0:1:e000::");
    expect_out(net, text, "2001:db8::");

    // /13 in IPv6: 2000::/13 is 2000:: - 2007:ffff:...
    const Cidr n13 = cidr("2000::/13");
    expect_in(n13, "2000::/13", "2007:ffff::1");
    expect_out(n13, "2000::/13", "2008::");
}

TEST(Cidr, PortDoesNotMatter) {
    const Cidr net = cidr("192.0.2.0/24");
    EXPECT_TRUE(net.contains(addr("192.0.2.7:0")));
    EXPECT_TRUE(net.contains(addr("192.0.2.7:65535")));
}

TEST(Cidr, Ipv4MappedClientMatchesIpv4Network) {
    const Cidr net = cidr("127.0.0.0/8");
    expect_in(net, "127.0.0.0/8", "::ffff:127.0.0.1");
    expect_in(net, "127.0.0.0/8", "::ffff:127.255.255.255");
    expect_out(net, "127.0.0.0/8", "::ffff:128.0.0.1");
    expect_out(net, "127.0.0.0/8", "::ffff:126.255.255.255");
    // Not mapped: the deprecated IPv4-compatible form and NAT64 are plain IPv6.
    expect_out(net, "127.0.0.0/8", "::127.0.0.1");
    expect_out(net, "127.0.0.0/8", "64:ff9b::127.0.0.1");

    const Cidr odd = cidr("10.8.0.0/13");
    expect_in(odd, "10.8.0.0/13", "::ffff:10.15.0.1");
    expect_out(odd, "10.8.0.0/13", "::ffff:10.16.0.1");
    expect_in(cidr("10.1.2.3"), "10.1.2.3", "::ffff:10.1.2.3");
}

TEST(Cidr, FamiliesNeverMix) {
    // An IPv4 client never matches an IPv6 network, not even one that spells IPv4 addresses.
    for (const char* net : {"::/0", "::ffff:0:0/96", "::ffff:127.0.0.1/128", "::/96"}) {
        expect_out(cidr(net), net, "127.0.0.1");
        expect_out(cidr(net), net, "0.0.0.0");
    }
    // A plain IPv6 client never matches an IPv4 network.
    for (const char* net : {"0.0.0.0/0", "127.0.0.0/8", "0.0.0.0/32"}) {
        expect_out(cidr(net), net, "::1");
        expect_out(cidr(net), net, "::");
        expect_out(cidr(net), net, "2001:db8::1");
    }
}

TEST(Cidr, AnUnsetAddressMatchesNothing) {
    EXPECT_FALSE(cidr("0.0.0.0/0").contains(core::SocketAddress{}));
    EXPECT_FALSE(cidr("::/0").contains(core::SocketAddress{}));
}

}  // namespace
}  // namespace ringlb::config
