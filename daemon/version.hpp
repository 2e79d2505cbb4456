// SPDX-License-Identifier: MIT
// The version string, from meson.build's project version (-DRINGLB_VERSION).
#pragma once

#ifndef RINGLB_VERSION
#    define RINGLB_VERSION "unknown"
#endif

namespace ringlb::daemon {
inline constexpr const char* kVersion = RINGLB_VERSION;
}  // namespace ringlb::daemon
