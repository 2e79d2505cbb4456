// SPDX-License-Identifier: MIT
// A waker target for tests: counts its wake-ups and its live references, so a test can say
// who was woken, how often, and that every reference was let go.
#pragma once

#include <atomic>

#include "core/waker.hpp"

namespace ringlb::test {

struct CountingTarget {
    std::atomic<int> wakes{0};
    std::atomic<int> refs{0};
};

inline const core::WakerVTable kCountingVTable{
        [](void* d) noexcept { static_cast<CountingTarget*>(d)->wakes.fetch_add(1); },
        [](void* d) noexcept { static_cast<CountingTarget*>(d)->refs.fetch_add(1); },
        [](void* d) noexcept { static_cast<CountingTarget*>(d)->refs.fetch_sub(1); },
};

/// A Waker holding one reference to `t`.
inline core::Waker waker_for(CountingTarget& t) {
    t.refs.fetch_add(1);
    return core::Waker(&kCountingVTable, &t);
}

}  // namespace ringlb::test
