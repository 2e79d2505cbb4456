// SPDX-License-Identifier: MIT
// SocketAddress: an IPv4 or IPv6 address and port, parsed from "host:port" or "[v6]:port"
// (numeric hosts only; config/ resolves names), and the synchronous socket set-up calls.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace ringlb::core {

class SocketAddress {
public:
    SocketAddress() noexcept = default;
    /// Parses "1.2.3.4:80" or "[::1]:80" with a numeric host. The error says what is wrong.
    static Result<SocketAddress, std::string> parse(std::string_view text);
    /// Copies a kernel-provided IPv4 or IPv6 address (accept, getsockname); longer ones are cut.
    static SocketAddress from(const sockaddr* sa, socklen_t len) noexcept;
    static SocketAddress loopback_v4(std::uint16_t port) noexcept;

    const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
    socklen_t length() const noexcept { return length_; }
    int family() const noexcept { return storage_.sin6_family; }
    std::uint16_t port() const noexcept;
    /// "1.2.3.4:80" or "[::1]:80".
    std::string to_string() const;
    bool operator==(const SocketAddress& other) const noexcept;

private:
    // IPv6's is the largest address held, not sockaddr_storage's 128 bytes: connection set-up
    // frames hold several addresses, and every connection's frame pays for each.
    sockaddr_in6 storage_{};
    socklen_t length_ = 0;
};

/// A non-blocking, close-on-exec TCP socket for `family`.
Result<UniqueFd> make_tcp_socket(int family);
/// A listening TCP socket bound to `addr` (SO_REUSEADDR; SO_REUSEPORT when `reuse_port`).
Result<UniqueFd> make_listener(const SocketAddress& addr, int backlog, bool reuse_port = false);
/// The local address of a bound socket.
Result<SocketAddress> local_address(int fd);
/// The peer address of a connected socket.
Result<SocketAddress> peer_address(int fd);

}  // namespace ringlb::core
