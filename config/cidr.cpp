// SPDX-License-Identifier: MIT
// Cidr: parse and match.
#include "config/cidr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace ringlb::config {

core::Result<Cidr, std::string> Cidr::parse(std::string_view text) {
    Cidr c;
    const auto slash = text.find('/');
    const std::string ip(text.substr(0, slash));
    if (inet_pton(AF_INET, ip.c_str(), c.bytes_.data()) == 1) {
        c.family_ = AF_INET;
        c.prefix_ = 32;
    } else if (inet_pton(AF_INET6, ip.c_str(), c.bytes_.data()) == 1) {
        c.family_ = AF_INET6;
        c.prefix_ = 128;
    } else {
        return core::Unexpected(
                "\"" + std::string(text) + "\": not an IP address or network (like 10.0.0.0/8)");
    }
    if (slash != std::string_view::npos) {
        const std::string_view p = text.substr(slash + 1);
        unsigned prefix = 0;
        const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
        if (p.empty() || ec != std::errc() || end != p.data() + p.size() || prefix > c.prefix_) {
            return core::Unexpected(
                    "\"" + std::string(text) + "\": invalid prefix length (expected 0-"
                    + std::to_string(c.prefix_) + ")");
        }
        c.prefix_ = prefix;
    }
    return c;
}

bool Cidr::contains(const core::SocketAddress& addr) const noexcept {
    const std::uint8_t* ip = nullptr;
    std::uint8_t mapped[4];
    if (addr.family() == AF_INET) {
        ip = reinterpret_cast<const std::uint8_t*>(
                &reinterpret_cast<const sockaddr_in*>(addr.get())->sin_addr);
        if (family_ != AF_INET) {
            return false;
        }
    } else if (addr.family() == AF_INET6) {
        const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(addr.get())->sin6_addr;
        if (family_ == AF_INET && IN6_IS_ADDR_V4MAPPED(a6)) {
            std::memcpy(mapped, reinterpret_cast<const std::uint8_t*>(a6) + 12, 4);
            ip = mapped;
        } else if (family_ == AF_INET6) {
            ip = reinterpret_cast<const std::uint8_t*>(a6);
        } else {
            return false;
        }
    } else {
        return false;
    }
    const unsigned full = prefix_ / 8;
    const unsigned rest = prefix_ % 8;
    if (std::memcmp(ip, bytes_.data(), full) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    const std::uint8_t mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
    return (ip[full] & mask) == (bytes_[full] & mask);
}

}  // namespace ringlb::config
