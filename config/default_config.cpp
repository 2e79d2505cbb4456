// SPDX-License-Identifier: MIT
// The embedded default configuration's text.
#include "config/default_config.hpp"

namespace ringlb::config {

std::string_view default_config_json() noexcept {
    return R"json({
  "runtime":   { "workers": 0 },
  "metrics":   { "listen": "127.0.0.1:9810" },
  "log":       { "level": "info" },
  "listeners": [
    { "name": "demo", "listen": "127.0.0.1:7000", "pool": "echo",
      "timeouts": { "connect_ms": 3000, "idle_ms": 300000 } },
    { "name": "echo", "listen": "127.0.0.1:7001", "service": "echo" }
  ],
  "pools": [
    { "name": "echo", "balance": "round_robin",
      "backends": [ { "address": "127.0.0.1:7001", "weight": 1 } ] }
  ]
})json";
}

}  // namespace ringlb::config
