// SPDX-License-Identifier: MIT
// Cidr: an IPv4 or IPv6 network ("127.0.0.0/8", "::1/128", or a bare address for /32 and
// /128), for the PROXY protocol's list of trusted peers.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/net/address.hpp"
#include "core/result.hpp"

namespace ringlb::config {

class Cidr {
public:
    /// The error says what is wrong with `text`.
    static core::Result<Cidr, std::string> parse(std::string_view text);
    /// True if `addr`'s IP is inside this network (an IPv4-mapped IPv6 address counts as IPv4).
    bool contains(const core::SocketAddress& addr) const noexcept;

private:
    int family_ = 0;
    std::array<std::uint8_t, 16> bytes_{};
    unsigned prefix_ = 0;
};

}  // namespace ringlb::config
