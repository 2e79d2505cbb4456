// SPDX-License-Identifier: MIT
// AdminServer: socket set-up, the accept loop, peer credentials, line framing.
#include "daemon/admin/server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "daemon/admin/commands.hpp"
#include "daemon/log.hpp"

namespace ringlb::daemon {
namespace {

constexpr std::size_t kMaxRequestBytes = 64 * 1024;
constexpr int kClientTimeoutMs = 10'000;  // a silent client cannot hold the admin thread

std::string errno_text(int err) {
    return std::strerror(err);
}

bool make_address(const std::string& path, sockaddr_un& addr) {
    addr = {};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        return false;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return true;
}

// True if a daemon answers on `path` (then it is not ours to replace).
bool someone_listens(const sockaddr_un& addr) {
    core::UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    return probe
            && ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
}

bool write_all(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
        const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return false;
        }
        off += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

core::Result<core::UniqueFd, std::string> AdminServer::bind_socket(const std::string& path) {
    sockaddr_un addr;
    if (!make_address(path, addr)) {
        return core::Unexpected("admin socket " + path + ": path too long");
    }
    const std::string dir = path.substr(0, path.rfind('/'));
    if (!dir.empty() && ::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        return core::Unexpected(
                "admin socket " + path + ": cannot create " + dir + ": " + errno_text(errno));
    }
    if (someone_listens(addr)) {
        return core::Unexpected("admin socket " + path + ": another ringlbd is listening there");
    }
    (void)::unlink(path.c_str());  // a stale socket from a daemon that died
    core::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return core::Unexpected("admin socket: " + errno_text(errno));
    }
    // The socket file gets its mode at bind(): 0600 from the start, no window for others.
    const mode_t old_mask = ::umask(0177);
    const int bound = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int bind_errno = errno;
    ::umask(old_mask);
    if (bound != 0 || ::listen(fd.get(), 16) != 0) {
        return core::Unexpected(
                "admin socket " + path + ": " + errno_text(bound != 0 ? bind_errno : errno));
    }
    return fd;
}

AdminServer::AdminServer(std::string path, core::UniqueFd listener, Control& control)
        : path_(std::move(path))
        , listener_(std::move(listener))
        , stop_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
        , control_(control)
        , thread_([this] { run(); }) {
    LOG_INFO("admin socket on %s", path_.c_str());
}

AdminServer::~AdminServer() {
    const std::uint64_t one = 1;
    ssize_t n = ::write(stop_.get(), &one, sizeof one);
    (void)n;
    thread_.join();
    (void)::unlink(path_.c_str());
}

void AdminServer::run() {
    for (;;) {
        pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            continue;  // EINTR
        }
        if (fds[1].revents != 0) {
            return;
        }
        core::UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (client) {
            serve(client.get());
        }
    }
}

void AdminServer::serve(int fd) {
    ucred peer{};
    socklen_t len = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0
        || (peer.uid != 0 && peer.uid != ::geteuid())) {
        LOG_WARN("admin socket: refused a client with uid %u", static_cast<unsigned>(peer.uid));
        (void)write_all(
                fd,
                error_reply(
                        "permission denied: only root or the daemon's user may use the admin socket")
                        + "\n");
        return;
    }
    std::string buffer;
    char chunk[4096];
    for (;;) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, kClientTimeoutMs) <= 0) {
            return;  // idle client: hang up
        }
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) {
            return;
        }
        buffer.append(chunk, static_cast<std::size_t>(n));
        std::size_t newline;
        while ((newline = buffer.find('\n')) != std::string::npos) {
            const std::string line = buffer.substr(0, newline);
            buffer.erase(0, newline + 1);
            if (!write_all(fd, handle_admin_request(line, control_) + "\n")) {
                return;
            }
        }
        if (buffer.size() > kMaxRequestBytes) {
            (void)write_all(
                    fd, error_reply("request too long (limit 65536 bytes per line)") + "\n");
            return;
        }
    }
}

}  // namespace ringlb::daemon
