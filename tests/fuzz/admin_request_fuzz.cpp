// SPDX-License-Identifier: MIT
// libFuzzer target for parse_admin_request(): any bytes as one admin request line. It must
// return a request that holds what its command needs, or an error that error_reply() turns
// into a reply; never throw, crash or leak. Only the pure parser runs: the handlers need a
// Control. Built and run by tests/fuzz/run.sh.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "daemon/admin/commands.hpp"

namespace {

using ringlb::daemon::AdminRequest;
using Command = AdminRequest::Command;

[[noreturn]] void violated(const char* what, const AdminRequest& r) {
    std::fprintf(
            stderr,
            "admin_request_fuzz: invariant violated: %s (command %d, pool \"%s\", backend \"%s\", "
            "weight %u)\n",
            what,
            static_cast<int>(r.command),
            r.pool.c_str(),
            r.backend.c_str(),
            r.weight);
    std::abort();
}

void check_request(const AdminRequest& r) {
    switch (r.command) {
        case Command::kStatus:
        case Command::kReload:
        case Command::kConfig:
            if (!r.pool.empty() || !r.backend.empty() || r.weight != 0) {
                violated("a command without arguments has none", r);
            }
            break;
        case Command::kBackends:
            if (!r.backend.empty() || r.weight != 0) {
                violated("backends takes a pool only", r);
            }
            break;
        case Command::kEnable:
        case Command::kDisable:
        case Command::kDrain:
        case Command::kWeight:
            // "POOL/ADDRESS" split at the first '/'.
            if (r.pool.empty() || r.backend.empty() || r.pool.find('/') != std::string::npos) {
                violated("a backend change names POOL/ADDRESS", r);
            }
            if ((r.command == Command::kWeight) != (r.weight != 0)) {
                violated("only weight carries a weight", r);
            }
            if (r.command == Command::kWeight && r.weight > 1000) {
                violated("weight is 1..1000", r);
            }
            break;
        default:
            violated("a known command", r);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string line(reinterpret_cast<const char*>(data), size);
    const auto request = ringlb::daemon::parse_admin_request(line);
    if (request) {
        check_request(*request);
        return 0;
    }
    // The admin server replies with exactly this; nlohmann's dump() throws on invalid UTF-8.
    const std::string reply = ringlb::daemon::error_reply(request.error());
    if (request.error().empty() || reply.empty() || reply.front() != '{') {
        std::fprintf(stderr, "admin_request_fuzz: bad error reply: %s\n", reply.c_str());
        std::abort();
    }
    return 0;
}
