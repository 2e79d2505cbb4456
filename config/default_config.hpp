// SPDX-License-Identifier: MIT
// The embedded default configuration: a proxy on 127.0.0.1:7000 in front of the built-in
// echo service on 127.0.0.1:7001, metrics on 127.0.0.1:9810.
#pragma once

#include <string_view>

namespace ringlb::config {

/// The default configuration's JSON text (it parses without error; a test checks it).
std::string_view default_config_json() noexcept;

}  // namespace ringlb::config
