// SPDX-License-Identifier: MIT
// SocketAddress parsing and printing, and socket set-up with the plain syscalls.
#include "core/net/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace ringlb::core {
namespace {

std::error_code last_error() {
    return {errno, std::system_category()};
}

}  // namespace

Result<SocketAddress, std::string> SocketAddress::parse(std::string_view text) {
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return Unexpected(std::string("expected \"[v6-address]:port\""));
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return Unexpected(std::string("expected \"host:port\""));
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            return Unexpected(std::string("an IPv6 address must be written \"[address]:port\""));
        }
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
        return Unexpected("invalid port \"" + std::string(port) + "\" (expected 0-65535)");
    }
    const std::string host_z(host);
    SocketAddress out;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage_);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage_);
    if (inet_pton(AF_INET, host_z.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<std::uint16_t>(value));
        out.length_ = sizeof(sockaddr_in);
        return out;
    }
    out.storage_ = {};
    if (inet_pton(AF_INET6, host_z.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(value));
        out.length_ = sizeof(sockaddr_in6);
        return out;
    }
    return Unexpected("\"" + host_z + "\" is not a numeric IPv4 or IPv6 address");
}

SocketAddress SocketAddress::from(const sockaddr* sa, socklen_t len) noexcept {
    SocketAddress out;
    if (len > sizeof out.storage_) {
        len = sizeof out.storage_;
    }
    std::memcpy(&out.storage_, sa, len);
    out.length_ = len;
    return out;
}

SocketAddress SocketAddress::loopback_v4(std::uint16_t port) noexcept {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return from(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
}

std::uint16_t SocketAddress::port() const noexcept {
    if (family() == AF_INET) {
        return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    }
    if (family() == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    }
    return 0;
}

std::string SocketAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET) {
        inet_ntop(
                AF_INET,
                &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr,
                buf,
                sizeof buf);
        return std::string(buf) + ":" + std::to_string(port());
    }
    if (family() == AF_INET6) {
        inet_ntop(
                AF_INET6,
                &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr,
                buf,
                sizeof buf);
        return "[" + std::string(buf) + "]:" + std::to_string(port());
    }
    return "unspecified";
}

bool SocketAddress::operator==(const SocketAddress& other) const noexcept {
    return length_ == other.length_ && std::memcmp(&storage_, &other.storage_, length_) == 0;
}

Result<UniqueFd> make_tcp_socket(int family) {
    UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        return Unexpected(last_error());
    }
    return fd;
}

Result<UniqueFd> make_listener(const SocketAddress& addr, int backlog, bool reuse_port) {
    auto fd = make_tcp_socket(addr.family());
    if (!fd) {
        return fd;
    }
    const int one = 1;
    if (::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1) {
        return Unexpected(last_error());
    }
    if (reuse_port && ::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1) {
        return Unexpected(last_error());
    }
    if (::bind(fd->get(), addr.get(), addr.length()) == -1) {
        return Unexpected(last_error());
    }
    if (::listen(fd->get(), backlog) == -1) {
        return Unexpected(last_error());
    }
    return fd;
}

Result<SocketAddress> local_address(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == -1) {
        return Unexpected(last_error());
    }
    return SocketAddress::from(reinterpret_cast<const sockaddr*>(&ss), len);
}

Result<SocketAddress> peer_address(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == -1) {
        return Unexpected(last_error());
    }
    return SocketAddress::from(reinterpret_cast<const sockaddr*>(&ss), len);
}

}  // namespace ringlb::core
