// SPDX-License-Identifier: MIT
// ProcessStatsReader: the figures match what the process holds, also out of descriptors and
// with a process name that looks like /proc/self/stat's own syntax.
#include "daemon/metrics/process_stats.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <vector>

#include <gtest/gtest.h>

#include "core/unique_fd.hpp"

namespace ringlb::daemon {
namespace {

double listed_fds() {
    double n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n - 1;  // the iterator's own descriptor
}

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
            .count();
}

TEST(ProcessStats, FiguresMatchTheProcess) {
    const ProcessStatsReader reader;
    const ProcessStats before = reader.read();
    EXPECT_EQ(before.open_fds, listed_fds());
    EXPECT_GT(before.resident_bytes, 1 << 20);  // a gtest binary is more than a MiB
    EXPECT_LT(before.resident_bytes, 1 << 30);  // (statm's first field, the size, is larger)
    EXPECT_GT(before.start_time_seconds, now_seconds() - 600);
    EXPECT_LE(before.start_time_seconds, now_seconds() + 1);

    std::vector<core::UniqueFd> held;
    for (int i = 0; i < 10; ++i) {
        held.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
    // CPU time moves in clock ticks (10 ms): burn until it does, bounded.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    ProcessStats after = reader.read();
    for (volatile unsigned spin = 0;
         after.cpu_seconds <= before.cpu_seconds && std::chrono::steady_clock::now() < give_up;) {
        for (int i = 0; i < 1'000'000; ++i) {
            spin = spin + 1;
        }
        after = reader.read();
    }
    EXPECT_EQ(after.open_fds, before.open_fds + 10);
    EXPECT_GT(after.cpu_seconds, before.cpu_seconds);
    EXPECT_EQ(after.start_time_seconds, before.start_time_seconds);
}

TEST(ProcessStats, OutOfDescriptorsStillReportsThem) {
    const ProcessStatsReader reader;
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
    const double open_before = reader.read().open_fds;
    rlimit low = old;
    low.rlim_cur = static_cast<rlim_t>(open_before) + 40;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    std::vector<core::UniqueFd> held;
    for (core::UniqueFd fd; (fd = core::UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)));) {
        held.push_back(std::move(fd));
    }
    const int err = errno;
    const ProcessStats s = reader.read();
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
    EXPECT_EQ(err, EMFILE);
    EXPECT_EQ(s.open_fds, open_before + static_cast<double>(held.size()));
    EXPECT_GT(s.resident_bytes, 1 << 20);
    EXPECT_GT(s.start_time_seconds, 0);
}

TEST(ProcessStats, ANameWithSpacesAndParenthesesIsSkipped) {
    char name[16] = {};
    ASSERT_EQ(::prctl(PR_GET_NAME, name), 0);
    const ProcessStatsReader plain;
    ASSERT_EQ(::prctl(PR_SET_NAME, "a) 1 2 (b) 3"), 0);
    const ProcessStatsReader reader;
    const ProcessStats s = reader.read();
    ASSERT_EQ(::prctl(PR_SET_NAME, name), 0);
    // The start time is field 22: read one field off, it would be another number.
    EXPECT_NEAR(s.start_time_seconds, plain.read().start_time_seconds, 0.01);
    EXPECT_GT(s.resident_bytes, 1 << 20);
}

}  // namespace
}  // namespace ringlb::daemon
