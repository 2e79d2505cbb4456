// SPDX-License-Identifier: MIT
// ProcessStatsReader: /proc/self/stat, /proc/self/statm, /proc/self/fd.
//
// Every descriptor here is opened, read and closed with raw system calls: ringlbd closes
// sockets through io_uring, which ThreadSanitizer cannot see, so to it a descriptor number
// reused by an intercepted open() on the scrape thread looks like a race with the worker that
// once created it. /proc files are re-read with pread() at offset 0 (and a directory after a
// seek to 0), which regenerates their text.
#include "daemon/metrics/process_stats.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string_view>

namespace ringlb::daemon {
namespace {

int open_proc(const char* path, int flags = 0) {
    return static_cast<int>(::syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | flags));
}

// The text of a /proc file from its start, cut to `buf`'s size; empty on any error. One read:
// these files come whole in it, and a second would generate the text again.
std::string_view reread(int fd, char* buf, std::size_t size) {
    const long got = fd < 0 ? -1 : ::syscall(SYS_pread64, fd, buf, size, 0L);
    return {buf, got > 0 ? static_cast<std::size_t>(got) : 0};
}

// The next whitespace-separated field of `text`, removed from it.
std::string_view next_field(std::string_view& text) {
    const auto begin = text.find_first_not_of(" \n");
    if (begin == std::string_view::npos) {
        text = {};
        return {};
    }
    text.remove_prefix(begin);
    const auto end = std::min(text.find_first_of(" \n"), text.size());
    const std::string_view field = text.substr(0, end);
    text.remove_prefix(end);
    return field;
}

std::uint64_t to_number(std::string_view field) {
    std::uint64_t n = 0;
    std::from_chars(field.data(), field.data() + field.size(), n);  // 0 unless a number
    return n;
}

struct StatFields {
    std::uint64_t utime_ticks = 0;
    std::uint64_t stime_ticks = 0;
    std::uint64_t start_ticks = 0;  // since boot
};

StatFields read_stat(int fd) {
    char buf[1024];
    std::string_view text = reread(fd, buf, sizeof buf);
    StatFields s;
    // Field 2 (comm) may hold spaces and parentheses: fields 3 on follow its last ')'.
    const auto close = text.rfind(')');
    if (close == std::string_view::npos) {
        return s;
    }
    text.remove_prefix(close + 1);
    for (int i = 3; i <= 22; ++i) {
        const std::string_view field = next_field(text);
        if (i == 14) {
            s.utime_ticks = to_number(field);
        } else if (i == 15) {
            s.stime_ticks = to_number(field);
        } else if (i == 22) {
            s.start_ticks = to_number(field);
        }
    }
    return s;
}

// When the machine booted, on the realtime clock: what /proc/stat's btime says, without its
// text (which grows with the CPUs and interrupts of the host).
double boot_time_seconds() {
    timespec real{};
    timespec boot{};
    ::clock_gettime(CLOCK_REALTIME, &real);
    ::clock_gettime(CLOCK_BOOTTIME, &boot);
    return static_cast<double>(real.tv_sec - boot.tv_sec)
            + static_cast<double>(real.tv_nsec - boot.tv_nsec) / 1e9;
}

double clock_ticks_per_second() {
    return static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

ProcessStatsReader::ProcessStatsReader()
        : stat_(open_proc("/proc/self/stat"))
        , statm_(open_proc("/proc/self/statm"))
        , fd_dir_(open_proc("/proc/self/fd", O_DIRECTORY)) {
    if (stat_) {
        start_time_seconds_ = boot_time_seconds()
                + static_cast<double>(read_stat(stat_.get()).start_ticks)
                        / clock_ticks_per_second();
    }
}

ProcessStatsReader::~ProcessStatsReader() {
    for (core::UniqueFd* fd : {&stat_, &statm_, &fd_dir_}) {
        if (fd->valid()) {
            ::syscall(SYS_close, fd->release());  // raw, as opened (see the top of this file)
        }
    }
}

ProcessStats ProcessStatsReader::read() const {
    ProcessStats s;
    s.start_time_seconds = start_time_seconds_;
    if (stat_) {
        const StatFields f = read_stat(stat_.get());
        s.cpu_seconds =
                static_cast<double>(f.utime_ticks + f.stime_ticks) / clock_ticks_per_second();
    }
    char buf[256];
    std::string_view statm = reread(statm_.get(), buf, sizeof buf);
    next_field(statm);  // total program size
    s.resident_bytes = static_cast<double>(to_number(next_field(statm)))
            * static_cast<double>(::sysconf(_SC_PAGESIZE));
    if (fd_dir_) {
        const std::lock_guard lock(fd_dir_mutex_);
        ::syscall(SYS_lseek, fd_dir_.get(), 0L, SEEK_SET);
        double n = 0;
        alignas(8) char dents[4096];
        for (;;) {
            const long got = ::syscall(SYS_getdents64, fd_dir_.get(), dents, sizeof dents);
            if (got <= 0) {
                break;
            }
            for (long off = 0; off < got;) {
                const auto* e = reinterpret_cast<const dirent64*>(dents + off);
                n += e->d_name[0] != '.' ? 1 : 0;
                off += e->d_reclen;
            }
        }
        s.open_fds = n;
    }
    return s;
}

}  // namespace ringlb::daemon
