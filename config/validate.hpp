// SPDX-License-Identifier: MIT
// Cross-field checks on a parsed Config: names unique, references resolve, pools not empty.
#pragma once

#include "config/config.hpp"
#include "config/load.hpp"

namespace ringlb::config {

/// Appends one error per problem found in `cfg` to `errors`, each with its JSON path.
void validate(const Config& cfg, ConfigErrors& errors);

}  // namespace ringlb::config
