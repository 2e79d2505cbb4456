// SPDX-License-Identifier: MIT
// resolve_address(): numeric parse first, getaddrinfo for names.
#include "config/resolve.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <memory>

namespace ringlb::config {

core::Result<core::SocketAddress, std::string> resolve_address(std::string_view text) {
    auto numeric = core::SocketAddress::parse(text);
    if (numeric) {
        return numeric;
    }
    // Only a non-numeric host is worth a lookup; other errors (port, brackets) stand.
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || text.front() == '[') {
        return numeric;
    }
    const std::string host(text.substr(0, colon));
    const std::string port(text.substr(colon + 1));
    if (host.find(':') != std::string::npos) {
        return numeric;
    }
    auto port_check = core::SocketAddress::parse("0.0.0.0:" + port);
    if (!port_check) {
        return core::Unexpected(port_check.error());
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) {
        return core::Unexpected("cannot resolve \"" + host + "\": " + ::gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(res, &::freeaddrinfo);
    return core::SocketAddress::from(res->ai_addr, res->ai_addrlen);
}

}  // namespace ringlb::config
