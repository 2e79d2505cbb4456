// SPDX-License-Identifier: MIT
// Address resolution for the configuration: "host:port" or "[v6]:port", where host may be a
// name (resolved once, when the configuration is loaded).
#pragma once

#include <string>
#include <string_view>

#include "core/net/address.hpp"
#include "core/result.hpp"

namespace ringlb::config {

/// A numeric address as is; a host name through getaddrinfo (first result). The error says
/// what is wrong, without the JSON path.
core::Result<core::SocketAddress, std::string> resolve_address(std::string_view text);

}  // namespace ringlb::config
