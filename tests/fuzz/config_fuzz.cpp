// SPDX-License-Identifier: MIT
// libFuzzer target for config::parse(): any bytes as a config document. It must return a
// Config or located errors (never throw, crash or leak), and a Config it returns must hold
// what validation promises. Built and run by tests/fuzz/run.sh.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "config/load.hpp"

// Hermetic name resolution. config/resolve.cpp hands every non-numeric "host:port" to
// getaddrinfo, and nsswitch then asks DNS: with a live or black-holed resolver each such input
// would send queries off the machine or block for seconds. These definitions replace glibc's
// (and ASan's interceptor) in this binary only: "localhost" is 127.0.0.1, IPv4 in any form
// inet_aton takes ("127.1", "0x7f.1") is that address, as glibc answers without DNS; every
// other name is unknown.
extern "C" int
getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
    (void)hints;
    *res = nullptr;
    in_addr ip{};
    if (node == nullptr || service == nullptr) {
        return EAI_NONAME;
    }
    if (std::strcmp(node, "localhost") == 0) {
        ip.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_aton(node, &ip) == 0) {
        return EAI_NONAME;
    }
    char* end = nullptr;
    const unsigned long port = std::strtoul(service, &end, 10);
    if (*service == '\0' || *end != '\0' || port > 65535) {
        return EAI_SERVICE;
    }
    // One block, as glibc allocates it: the addrinfo, then its sockaddr.
    auto* block =
            static_cast<unsigned char*>(std::calloc(1, sizeof(addrinfo) + sizeof(sockaddr_in)));
    if (block == nullptr) {
        return EAI_MEMORY;
    }
    auto* ai = reinterpret_cast<addrinfo*>(block);
    auto* sin = reinterpret_cast<sockaddr_in*>(block + sizeof(addrinfo));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<std::uint16_t>(port));
    sin->sin_addr = ip;
    ai->ai_family = AF_INET;
    ai->ai_socktype = SOCK_STREAM;
    ai->ai_protocol = IPPROTO_TCP;
    ai->ai_addrlen = sizeof(sockaddr_in);
    ai->ai_addr = reinterpret_cast<sockaddr*>(sin);
    *res = ai;
    return 0;
}

extern "C" void freeaddrinfo(addrinfo* ai) noexcept {
    while (ai != nullptr) {
        addrinfo* next = ai->ai_next;
        std::free(ai);
        ai = next;
    }
}

namespace {

using namespace ringlb::config;

[[noreturn]] void violated(const char* what, const std::string& detail) {
    std::fprintf(stderr, "config_fuzz: invariant violated: %s: %s\n", what, detail.c_str());
    std::abort();
}

void check_config(const Config& cfg) {
    if (cfg.listeners.empty()) {
        violated("a valid config has at least one listener", "");
    }
    for (const Listener& l : cfg.listeners) {
        if (l.pool.has_value() == l.service.has_value()) {
            violated("a listener has exactly one of pool and service", l.name);
        }
        if (l.address.length() == 0) {
            violated("a listener's address is resolved", l.name + " " + l.listen);
        }
        if (l.pool && cfg.find_pool(*l.pool) == nullptr) {
            violated("a listener's pool exists", l.name + " -> \"" + *l.pool + "\"");
        }
        if (l.proxy_protocol.accept && l.proxy_protocol.trusted.empty()) {
            violated("proxy_protocol.accept comes with trusted peers", l.name);
        }
    }
    for (const Pool& p : cfg.pools) {
        if (p.backends.empty()) {
            violated("a pool has at least one backend", p.name);
        }
        for (const Backend& b : p.backends) {
            if (b.resolved.length() == 0) {
                violated("a backend's address is resolved", p.name + "/" + b.address);
            }
            if (b.weight < 1 || b.weight > 1000) {
                violated("a backend's weight is 1..1000", p.name + "/" + b.address);
            }
        }
        if (p.health_check && p.health_check->timeout_ms > p.health_check->interval_ms) {
            violated("health_check.timeout_ms <= interval_ms", p.name);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto result = parse(text);
    if (result) {
        check_config(*result);
        return 0;
    }
    if (result.error().empty()) {
        violated("a rejected config names at least one error", "");
    }
    for (const ConfigError& e : result.error()) {
        if (e.message.empty()) {
            violated("every error has a message", e.path);
        }
    }
    return 0;
}
