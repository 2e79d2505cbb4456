// SPDX-License-Identifier: MIT
// read_process_stats(): /proc/self/stat, /proc/self/statm, /proc/self/fd, /proc/stat.
#include "daemon/metrics/process_stats.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sstream>
#include <string>

namespace ringlb::daemon {
namespace {

// The text of a small /proc file, read with raw system calls (see count_open_fds()).
std::string read_proc(const char* path) {
    std::string text;
    const long fd = ::syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return text;
    }
    char buf[4096];
    for (;;) {
        const long got = ::syscall(SYS_read, fd, buf, sizeof buf);
        if (got <= 0) {
            break;
        }
        text.append(buf, static_cast<std::size_t>(got));
    }
    ::syscall(SYS_close, fd);
    return text;
}

double boot_time_seconds() {
    std::istringstream in(read_proc("/proc/stat"));
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
    // Raw system calls, not opendir(): ringlbd closes sockets through io_uring, which
    // ThreadSanitizer cannot see, so to it a descriptor number reused by opendir() on the
    // scrape thread looks like a race with the worker that once created it.
    const long dir =
            ::syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        return 0;
    }
    double n = 0;
    alignas(8) char buf[4096];
    for (;;) {
        const long got = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
        if (got <= 0) {
            break;
        }
        for (long off = 0; off < got;) {
            const auto* e = reinterpret_cast<const dirent64*>(buf + off);
            n += e->d_name[0] != '.' ? 1 : 0;
            off += e->d_reclen;
        }
    }
    ::syscall(SYS_close, dir);
    return n - 1;  // the directory's own descriptor
}

}  // namespace

ProcessStats read_process_stats() {
    ProcessStats s;
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    std::istringstream stat(read_proc("/proc/self/stat"));
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
    std::istringstream statm(read_proc("/proc/self/statm"));
    double size = 0;
    double resident = 0;
    statm >> size >> resident;
    s.resident_bytes = resident * static_cast<double>(::sysconf(_SC_PAGESIZE));
    s.open_fds = count_open_fds();
    return s;
}

}  // namespace ringlb::daemon
