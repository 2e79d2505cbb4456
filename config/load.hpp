// SPDX-License-Identifier: MIT
// Loading a configuration: JSON text -> validated Config, or every error found, each naming
// the JSON path it concerns (`listeners[1].pool: no pool named "api"`).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"

namespace ringlb::config {

struct ConfigError {
    std::string path;     // e.g. "listeners[1].pool"; empty for the document as a whole
    std::string message;  // what is wrong there

    /// "path: message", or the message alone for the whole document.
    std::string to_string() const;
};

using ConfigErrors = std::vector<ConfigError>;

/// Parses and validates `json_text`. Host names in addresses are resolved here.
core::Result<Config, ConfigErrors> parse(std::string_view json_text);
/// Reads `path` and parses it.
core::Result<Config, ConfigErrors> load_file(const std::string& path);

}  // namespace ringlb::config
