// SPDX-License-Identifier: MIT
// The standard process_* metrics, read from /proc/self (prometheus-cpp has no collector for
// them): CPU seconds, resident memory, open descriptors, start time.
#pragma once

namespace ringlb::daemon {

struct ProcessStats {
    double cpu_seconds = 0;
    double resident_bytes = 0;
    double open_fds = 0;
    double start_time_seconds = 0;  // since the epoch
};

ProcessStats read_process_stats();

}  // namespace ringlb::daemon
