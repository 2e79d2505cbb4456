// SPDX-License-Identifier: MIT
// ProcessStatsReader: the standard process_* metrics, read from /proc/self (prometheus-cpp has
// no collector for them): CPU seconds, resident memory, open descriptors, start time.
#pragma once

#include <mutex>

#include "core/unique_fd.hpp"

namespace ringlb::daemon {

struct ProcessStats {
    double cpu_seconds = 0;
    double resident_bytes = 0;
    double open_fds = 0;
    double start_time_seconds = 0;  // since the epoch
};

// Opens its /proc files once and re-reads them on every read(): a daemon out of descriptors
// (when process_open_fds matters most) could not open them, and would report zeros.
class ProcessStatsReader {
public:
    ProcessStatsReader();
    ~ProcessStatsReader();
    ProcessStatsReader(const ProcessStatsReader&) = delete;
    ProcessStatsReader& operator=(const ProcessStatsReader&) = delete;

    /// Safe to call from several scrape threads at once. A file that could not be opened
    /// leaves its figures at 0.
    ProcessStats read() const;

private:
    core::UniqueFd stat_;    // /proc/self/stat: CPU times, start time
    core::UniqueFd statm_;   // /proc/self/statm: resident pages
    core::UniqueFd fd_dir_;  // /proc/self/fd: one entry per open descriptor
    double start_time_seconds_ = 0;
    // The directory is listed through one shared file offset: one lister at a time.
    mutable std::mutex fd_dir_mutex_;
};

}  // namespace ringlb::daemon
