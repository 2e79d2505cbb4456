// SPDX-License-Identifier: MIT
// PROXY protocol v1 (text) and v2 (binary): encode and parse.
#include "daemon/proxy_protocol.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <charconv>
#include <cstring>
#include <string_view>

namespace ringlb::daemon {
namespace {

constexpr std::array<unsigned char, 12> kV2Signature{
        0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::string_view kV1Prefix = "PROXY ";

ProxyParse invalid(std::string why) {
    ProxyParse p;
    p.status = ProxyParse::Status::kInvalid;
    p.error = std::move(why);
    return p;
}

void append(std::vector<std::byte>& out, const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out.insert(out.end(), b, b + n);
}

// A port in 0..65535 with no sign, no leading zero (but "0"), digits only.
std::optional<std::uint16_t> parse_port(std::string_view s) {
    if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) {
        return std::nullopt;
    }
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v > 65535) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(v);
}

std::optional<core::SocketAddress>
v1_address(std::string_view ip, std::string_view port, int family) {
    const auto p = parse_port(port);
    if (!p || ip.empty() || ip.size() > 45) {
        return std::nullopt;
    }
    const std::string host(ip);
    if (family == AF_INET) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(*p);
        if (inet_pton(AF_INET, host.c_str(), &sin.sin_addr) != 1) {
            return std::nullopt;
        }
        return core::SocketAddress::from(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
    }
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(*p);
    if (inet_pton(AF_INET6, host.c_str(), &sin6.sin6_addr) != 1) {
        return std::nullopt;
    }
    return core::SocketAddress::from(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
}

ProxyParse parse_v1(std::string_view text) {
    const auto crlf = text.find("\r\n");
    if (crlf == std::string_view::npos) {
        if (text.size() >= kProxyV1MaxBytes) {
            return invalid("PROXY v1 header longer than 107 bytes");
        }
        if (text.find('\n') != std::string_view::npos
            || text.find('\0') != std::string_view::npos) {
            return invalid("PROXY v1 header: a line feed or NUL before CRLF");
        }
        return {};
    }
    if (crlf + 2 > kProxyV1MaxBytes) {
        return invalid("PROXY v1 header longer than 107 bytes");
    }
    const std::string_view body = text.substr(0, crlf);
    if (body.find('\n') != std::string_view::npos || body.find('\0') != std::string_view::npos) {
        return invalid("PROXY v1 header: a line feed or NUL before CRLF");  // however it arrived
    }
    std::string_view line = text.substr(kV1Prefix.size(), crlf - kV1Prefix.size());
    ProxyParse done;
    done.status = ProxyParse::Status::kDone;
    done.header.length = crlf + 2;
    if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) {
        return done;  // the rest of the line is to be ignored; the connection's addresses stand
    }
    std::array<std::string_view, 5> f{};
    std::size_t n = 0;
    while (!line.empty()) {
        const auto sp = line.find(' ');
        const std::string_view word = line.substr(0, sp);
        if (word.empty() || n == f.size()) {
            return invalid("PROXY v1 header: malformed fields");
        }
        f[n++] = word;
        line = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
        if (sp != std::string_view::npos && line.empty()) {
            return invalid("PROXY v1 header: trailing space");
        }
    }
    if (n != 5 || (f[0] != "TCP4" && f[0] != "TCP6")) {
        return invalid("PROXY v1 header: expected TCP4, TCP6 or UNKNOWN and four fields");
    }
    const int family = f[0] == "TCP4" ? AF_INET : AF_INET6;
    done.header.source = v1_address(f[1], f[3], family);
    done.header.destination = v1_address(f[2], f[4], family);
    if (!done.header.source || !done.header.destination) {
        return invalid("PROXY v1 header: bad address or port");
    }
    return done;
}

ProxyParse parse_v2(std::span<const std::byte> data) {
    if (data.size() < 16) {
        return {};
    }
    const auto* b = reinterpret_cast<const unsigned char*>(data.data());
    const unsigned version = b[12] >> 4;
    const unsigned command = b[12] & 0x0F;
    if (version != 2 || command > 1) {
        return invalid("PROXY v2 header: unsupported version or command");
    }
    const std::size_t len = (std::size_t{b[14]} << 8) | b[15];
    if (16 + len > kProxyV2MaxBytes) {
        return invalid(
                "PROXY v2 header: " + std::to_string(len)
                + " bytes of addresses and TLVs (limit 2048)");
    }
    if (command == 0) {
        // LOCAL (a health check from the proxy itself): the family and addresses are to be
        // ignored, whatever they say; only the length matters, to skip them.
        if (data.size() < 16 + len) {
            return {};
        }
        ProxyParse local;
        local.status = ProxyParse::Status::kDone;
        local.header.length = 16 + len;
        return local;
    }
    const unsigned family = b[13] >> 4;
    const unsigned transport = b[13] & 0x0F;
    const std::size_t need = family == 1 ? 12 : family == 2 ? 36 : family == 3 ? 216 : 0;
    if (family > 3 || transport > 2) {
        return invalid("PROXY v2 header: unknown address family or transport");
    }
    if (len < need) {
        return invalid("PROXY v2 header: length too short for its address family");
    }
    if (data.size() < 16 + len) {
        return {};
    }
    ProxyParse done;
    done.status = ProxyParse::Status::kDone;
    done.header.length = 16 + len;
    if (command == 0 || transport != 1 || (family != 1 && family != 2)) {
        return done;  // LOCAL, UNSPEC, UDP or a Unix address: the connection's own stand
    }
    // The v2 address block: source IP, destination IP, source port, destination port.
    auto read = [&](int af, std::size_t ip_len) {
        const unsigned char* a = b + 16;
        for (int which = 0; which < 2; ++which) {
            sockaddr_storage ss{};
            socklen_t sl = 0;
            if (af == AF_INET) {
                auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
                sin->sin_family = AF_INET;
                std::memcpy(&sin->sin_addr, a + which * ip_len, ip_len);
                std::memcpy(&sin->sin_port, a + 2 * ip_len + which * 2, 2);
                sl = sizeof(sockaddr_in);
            } else {
                auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
                sin6->sin6_family = AF_INET6;
                std::memcpy(&sin6->sin6_addr, a + which * ip_len, ip_len);
                std::memcpy(&sin6->sin6_port, a + 2 * ip_len + which * 2, 2);
                sl = sizeof(sockaddr_in6);
            }
            (which == 0 ? done.header.source : done.header.destination) =
                    core::SocketAddress::from(reinterpret_cast<const sockaddr*>(&ss), sl);
        }
    };
    if (family == 1) {
        read(AF_INET, 4);
    } else {
        read(AF_INET6, 16);
    }
    // TLVs (the rest of `len`) are skipped: nothing in them changes how ringlbd forwards.
    return done;
}

}  // namespace

ProxyParse parse_proxy_header(std::span<const std::byte> data) {
    if (data.empty()) {
        return {};  // (and never memcmp a null pointer)
    }
    const auto* b = reinterpret_cast<const unsigned char*>(data.data());
    // Decide the version from as many leading bytes as have arrived.
    const std::size_t v2_seen = std::min(data.size(), kV2Signature.size());
    const bool may_be_v2 = std::memcmp(b, kV2Signature.data(), v2_seen) == 0;
    const std::size_t v1_seen = std::min(data.size(), kV1Prefix.size());
    const bool may_be_v1 = std::memcmp(b, kV1Prefix.data(), v1_seen) == 0;
    if (data.empty() || (may_be_v2 && data.size() < kV2Signature.size())
        || (may_be_v1 && data.size() < kV1Prefix.size())) {
        return may_be_v1 || may_be_v2 || data.empty() ? ProxyParse{}
                                                      : invalid("no PROXY protocol header");
    }
    if (may_be_v2) {
        return parse_v2(data);
    }
    if (may_be_v1) {
        return parse_v1(std::string_view(reinterpret_cast<const char*>(b), data.size()));
    }
    return invalid("no PROXY protocol header");
}

std::vector<std::byte> encode_proxy_header(
        ProxyVersion v, const core::SocketAddress& source, const core::SocketAddress& destination) {
    std::vector<std::byte> out;
    const bool v4 = source.family() == AF_INET && destination.family() == AF_INET;
    const bool v6 = source.family() == AF_INET6 && destination.family() == AF_INET6;
    if (v == ProxyVersion::kV1) {
        std::string line;
        if (!v4 && !v6) {
            line = "PROXY UNKNOWN\r\n";
        } else {
            char src[INET6_ADDRSTRLEN];
            char dst[INET6_ADDRSTRLEN];
            const void* sa = v4
                    ? static_cast<const void*>(
                            &reinterpret_cast<const sockaddr_in*>(source.get())->sin_addr)
                    : static_cast<const void*>(
                            &reinterpret_cast<const sockaddr_in6*>(source.get())->sin6_addr);
            const void* da = v4
                    ? static_cast<const void*>(
                            &reinterpret_cast<const sockaddr_in*>(destination.get())->sin_addr)
                    : static_cast<const void*>(
                            &reinterpret_cast<const sockaddr_in6*>(destination.get())->sin6_addr);
            inet_ntop(v4 ? AF_INET : AF_INET6, sa, src, sizeof src);
            inet_ntop(v4 ? AF_INET : AF_INET6, da, dst, sizeof dst);
            line = std::string("PROXY ") + (v4 ? "TCP4 " : "TCP6 ") + src + " " + dst + " "
                    + std::to_string(source.port()) + " " + std::to_string(destination.port())
                    + "\r\n";
        }
        append(out, line.data(), line.size());
        return out;
    }
    append(out, kV2Signature.data(), kV2Signature.size());
    const unsigned char ver_cmd = 0x21;  // version 2, PROXY
    const unsigned char fam = v4 ? 0x11 : v6 ? 0x21 : 0x00;
    const std::uint16_t len = htons(v4 ? 12 : v6 ? 36 : 0);
    append(out, &ver_cmd, 1);
    append(out, &fam, 1);
    append(out, &len, 2);
    if (v4) {
        const auto* s = reinterpret_cast<const sockaddr_in*>(source.get());
        const auto* d = reinterpret_cast<const sockaddr_in*>(destination.get());
        append(out, &s->sin_addr, 4);
        append(out, &d->sin_addr, 4);
        append(out, &s->sin_port, 2);
        append(out, &d->sin_port, 2);
    } else if (v6) {
        const auto* s = reinterpret_cast<const sockaddr_in6*>(source.get());
        const auto* d = reinterpret_cast<const sockaddr_in6*>(destination.get());
        append(out, &s->sin6_addr, 16);
        append(out, &d->sin6_addr, 16);
        append(out, &s->sin6_port, 2);
        append(out, &d->sin6_port, 2);
    }
    return out;
}

}  // namespace ringlb::daemon
