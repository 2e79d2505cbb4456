// SPDX-License-Identifier: MIT
// read_process_stats(): /proc/self/stat, /proc/self/statm, /proc/self/fd, /proc/stat.
#include "daemon/metrics/process_stats.hpp"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace ringlb::daemon {
namespace {

double boot_time_seconds() {
    std::ifstream in("/proc/stat");
    std::string key;
    while (in >> key) {
        if (key == "btime") {
            double t = 0;
            in >> t;
            return t;
        }
    }
    return 0;
}

double count_open_fds() {
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) {
        return 0;
    }
    double n = 0;
    while (const dirent* e = ::readdir(dir)) {
        n += e->d_name[0] != '.' ? 1 : 0;
    }
    ::closedir(dir);
    return n - 1;  // the directory stream's own descriptor
}

}  // namespace

ProcessStats read_process_stats() {
    ProcessStats s;
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    std::ifstream stat("/proc/self/stat");
    std::string line;
    std::getline(stat, line);
    // Field 2 (comm) may hold spaces: parse from after its closing parenthesis (field 3 on).
    const auto close = line.rfind(')');
    if (close != std::string::npos) {
        std::istringstream fields(line.substr(close + 2));
        std::string f;
        double utime = 0;
        double stime = 0;
        double start = 0;
        for (int i = 3; fields >> f; ++i) {
            if (i == 14) {
                utime = std::stod(f);
            } else if (i == 15) {
                stime = std::stod(f);
            } else if (i == 22) {
                start = std::stod(f);
                break;
            }
        }
        s.cpu_seconds = (utime + stime) / ticks;
        s.start_time_seconds = boot_time_seconds() + start / ticks;
    }
    std::ifstream statm("/proc/self/statm");
    double size = 0;
    double resident = 0;
    statm >> size >> resident;
    s.resident_bytes = resident * static_cast<double>(::sysconf(_SC_PAGESIZE));
    s.open_fds = count_open_fds();
    return s;
}

}  // namespace ringlb::daemon
