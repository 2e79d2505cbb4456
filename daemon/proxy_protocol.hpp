// SPDX-License-Identifier: MIT
// The PROXY protocol (HAProxy's spec, versions 1 and 2): encoding the header ringlbd sends to a
// backend, and a strict, bounded, incremental parser for the header a trusted peer sends to
// ringlbd. Pure functions over bytes: no I/O, no allocation beyond the result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/net/address.hpp"

namespace ringlb::daemon {

enum class ProxyVersion { kV1, kV2 };

/// The header announcing a connection from `source` to `destination` (same family).
std::vector<std::byte> encode_proxy_header(
        ProxyVersion v, const core::SocketAddress& source, const core::SocketAddress& destination);

/// The longest v1 header (the spec's 107 bytes, CRLF included).
inline constexpr std::size_t kProxyV1MaxBytes = 107;
/// The longest v2 header ringlbd accepts: 16 fixed bytes + addresses + TLVs up to this.
inline constexpr std::size_t kProxyV2MaxBytes = 16 + 2048;

struct ProxyHeader {
    std::size_t length = 0;  // bytes the header took; payload starts after them
    /// The carried addresses; none for v1 UNKNOWN, v2 LOCAL or an unspecified family (then
    /// the connection's own addresses stand).
    std::optional<core::SocketAddress> source;
    std::optional<core::SocketAddress> destination;
};

struct ProxyParse {
    enum class Status { kIncomplete, kDone, kInvalid } status = Status::kIncomplete;
    ProxyHeader header;  // kDone
    std::string error;   // kInvalid: what is wrong, for the log
};

/// Parses the start of a connection's bytes. kIncomplete: call again with more bytes (the
/// caller stops reading past the maximum size, since kInvalid comes first). Never reads past
/// `data`; the header may arrive split anywhere.
ProxyParse parse_proxy_header(std::span<const std::byte> data);

}  // namespace ringlb::daemon
