// SPDX-License-Identifier: MIT
// load_file() and ConfigError's text; parse() itself lives in json.cpp.
#include "config/load.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ringlb::config {

std::string ConfigError::to_string() const {
    return path.empty() ? message : path + ": " + message;
}

core::Result<Config, ConfigErrors> load_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return core::Unexpected(
                ConfigErrors{{"", "cannot read " + path + ": " + std::strerror(errno)}});
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse(text.str());
}

}  // namespace ringlb::config
