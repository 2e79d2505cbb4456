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

/// \pre the caller counted this session in `listener->active`; the session uncounts it.
core::Task<void> proxy_session(core::UniqueFd client, std::shared_ptr<ListenerState> listener);

}  // namespace ringlb::daemon
