// SPDX-License-Identifier: MIT
// libFuzzer target for parse_proxy_header(): any bytes as the start of a connection. Besides
// memory safety it checks the contract the incremental reader (daemon/proxy_header_io.cpp)
// relies on, and encode -> parse round trips for addresses taken from the input. Built and
// run by tests/fuzz/run.sh.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "core/net/address.hpp"
#include "daemon/proxy_protocol.hpp"

namespace {

using ringlb::core::SocketAddress;
using ringlb::daemon::encode_proxy_header;
using ringlb::daemon::parse_proxy_header;
using ringlb::daemon::ProxyParse;
using ringlb::daemon::ProxyVersion;
using Status = ProxyParse::Status;

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

[[noreturn]] void violated(const char* what, std::size_t prefix, const ProxyParse& got) {
    std::fprintf(
            stderr,
            "proxy_protocol_fuzz: invariant violated: %s (first %zu bytes: %s, length %zu%s%s)\n",
            what,
            prefix,
            name(got.status),
            got.header.length,
            got.error.empty() ? "" : ", error: ",
            got.error.c_str());
    std::abort();
}

/// Parses the first `n` bytes of `data` from a heap block of exactly `n` bytes, so ASan
/// reports a read past the bytes that have "arrived".
ProxyParse parse_exact(const std::byte* data, std::size_t n) {
    const std::unique_ptr<std::byte[]> block(new std::byte[n]);
    std::copy_n(data, n, block.get());
    return parse_proxy_header({block.get(), n});
}

/// What holds for every single result on `n` bytes.
void check_result(const ProxyParse& p, std::size_t n) {
    if (p.status == Status::kInvalid && p.error.empty()) {
        violated("kInvalid carries an error", n, p);
    }
    if (p.status != Status::kDone) {
        return;
    }
    if (p.header.length == 0 || p.header.length > n) {
        violated("kDone: 0 < header.length <= input size", n, p);
    }
    const auto& src = p.header.source;
    const auto& dst = p.header.destination;
    if (src.has_value() != dst.has_value()) {
        violated("kDone: source and destination come together", n, p);
    }
    if (src
        && (src->family() != dst->family()
            || (src->family() != AF_INET && src->family() != AF_INET6))) {
        violated("kDone: both addresses are IPv4 or both IPv6", n, p);
    }
}

bool same_header(const ProxyParse& a, const ProxyParse& b) {
    return a.header.length == b.header.length && a.header.source == b.header.source
            && a.header.destination == b.header.destination;
}

/// The reader calls the parser with every longer prefix of the connection's bytes until the
/// verdict is not kIncomplete, so the verdict must not depend on where the bytes were split:
/// kIncomplete up to one prefix, then one verdict (and for kDone one header) for every longer
/// prefix. kDone must come with the header's last byte: a client that waits for the server
/// to speak first sends nothing more.
void check_stream(const std::byte* data, std::size_t n) {
    const ProxyParse full = parse_exact(data, n);
    check_result(full, n);
    std::size_t k = 0;
    ProxyParse first;
    for (; k < n; ++k) {
        first = parse_exact(data, k);
        check_result(first, k);
        if (first.status != Status::kIncomplete) {
            break;
        }
    }
    if (k == n) {
        return;  // every proper prefix was kIncomplete: any verdict on all n bytes is fine
    }
    if (first.status == Status::kDone && first.header.length != k) {
        violated("kDone as soon as the header's last byte has arrived", k, first);
    }
    for (const std::size_t m : {k + 1, k + (n - k) / 2, n}) {
        if (m <= k || m > n) {
            continue;
        }
        const ProxyParse later = m == n ? full : parse_exact(data, m);
        const bool same = later.status == first.status
                && (first.status != Status::kDone || same_header(first, later));
        if (!same) {
            std::fprintf(
                    stderr,
                    "proxy_protocol_fuzz: the first %zu bytes gave %s (length %zu%s%s)\n",
                    k,
                    name(first.status),
                    first.header.length,
                    first.error.empty() ? "" : ", error: ",
                    first.error.c_str());
            violated("a longer prefix keeps the verdict and the header", m, later);
        }
    }
}

/// An address of `family` (AF_UNSPEC: none) from the bytes at `ip` and `port` (network order).
SocketAddress address_from(int family, const std::uint8_t* ip, const std::uint8_t* port) {
    if (family == AF_INET) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        std::memcpy(&sin.sin_addr, ip, 4);
        std::memcpy(&sin.sin_port, port, 2);
        return SocketAddress::from(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
    }
    if (family == AF_INET6) {
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        std::memcpy(&sin6.sin6_addr, ip, 16);
        std::memcpy(&sin6.sin6_port, port, 2);
        return SocketAddress::from(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
    }
    return SocketAddress{};
}

/// parse(encode(src, dst) + payload) gives back src and dst (or none when the families
/// differ), for both versions. Layout of the input: 1 byte of families, 16 + 16 bytes of IPs,
/// 2 + 2 of ports (zero-filled when short), then the payload.
void check_round_trip(const std::uint8_t* data, std::size_t size) {
    std::uint8_t fixed[37] = {};
    std::memcpy(fixed, data, std::min(size, sizeof fixed));
    const auto family = [](unsigned bits) {
        return bits == 0 ? AF_INET : bits == 1 ? AF_INET6 : AF_UNSPEC;
    };
    const int src_family = family(fixed[0] & 3);
    const int dst_family = family((fixed[0] >> 2) & 3);
    const SocketAddress src = address_from(src_family, fixed + 1, fixed + 33);
    const SocketAddress dst = address_from(dst_family, fixed + 17, fixed + 35);
    const bool carried = src_family == dst_family && src_family != AF_UNSPEC;
    const std::size_t payload = size > sizeof fixed ? size - sizeof fixed : 0;
    for (const ProxyVersion v : {ProxyVersion::kV1, ProxyVersion::kV2}) {
        std::vector<std::byte> stream = encode_proxy_header(v, src, dst);
        const std::size_t header = stream.size();
        const auto* rest = reinterpret_cast<const std::byte*>(data + sizeof fixed);
        stream.insert(stream.end(), rest, rest + payload);
        const ProxyParse p = parse_exact(stream.data(), stream.size());
        if (p.status != Status::kDone || p.header.length != header) {
            violated("parse(encode(...)) is kDone with the encoded length", stream.size(), p);
        }
        if (carried ? !(p.header.source == src && p.header.destination == dst)
                    : (p.header.source || p.header.destination)) {
            violated("parse(encode(src, dst)) gives back src and dst", stream.size(), p);
        }
        check_stream(stream.data(), stream.size());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    check_stream(reinterpret_cast<const std::byte*>(data), size);
    check_round_trip(data, size);
    return 0;
}
