// SPDX-License-Identifier: MIT
// ringlbctl: send one request to ringlbd's admin socket and print the reply.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "core/unique_fd.hpp"
#include "daemon/ctl/options.hpp"
#include "daemon/ctl/render.hpp"

namespace {

using namespace ringlb;

// Connects, sends `request` and a newline, and reads the reply line. The error explains.
bool exchange(
        const std::string& path,
        const std::string& request,
        std::string& reply,
        std::string& error) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        error = path + ": path too long";
        return false;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    core::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd || ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        error = "cannot connect to " + path + ": " + std::strerror(errno)
                + " (is ringlbd running? --socket names another socket)";
        return false;
    }
    const timeval timeout{30, 0};  // a reload may take a moment; a hang may not
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    const std::string line = request + "\n";
    // A send that fails is not the end: a daemon that refuses us (SO_PEERCRED) replies and
    // hangs up at once, and that reply is what to show.
    const bool sent = ::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL)
            == static_cast<ssize_t>(line.size());
    const int send_errno = errno;
    char chunk[4096];
    for (;;) {
        const ssize_t n = ::recv(fd.get(), chunk, sizeof chunk, 0);
        if (n <= 0) {
            error = sent ? "no reply from ringlbd on " + path
                         : "cannot send to " + path + ": " + std::strerror(send_errno);
            return false;
        }
        reply.append(chunk, static_cast<std::size_t>(n));
        if (const auto nl = reply.find('\n'); nl != std::string::npos) {
            reply.resize(nl);
            return true;
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    const ctl::CtlParse parsed = ctl::parse_ctl_options(argc, argv);
    if (!parsed.options) {
        return parsed.exit_code;
    }
    const ctl::CtlOptions& opts = *parsed.options;
    std::string reply;
    std::string error;
    if (!exchange(opts.socket, opts.request, reply, error)) {
        std::fprintf(stderr, "ringlbctl: %s\n", error.c_str());
        return ctl::kExitCannotConnect;
    }
    const nlohmann::json r = nlohmann::json::parse(reply, nullptr, false);
    const bool ok = !r.is_discarded() && r.value("ok", false);
    if (!ok) {
        const std::string why =
                !r.is_discarded() && r.contains("error") ? r["error"].get<std::string>() : reply;
        if (opts.json) {
            std::printf("%s\n", reply.c_str());
        }
        std::fprintf(stderr, "ringlbctl: %s\n", why.c_str());
        return ctl::kExitRefused;
    }
    if (opts.json) {
        std::printf("%s\n", r.dump(2).c_str());
    } else {
        std::fputs(ctl::render_reply(opts.command, reply).c_str(), stdout);
    }
    return ctl::kExitOk;
}
