// SPDX-License-Identifier: MIT
// The PROXY protocol on a live connection: read_proxy_header() reads and parses a client's
// header (bounded, with a deadline), write_proxy_header() sends one to a backend.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/buffer.hpp"
#include "core/io_result.hpp"
#include "core/net/address.hpp"
#include "core/task.hpp"
#include "daemon/proxy_protocol.hpp"

namespace ringlb::daemon {

struct ReceivedProxyHeader {
    std::string error;      // non-empty: reject the connection (the text says why)
    ProxyHeader header;     // addresses carried, if any
    core::Buffer leftover;  // payload bytes read past the header, to forward first
    std::size_t leftover_bytes = 0;
};

/// Reads until a complete header, an invalid one, the size limit, EOF, or `timeout` (a client
/// that never finishes its header is closed at the connect timeout). Never reads more than
/// the maximum header size; what follows the header in that read is returned as leftover.
core::Task<ReceivedProxyHeader> read_proxy_header(int fd, std::chrono::milliseconds timeout);

/// Sends a v1/v2 header for `source` -> `destination`. The result is the send's.
core::Task<core::IoResult> write_proxy_header(
        int fd,
        ProxyVersion v,
        const core::SocketAddress& source,
        const core::SocketAddress& destination);

}  // namespace ringlb::daemon
