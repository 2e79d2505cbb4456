// SPDX-License-Identifier: MIT
// The PROXY protocol: exact v1 and v2 encodings, encode -> parse round trips, headers split at
// every byte, the strict parser's edge cases for both versions, and random input (run under
// ASan in CI, with every input in a buffer of exactly its size).
#include "daemon/proxy_protocol.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/net/address.hpp"

namespace ringlb::daemon {

// gtest prints a Status by name (found by ADL, so outside the anonymous namespace).
void PrintTo(ProxyParse::Status s, std::ostream* os);

namespace {

using namespace std::string_view_literals;
using Status = ProxyParse::Status;

core::SocketAddress addr(const std::string& text) {
    auto r = core::SocketAddress::parse(text);
    EXPECT_TRUE(r.has_value()) << text;
    return r.has_value() ? r.value() : core::SocketAddress{};
}

std::vector<std::byte> bytes(std::string_view s) {
    std::vector<std::byte> out(s.size());
    std::transform(s.begin(), s.end(), out.begin(), [](char c) { return std::byte(c); });
    return out;
}

std::vector<std::byte> bytes(std::initializer_list<unsigned> list) {
    std::vector<std::byte> out;
    for (unsigned b : list) {
        out.push_back(std::byte(b));
    }
    return out;
}

std::string text(const std::vector<std::byte>& b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// Parses the first `n` bytes of `data` from a heap block of exactly `n` bytes, so ASan reports
/// any read past the end.
ProxyParse parse_exact(std::span<const std::byte> data, std::size_t n) {
    auto block = std::make_unique<std::byte[]>(n);
    std::copy_n(data.begin(), n, block.get());
    return parse_proxy_header({block.get(), n});
}

ProxyParse parse_exact(std::span<const std::byte> data) {
    return parse_exact(data, data.size());
}

ProxyParse parse_text(std::string_view s) {
    return parse_exact(bytes(s));
}

const char* name(Status s) {
    switch (s) {
        case Status::kIncomplete:
            return "kIncomplete";
        case Status::kDone:
            return "kDone";
        case Status::kInvalid:
            return "kInvalid";
    }
    return "?";
}

/// "\r" -> "\\r" etc., for failure messages.
std::string printable(std::string_view s) {
    std::string out;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\r') {
            out += "\\r";
        } else if (c == '\n') {
            out += "\\n";
        } else if (u < 0x20 || u >= 0x7F) {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 0xF];
        } else {
            out += c;
        }
    }
    return out;
}

constexpr unsigned kSig[] = {
        0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/// A v2 header: the signature, then ver_cmd, fam, a 16-bit length and `body` as given.
std::vector<std::byte>
v2(unsigned ver_cmd, unsigned fam, std::size_t len, const std::vector<std::byte>& body) {
    std::vector<std::byte> out;
    for (unsigned b : kSig) {
        out.push_back(std::byte(b));
    }
    out.push_back(std::byte(ver_cmd));
    out.push_back(std::byte(fam));
    out.push_back(std::byte(len >> 8));
    out.push_back(std::byte(len & 0xFF));
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

/// The 12 address bytes of 1.2.3.4:1111 -> 5.6.7.8:2222.
std::vector<std::byte> v4_block() {
    return bytes({1, 2, 3, 4, 5, 6, 7, 8, 0x04, 0x57, 0x08, 0xAE});
}

std::vector<std::byte> concat(std::vector<std::byte> a, const std::vector<std::byte>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

void expect_invalid(std::string_view s) {
    const ProxyParse p = parse_text(s);
    EXPECT_EQ(p.status, Status::kInvalid) << '"' << printable(s) << "\" gave " << name(p.status);
    if (p.status == Status::kInvalid) {
        EXPECT_FALSE(p.error.empty()) << printable(s);
    }
}

void expect_invalid(const std::vector<std::byte>& b) {
    const ProxyParse p = parse_exact(b);
    EXPECT_EQ(p.status, Status::kInvalid)
            << '"' << printable(text(b)) << "\" gave " << name(p.status);
    if (p.status == Status::kInvalid) {
        EXPECT_FALSE(p.error.empty()) << printable(text(b));
    }
}

/// kDone, the whole input taken, and no addresses (the connection's own stand).
void expect_done_without_addresses(const std::vector<std::byte>& b) {
    const ProxyParse p = parse_exact(b);
    ASSERT_EQ(p.status, Status::kDone) << printable(text(b)) << ": " << p.error;
    EXPECT_EQ(p.header.length, b.size());
    EXPECT_FALSE(p.header.source.has_value());
    EXPECT_FALSE(p.header.destination.has_value());
}

// ---- encoding ----

TEST(ProxyProtocolEncode, V1Ipv4IsTheSpecLine) {
    const auto out =
            encode_proxy_header(ProxyVersion::kV1, addr("1.2.3.4:1111"), addr("5.6.7.8:2222"));
    EXPECT_EQ(text(out), "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n");
}

TEST(ProxyProtocolEncode, V1Ipv6IsTheSpecLine) {
    const auto out =
            encode_proxy_header(ProxyVersion::kV1, addr("[2001:db8::1]:65535"), addr("[::1]:0"));
    EXPECT_EQ(text(out), "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n");
}

TEST(ProxyProtocolEncode, V2Ipv4IsTheSpecBytes) {
    const auto out =
            encode_proxy_header(ProxyVersion::kV2, addr("1.2.3.4:1111"), addr("5.6.7.8:2222"));
    const auto expected = bytes({
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,  // signature
            0x21,                 // version 2, PROXY
            0x11,                 // AF_INET, STREAM
            0x00, 0x0C,           // 12 bytes follow
            1,    2,    3,    4,  // source
            5,    6,    7,    8,  // destination
            0x04, 0x57,           // 1111
            0x08, 0xAE,           // 2222
    });
    EXPECT_EQ(out, expected);
}

TEST(ProxyProtocolEncode, V2Ipv6IsTheSpecBytes) {
    const auto out = encode_proxy_header(
            ProxyVersion::kV2, addr("[2001:db8::1]:443"), addr("[fe80::2]:65535"));
    std::vector<std::byte> body =
            bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    body = concat(body, bytes({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}));
    body = concat(body, bytes({0x01, 0xBB, 0xFF, 0xFF}));
    EXPECT_EQ(out, v2(0x21, 0x21, 36, body));
}

TEST(ProxyProtocolEncode, MixedFamiliesAreUnknown) {
    const auto src = addr("1.2.3.4:1111");
    const auto dst = addr("[::1]:2222");
    EXPECT_EQ(text(encode_proxy_header(ProxyVersion::kV1, src, dst)), "PROXY UNKNOWN\r\n");
    EXPECT_EQ(encode_proxy_header(ProxyVersion::kV2, src, dst), v2(0x21, 0x00, 0, {}));
}

// ---- round trips ----

struct RoundTrip {
    ProxyVersion version;
    std::string source;
    std::string destination;
};

void PrintTo(const RoundTrip& rt, std::ostream* os) {
    *os << (rt.version == ProxyVersion::kV1 ? "v1 " : "v2 ") << rt.source << " -> "
        << rt.destination;
}

class ProxyProtocolRoundTrip : public testing::TestWithParam<RoundTrip> {};

TEST_P(ProxyProtocolRoundTrip, ParseGivesBackTheEncodedAddresses) {
    const RoundTrip& rt = GetParam();
    const auto src = addr(rt.source);
    const auto dst = addr(rt.destination);
    const auto encoded = encode_proxy_header(rt.version, src, dst);
    const ProxyParse p = parse_exact(encoded);
    ASSERT_EQ(p.status, Status::kDone) << p.error;
    EXPECT_EQ(p.header.length, encoded.size());
    ASSERT_TRUE(p.header.source.has_value());
    ASSERT_TRUE(p.header.destination.has_value());
    EXPECT_EQ(p.header.source->family(), src.family());
    EXPECT_EQ(p.header.source->to_string(), rt.source);
    EXPECT_EQ(p.header.destination->to_string(), rt.destination);
    EXPECT_EQ(p.header.source->port(), src.port());
    EXPECT_EQ(p.header.destination->port(), dst.port());
    EXPECT_TRUE(*p.header.source == src);
    EXPECT_TRUE(*p.header.destination == dst);
}

INSTANTIATE_TEST_SUITE_P(
        Addresses,
        ProxyProtocolRoundTrip,
        testing::Values(
                RoundTrip{ProxyVersion::kV1, "1.2.3.4:1111", "5.6.7.8:2222"},
                RoundTrip{ProxyVersion::kV2, "1.2.3.4:1111", "5.6.7.8:2222"},
                RoundTrip{ProxyVersion::kV1, "0.0.0.0:0", "255.255.255.255:65535"},
                RoundTrip{ProxyVersion::kV2, "0.0.0.0:0", "255.255.255.255:65535"},
                RoundTrip{ProxyVersion::kV1, "[2001:db8::1]:443", "[::1]:8080"},
                RoundTrip{ProxyVersion::kV2, "[2001:db8::1]:443", "[::1]:8080"},
                RoundTrip{
                        ProxyVersion::kV1,
                        "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
                        "[::]:0"},
                RoundTrip{
                        ProxyVersion::kV2,
                        "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
                        "[::]:0"},
                RoundTrip{ProxyVersion::kV1, "[::ffff:10.0.0.1]:1", "[::ffff:10.0.0.2]:2"},
                RoundTrip{ProxyVersion::kV2, "[::ffff:10.0.0.1]:1", "[::ffff:10.0.0.2]:2"}));

// ---- split anywhere ----

/// Headers of every kind the parser accepts.
std::vector<std::vector<std::byte>> complete_headers() {
    const auto v4s = addr("192.168.100.200:54321");
    const auto v4d = addr("10.0.0.1:443");
    const auto v6s = addr("[2001:db8:85a3::8a2e:370:7334]:40000");
    const auto v6d = addr("[::1]:80");
    std::vector<std::vector<std::byte>> out = {
            encode_proxy_header(ProxyVersion::kV1, v4s, v4d),
            encode_proxy_header(ProxyVersion::kV1, v6s, v6d),
            encode_proxy_header(ProxyVersion::kV2, v4s, v4d),
            encode_proxy_header(ProxyVersion::kV2, v6s, v6d),
            bytes("PROXY UNKNOWN\r\n"),
            bytes("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"),
            v2(0x20, 0x00, 0, {}),                                                        // LOCAL
            v2(0x21, 0x11, 12 + 7, concat(v4_block(), bytes({0x04, 0, 4, 1, 2, 3, 4}))),  // TLV
    };
    return out;
}

TEST(ProxyProtocolParse, EveryPrefixOfAHeaderIsIncomplete) {
    for (const auto& header : complete_headers()) {
        SCOPED_TRACE(printable(text(header)));
        for (std::size_t n = 0; n < header.size(); ++n) {
            const ProxyParse p = parse_exact(header, n);
            EXPECT_EQ(p.status, Status::kIncomplete)
                    << "prefix of " << n << " bytes gave " << name(p.status) << ": " << p.error;
        }
        const ProxyParse p = parse_exact(header);
        ASSERT_EQ(p.status, Status::kDone) << p.error;
        EXPECT_EQ(p.header.length, header.size());
    }
}

TEST(ProxyProtocolParse, LengthPointsAtThePayload) {
    const auto payload = bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n\r\n\0\x01"sv);
    for (const auto& header : complete_headers()) {
        SCOPED_TRACE(printable(text(header)));
        const auto full = concat(header, payload);
        for (std::size_t n = header.size(); n <= full.size(); ++n) {
            const ProxyParse p = parse_exact(full, n);
            ASSERT_EQ(p.status, Status::kDone) << n << " bytes: " << p.error;
            EXPECT_EQ(p.header.length, header.size()) << n << " bytes";
        }
    }
}

TEST(ProxyProtocolParse, AddressesSurviveAPayload) {
    const auto header =
            encode_proxy_header(ProxyVersion::kV1, addr("1.2.3.4:1111"), addr("5.6.7.8:2222"));
    const ProxyParse p = parse_exact(concat(header, bytes("PROXY TCP4 9.9.9.9 9.9.9.9 9 9\r\n")));
    ASSERT_EQ(p.status, Status::kDone) << p.error;
    ASSERT_TRUE(p.header.source.has_value());
    EXPECT_EQ(p.header.source->to_string(), "1.2.3.4:1111");
    EXPECT_EQ(p.header.destination->to_string(), "5.6.7.8:2222");
}

// ---- not a header ----

TEST(ProxyProtocolParse, EmptyInputIsIncomplete) {
    EXPECT_EQ(parse_exact(bytes(""), 0).status, Status::kIncomplete);
}

// BUG (daemon/proxy_protocol.cpp, parse_proxy_header): an empty span with a null data() is
// passed to memcmp, which is undefined behaviour even for 0 bytes; UBSan ("null pointer passed
// as argument 1, which is declared to never be null") stops the sanitizer build here.
// Re-enable when fixed.
TEST(ProxyProtocolParse, EmptySpanWithNullDataIsIncomplete) {
    EXPECT_EQ(parse_proxy_header({}).status, Status::kIncomplete);
}

TEST(ProxyProtocolParse, OtherProtocolsAreInvalidFromTheFirstByte) {
    expect_invalid("G");
    expect_invalid("GET / HTTP/1.1\r\n");
    expect_invalid("\x16\x03\x01");  // a TLS ClientHello
    expect_invalid("SSH-2.0-OpenSSH_9.2\r\n");
    expect_invalid("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n");  // the keyword is case-sensitive
}

TEST(ProxyProtocolParse, InvalidAsSoonAsTheBytesLeaveBothSignatures) {
    // Valid so far: still waiting.
    for (std::string_view s :
         {"P"sv, "PROX"sv, "PROXY"sv, "\r"sv, "\r\n\r\n"sv, "\r\n\r\n\0\r\nQUI"sv}) {
        EXPECT_EQ(parse_text(s).status, Status::kIncomplete) << printable(s);
    }
    // The first byte that fits neither.
    for (std::string_view s :
         {"PX"sv, "PROXX"sv, "PROXY\r"sv, "\rX"sv, "\r\n\r\n\x01"sv, "\r\n\r\n\0\r\nQUIX"sv}) {
        expect_invalid(s);
    }
    expect_invalid(bytes({0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0B}));
}

// ---- v1 ----

TEST(ProxyProtocolV1, UnknownHasNoAddresses) {
    expect_done_without_addresses(bytes("PROXY UNKNOWN\r\n"));
    expect_done_without_addresses(bytes("PROXY UNKNOWN anything here\r\n"));
    expect_done_without_addresses(bytes("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1111 2222\r\n"));
}

TEST(ProxyProtocolV1, UnknownMustBeAWholeWord) {
    expect_invalid("PROXY UNKNOWNX\r\n");
    expect_invalid("PROXY unknown\r\n");
}

TEST(ProxyProtocolV1, HeaderOf107BytesIsAccepted) {
    // 11 + 45 + 1 + 36 + 1 + 5 + 1 + 5 + 2 = 107.
    const std::string src = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
    const std::string dst = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:1";
    const std::string line = "PROXY TCP6 " + src + " " + dst + " 65535 65534\r\n";
    ASSERT_EQ(line.size(), kProxyV1MaxBytes);
    const ProxyParse p = parse_text(line);
    ASSERT_EQ(p.status, Status::kDone) << p.error;
    EXPECT_EQ(p.header.length, 107U);
    ASSERT_TRUE(p.header.source.has_value());
    EXPECT_EQ(p.header.source->to_string(), "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
    EXPECT_EQ(p.header.destination->to_string(), "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:1]:65534");

    // The same line one byte longer.
    const std::string longer =
            "PROXY TCP6 " + src + " ffff:ffff:ffff:ffff:ffff:ffff:1.2.3.4 65535 65534\r\n";
    ASSERT_EQ(longer.size(), kProxyV1MaxBytes + 1);
    expect_invalid(longer);
}

TEST(ProxyProtocolV1, UnknownLineAtTheLimit) {
    const std::string at_limit = "PROXY UNKNOWN " + std::string(107 - 16, 'x') + "\r\n";
    ASSERT_EQ(at_limit.size(), 107U);
    expect_done_without_addresses(bytes(at_limit));
    expect_invalid("PROXY UNKNOWN " + std::string(107 - 15, 'x') + "\r\n");
}

TEST(ProxyProtocolV1, NoCrlfWithin107BytesIsInvalid) {
    const std::string line = "PROXY UNKNOWN " + std::string(200, 'x');
    // Up to 106 bytes the CRLF may still come (a CR as byte 106, LF as byte 107).
    EXPECT_EQ(parse_text(line.substr(0, 106)).status, Status::kIncomplete);
    expect_invalid(line.substr(0, 107));
    expect_invalid(line.substr(0, 108));
    expect_invalid(line);
    // A CRLF that only comes after the limit does not make it valid.
    expect_invalid(line.substr(0, 120) + "\r\n");
}

TEST(ProxyProtocolV1, BadPortsAreInvalid) {
    for (std::string_view port :
         {"65536", "99999", "123456", "01", "00", "-1", "+1", "1a", "0x10", "1.0"}) {
        expect_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 " + std::string(port) + " 2222\r\n");
        expect_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1111 " + std::string(port) + "\r\n");
    }
    // Empty ports: a double space, a trailing space.
    expect_invalid("PROXY TCP4 1.2.3.4 5.6.7.8  2222\r\n");
    expect_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1111 \r\n");
}

TEST(ProxyProtocolV1, PortLimitsAreAccepted) {
    const ProxyParse p = parse_text("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n");
    ASSERT_EQ(p.status, Status::kDone) << p.error;
    EXPECT_EQ(p.header.source->port(), 0);
    EXPECT_EQ(p.header.destination->port(), 65535);
}

TEST(ProxyProtocolV1, BadAddressesAreInvalid) {
    for (std::string_view ip :
         {"1.2.3.256", "1.2.3", "1.2.3.4.5", "a.b.c.d", "localhost", "1.2.3.4/8"}) {
        expect_invalid("PROXY TCP4 " + std::string(ip) + " 5.6.7.8 1111 2222\r\n");
        expect_invalid("PROXY TCP4 1.2.3.4 " + std::string(ip) + " 1111 2222\r\n");
    }
    expect_invalid("PROXY TCP6 ::g 2001:db8::1 1111 2222\r\n");
    expect_invalid("PROXY TCP6 [::1] ::1 1111 2222\r\n");
    expect_invalid("PROXY TCP6 1::2::3 ::1 1111 2222\r\n");
}

TEST(ProxyProtocolV1, FamilyMustMatchTheAddresses) {
    expect_invalid("PROXY TCP4 ::1 ::1 1111 2222\r\n");
    expect_invalid("PROXY TCP4 1.2.3.4 ::1 1111 2222\r\n");
    expect_invalid("PROXY TCP6 1.2.3.4 5.6.7.8 1111 2222\r\n");
    expect_invalid("PROXY TCP6 ::1 5.6.7.8 1111 2222\r\n");
}

TEST(ProxyProtocolV1, FieldsMustBeExactlyFiveSingleSpaced) {
    expect_invalid("PROXY \r\n");
    expect_invalid("PROXY TCP4\r\n");
    expect_invalid("PROXY TCP4 1.2.3.4\r\n");
    expect_invalid("PROXY TCP4 1.2.3.4 5.6.7.8\r\n");
    expect_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1111\r\n");
    expect_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222 3333\r\n");
    expect_invalid("PROXY  TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n");
    expect_invalid("PROXY TCP4  1.2.3.4 5.6.7.8 1111 2222\r\n");
    expect_invalid("PROXY TCP4 1.2.3.4  5.6.7.8 1111 2222\r\n");
    expect_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222 \r\n");
    expect_invalid("PROXY TCP4\t1.2.3.4 5.6.7.8 1111 2222\r\n");
    expect_invalid("PROXY TCP5 1.2.3.4 5.6.7.8 1111 2222\r\n");
    expect_invalid("PROXY tcp4 1.2.3.4 5.6.7.8 1111 2222\r\n");
    expect_invalid("PROXY UDP4 1.2.3.4 5.6.7.8 1111 2222\r\n");
}

TEST(ProxyProtocolV1, LineFeedWithoutCarriageReturnIsInvalid) {
    expect_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\n");
    expect_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\nGET / HTTP/1.1\r\n");
    expect_invalid("PROXY UNKNOWN\n");
    expect_invalid("PROXY\n");
}

TEST(ProxyProtocolV1, NulIsInvalid) {
    expect_invalid("PROXY \0"sv);
    expect_invalid("PROXY TCP4 1.2.3.4\0"sv);
    expect_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1111\0"sv);
}

// A NUL or a bare LF before the CRLF is rejected while the CRLF has not arrived, so it must be
// rejected when it has, or the verdict depends on how the bytes were split.
// BUG (daemon/proxy_protocol.cpp, parse_v1): only the no-CRLF-yet branch looks for '\n' and
// '\0'. Once the CRLF is in, "1.2.3.4\0junk" is accepted as 1.2.3.4 (inet_pton stops at the NUL
// of the std::string's c_str()), and "UNKNOWN x\ny" is kDone.
// Re-enable when fixed.
TEST(ProxyProtocolV1, NulOrLineFeedBeforeTheCrlfIsInvalidInACompleteLine) {
    expect_invalid("PROXY TCP4 1.2.3.4\0 5.6.7.8 1111 2222\r\n"sv);
    expect_invalid("PROXY TCP4 1.2.3.4\0junk 5.6.7.8 1111 2222\r\n"sv);
    expect_invalid("PROXY TCP6 ::1\0 ::1 1111 2222\r\n"sv);
    expect_invalid("PROXY UNKNOWN \0\r\n"sv);
    expect_invalid("PROXY UNKNOWN x\nGET / HTTP/1.1\r\n");
}

// ---- v2 ----

TEST(ProxyProtocolV2, LocalCommandHasNoAddresses) {
    expect_done_without_addresses(v2(0x20, 0x00, 0, {}));
    // LOCAL with an address block: the block is skipped, the connection's own addresses stand.
    expect_done_without_addresses(v2(0x20, 0x11, 12, v4_block()));
}

// The spec (2.2): for LOCAL "the receiver must accept this connection as valid and must use the
// real connection endpoints and discard the protocol block including the family which is
// ignored" (HAProxy accepts any family and length with LOCAL).
// BUG (daemon/proxy_protocol.cpp, parse_v2): the family and length checks run before the
// command is looked at, so a LOCAL header that names a family without its address block, or
// an unknown family, is rejected. Re-enable when fixed.
TEST(ProxyProtocolV2, LocalIgnoresTheFamily) {
    expect_done_without_addresses(v2(0x20, 0x11, 0, {}));
    expect_done_without_addresses(v2(0x20, 0x21, 12, v4_block()));
    expect_done_without_addresses(v2(0x20, 0x41, 0, {}));
}

TEST(ProxyProtocolV2, UnsupportedVersionOrCommandIsInvalid) {
    for (unsigned ver_cmd : {0x11U, 0x22U, 0x2FU, 0x01U, 0x31U, 0x10U, 0x00U, 0xF1U}) {
        SCOPED_TRACE(ver_cmd);
        expect_invalid(v2(ver_cmd, 0x11, 12, v4_block()));
        // Known from the first 16 bytes: no need to wait for the addresses.
        expect_invalid(v2(ver_cmd, 0x11, 12, {}));
    }
}

TEST(ProxyProtocolV2, UnspecifiedFamilyHasNoAddresses) {
    expect_done_without_addresses(v2(0x21, 0x00, 0, {}));
    expect_done_without_addresses(v2(0x21, 0x00, 12, v4_block()));  // its bytes are skipped
    expect_done_without_addresses(v2(0x21, 0x01, 0, {}));
}

TEST(ProxyProtocolV2, UdpAndUnixHaveNoAddresses) {
    expect_done_without_addresses(v2(0x21, 0x12, 12, v4_block()));
    expect_done_without_addresses(v2(0x21, 0x22, 36, std::vector<std::byte>(36, std::byte{1})));
    expect_done_without_addresses(v2(0x21, 0x31, 216, std::vector<std::byte>(216, std::byte{'a'})));
    expect_done_without_addresses(v2(0x21, 0x32, 216, std::vector<std::byte>(216, std::byte{'a'})));
}

TEST(ProxyProtocolV2, UnknownFamilyOrTransportIsInvalid) {
    expect_invalid(v2(0x21, 0x41, 12, v4_block()));
    expect_invalid(v2(0x21, 0xF1, 12, v4_block()));
    expect_invalid(v2(0x21, 0x13, 12, v4_block()));
    expect_invalid(v2(0x21, 0x1F, 12, v4_block()));
}

TEST(ProxyProtocolV2, LengthShorterThanTheFamilyNeedsIsInvalid) {
    expect_invalid(v2(0x21, 0x11, 11, std::vector<std::byte>(11)));
    expect_invalid(v2(0x21, 0x11, 0, {}));
    expect_invalid(v2(0x21, 0x21, 35, std::vector<std::byte>(35)));
    expect_invalid(v2(0x21, 0x21, 12, v4_block()));
    expect_invalid(v2(0x21, 0x31, 215, std::vector<std::byte>(215)));
    // Known from the first 16 bytes.
    expect_invalid(v2(0x21, 0x21, 35, {}));
}

TEST(ProxyProtocolV2, TlvLimitIs2048Bytes) {
    // 2048 bytes of addresses and TLVs: accepted once all have arrived.
    auto tlvs = std::vector<std::byte>(2048 - 12, std::byte{0});
    const auto at_limit = v2(0x21, 0x11, 2048, concat(v4_block(), tlvs));
    ASSERT_EQ(at_limit.size(), kProxyV2MaxBytes);
    EXPECT_EQ(parse_exact(at_limit, kProxyV2MaxBytes - 1).status, Status::kIncomplete);
    const ProxyParse p = parse_exact(at_limit);
    ASSERT_EQ(p.status, Status::kDone) << p.error;
    EXPECT_EQ(p.header.length, kProxyV2MaxBytes);
    ASSERT_TRUE(p.header.source.has_value());
    EXPECT_EQ(p.header.source->to_string(), "1.2.3.4:1111");

    // One more: invalid from the 16 fixed bytes alone.
    expect_invalid(v2(0x21, 0x11, 2049, {}));
    expect_invalid(v2(0x21, 0x11, 0xFFFF, {}));
    expect_invalid(v2(0x21, 0x00, 2049, {}));
    expect_invalid(v2(0x20, 0x00, 2049, {}));
}

TEST(ProxyProtocolV2, TlvsAfterTheAddressesAreSkipped) {
    // PP2_TYPE_ALPN "h2", PP2_TYPE_AUTHORITY "example.com", PP2_TYPE_NOOP of 3 bytes.
    auto tlvs = bytes({0x01, 0x00, 0x02, 'h', '2'});
    tlvs = concat(tlvs, bytes({0x02, 0x00, 0x0B}));
    tlvs = concat(tlvs, bytes("example.com"));
    tlvs = concat(tlvs, bytes({0x04, 0x00, 0x03, 0, 0, 0}));
    const auto header = v2(0x21, 0x11, 12 + tlvs.size(), concat(v4_block(), tlvs));
    const ProxyParse p = parse_exact(concat(header, bytes("payload")));
    ASSERT_EQ(p.status, Status::kDone) << p.error;
    EXPECT_EQ(p.header.length, header.size());
    ASSERT_TRUE(p.header.source.has_value());
    ASSERT_TRUE(p.header.destination.has_value());
    EXPECT_EQ(p.header.source->to_string(), "1.2.3.4:1111");
    EXPECT_EQ(p.header.destination->to_string(), "5.6.7.8:2222");
    // Still incomplete while the TLVs are arriving.
    EXPECT_EQ(parse_exact(header, header.size() - 1).status, Status::kIncomplete);
}

TEST(ProxyProtocolV2, Ipv6AddressesAreParsed) {
    std::vector<std::byte> block(36, std::byte{0});
    block[0] = std::byte{0x20};
    block[1] = std::byte{0x01};
    block[15] = std::byte{0x01};
    block[31] = std::byte{0x02};
    block[32] = std::byte{0x12};
    block[33] = std::byte{0x34};
    block[34] = std::byte{0x00};
    block[35] = std::byte{0x50};
    const ProxyParse p = parse_exact(v2(0x21, 0x21, 36, block));
    ASSERT_EQ(p.status, Status::kDone) << p.error;
    ASSERT_TRUE(p.header.source.has_value());
    EXPECT_EQ(p.header.source->to_string(), "[2001::1]:4660");
    EXPECT_EQ(p.header.destination->to_string(), "[::2]:80");
}

// ---- random input ----

/// Random inputs biased towards the interesting: plain noise, either signature followed by
/// noise, v1 lines from a small alphabet, and valid headers mutated, cut or extended.
class RandomInputs {
public:
    explicit RandomInputs(std::uint32_t seed) : rng_(seed) {}

    std::vector<std::byte> next() {
        const std::size_t len = uniform(0, 300);
        std::vector<std::byte> out;
        switch (uniform(0, 4)) {
            case 0:
                while (out.size() < len) {
                    out.push_back(random_byte());
                }
                return out;
            case 1: {
                out = v2(0x20 | uniform(0, 2), uniform(0, 0x33), uniform(0, 300), {});
                while (out.size() < len) {
                    out.push_back(random_byte());
                }
                return out;
            }
            case 2: {
                static constexpr std::string_view kAlphabet =
                        "PROXY TCP46UNKOW.:0123456789abcdef\r\n ";
                out = bytes("PROXY ");
                while (out.size() < len) {
                    out.push_back(std::byte(kAlphabet[uniform(0, kAlphabet.size() - 1)]));
                }
                return out;
            }
            default: {
                const auto headers = complete_headers();
                out = headers[uniform(0, headers.size() - 1)];
                const std::size_t flips = uniform(0, 3);
                for (std::size_t i = 0; i < flips && !out.empty(); ++i) {
                    out[uniform(0, out.size() - 1)] = random_byte();
                }
                out.resize(std::min<std::size_t>(uniform(0, out.size() + 40), 300), std::byte{0});
                return out;
            }
        }
    }

private:
    std::size_t uniform(std::size_t lo, std::size_t hi) {
        return std::uniform_int_distribution<std::size_t>(lo, hi)(rng_);
    }
    std::byte random_byte() { return std::byte(uniform(0, 255)); }

    std::mt19937 rng_;
};

TEST(ProxyProtocolParse, RandomInputNeverOverreadsAndDoneFitsTheInput) {
    RandomInputs inputs(20240601);
    int done = 0;
    int invalid = 0;
    int incomplete = 0;
    for (int i = 0; i < 10'000; ++i) {
        const auto input = inputs.next();
        ASSERT_LE(input.size(), 300U);
        const ProxyParse p = parse_exact(input);  // ASan: exactly input.size() bytes readable
        switch (p.status) {
            case Status::kDone: {
                ++done;
                ASSERT_LE(p.header.length, input.size()) << printable(text(input));
                ASSERT_GT(p.header.length, 0U) << printable(text(input));
                // The header alone gives the same answer: nothing after it was looked at.
                const ProxyParse alone = parse_exact(input, p.header.length);
                ASSERT_EQ(alone.status, Status::kDone) << printable(text(input));
                EXPECT_EQ(alone.header.length, p.header.length);
                EXPECT_EQ(alone.header.source.has_value(), p.header.source.has_value());
                break;
            }
            case Status::kInvalid:
                ++invalid;
                EXPECT_FALSE(p.error.empty()) << printable(text(input));
                break;
            case Status::kIncomplete:
                ++incomplete;
                // Incomplete only while a v1 line can still end in time.
                if (!input.empty() && input[0] == std::byte{'P'}) {
                    EXPECT_LT(input.size(), kProxyV1MaxBytes) << printable(text(input));
                }
                break;
        }
    }
    // The generator reached every outcome (else the test would prove little).
    EXPECT_GT(done, 100);
    EXPECT_GT(invalid, 100);
    EXPECT_GT(incomplete, 100);
}

}  // namespace

void PrintTo(ProxyParse::Status s, std::ostream* os) {
    *os << name(s);
}

}  // namespace ringlb::daemon
