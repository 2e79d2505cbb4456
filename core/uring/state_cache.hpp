// SPDX-License-Identifier: MIT
// StateCache<State>: a per-thread cache of recycled operation states (OpState, TimerState), so
// that starting an operation or arming a timer allocates nothing once the thread has warmed
// up. States are the runtime's kernel-visible memory: this is one of the few places that own
// raw allocations. A state is given back to the cache of the thread that releases it last.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace ringlb::core::detail {

template <class State>
class StateCache {
public:
    static constexpr std::size_t kMaxCached = 4096;

    StateCache() { free_.reserve(256); }
    StateCache(const StateCache&) = delete;
    StateCache& operator=(const StateCache&) = delete;
    ~StateCache() {
        for (State* s : free_) {
            delete s;
        }
    }

    State* take() {
        if (free_.empty()) {
            return new State();
        }
        State* s = free_.back();
        free_.pop_back();
        return s;
    }
    void give(State* s) noexcept {
        if (free_.size() < kMaxCached) {
            try {
                free_.push_back(s);  // grows only up to kMaxCached
                return;
            } catch (const std::bad_alloc&) {
                // No memory to cache it: free it instead.
            }
        }
        delete s;
    }

private:
    std::vector<State*> free_;
};

}  // namespace ringlb::core::detail
