// SPDX-License-Identifier: MIT
// proxy_session(): one client connection of a proxying listener: pick a backend, connect
// (with the listener's connect timeout, retrying the next backend on refusal or timeout up to
// `retries` times), then forward() until both sides are done, and close both.
#pragma once

#include <memory>

#include "core/task.hpp"
#include "core/unique_fd.hpp"

namespace ringlb::daemon {

struct ListenerState;

/// TCP_NODELAY (a relay must not add Nagle's delay to the client's own) and SO_KEEPALIVE (a
/// peer that vanishes without a FIN or RST is found eventually even with no idle timeout).
/// Set on listening sockets, whose accepted sockets inherit both (two syscalls fewer per
/// connection), and on each backend socket.
void set_relay_options(int fd) noexcept;

/// True when bytes the peer sent wait unread in `fd` (SIOCINQ); false when none, or on an error.
bool has_bytes_waiting(int fd) noexcept;

/// For a backend socket before its connect, when bytes are ready to go the moment it connects:
/// the handshake's last ACK then waits for them (TCP_QUICKACK off) and leaves in their segment,
/// one packet fewer for both sides (HAProxy's `option tcp-smart-connect`). Only then: with
/// nothing to send, a backend that speaks first would wait for the ACK's delayed-ACK timer
/// (200 ms) before its accept() returns.
void defer_handshake_ack(int fd) noexcept;

/// \pre the caller counted this session in `listener->active`; the session uncounts it.
core::Task<void> proxy_session(core::UniqueFd client, std::shared_ptr<ListenerState> listener);

}  // namespace ringlb::daemon
