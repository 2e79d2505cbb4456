// SPDX-License-Identifier: MIT
// AdminServer: the admin Unix socket. One thread (control plane, never on the connection
// path) accepts, checks the peer with SO_PEERCRED (root or the daemon's own user), and answers
// one JSON reply line per JSON request line (admin/commands.hpp).
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace ringlb::daemon {

class Control;

class AdminServer {
public:
    /// Creates the listening socket at `path` (mode 0600; its directory 0755 if missing; a
    /// stale socket left by a dead daemon is replaced, a live one is an error). main binds it
    /// before any listener, so a duplicate start fails before it takes a single connection.
    static core::Result<core::UniqueFd, std::string> bind_socket(const std::string& path);

    /// Serves `listener` (from bind_socket) on its own thread.
    AdminServer(std::string path, core::UniqueFd listener, Control& control);
    /// Stops serving and removes the socket file.
    ~AdminServer();
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

private:
    void run();
    void serve(int fd);

    const std::string path_;
    core::UniqueFd listener_;
    core::UniqueFd stop_;  // eventfd: written by the destructor
    Control& control_;
    std::thread thread_;
};

}  // namespace ringlb::daemon
