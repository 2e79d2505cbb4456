// SPDX-License-Identifier: MIT
// Task<T>: a lazy, move-only coroutine that produces a T (or an exception) when awaited.
//
// Nothing runs until the task is awaited (`co_await child()`) or spawned (core/join_handle.hpp).
// A direct await uses the rendezvous protocol of STYLE.md §5.5, not bare symmetric transfer:
// the parent resumes the child inside await_suspend, then both sides exchange one flag; the
// second to arrive continues the parent. A child that completes synchronously therefore
// returns on the same stack frame, so a loop of 1,000,000 synchronous awaits does not grow the
// stack even at -O0 and under ASan, where g++ 12 does not emit the tail call that bare
// symmetric transfer needs (see jbaldwin/libcoro#273, #277).
//
// Coroutine hygiene (GCC 12): no capturing coroutine lambdas, parameters by value, one
// co_await per statement (STYLE.md §5.5).
#pragma once

#include <atomic>
#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "core/assert.hpp"

namespace ringlb::core {

template <class T>
class Task;

namespace detail {

struct PromiseBase {
    /// The awaiting parent (null for a spawned root task).
    std::coroutine_handle<> continuation;
    /// Rendezvous between the parent's await_suspend and the child's final suspend.
    std::atomic<bool> rendezvous{false};
    std::exception_ptr exception;

    struct FinalAwaiter {
        bool await_ready() const noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
            PromiseBase& p = h.promise();
            // acq_rel: pairs with the exchange in Awaiter::await_suspend. The second to arrive
            // resumes the parent; if the parent is still inside its await_suspend (we
            // finished synchronously) it simply does not suspend. A root task has no parent
            // and is always first: it stays suspended and its worker sees done().
            if (p.rendezvous.exchange(true, std::memory_order_acq_rel) && p.continuation) {
                return p.continuation;
            }
            return std::noop_coroutine();
        }
        void await_resume() const noexcept {}
    };

    std::suspend_always initial_suspend() const noexcept { return {}; }
    FinalAwaiter final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept { exception = std::current_exception(); }
};

template <class T>
struct Promise : PromiseBase {
    std::optional<T> value;

    Task<T> get_return_object() noexcept;
    template <class U>
    requires std::is_convertible_v<U&&, T>
    void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        value.emplace(std::forward<U>(v));
    }
    /// The output, or the stored exception rethrown. \pre the coroutine finished.
    T take() {
        if (exception) {
            std::rethrow_exception(exception);
        }
        RINGLB_ASSERT(value.has_value());
        return std::move(*value);
    }
};

template <>
struct Promise<void> : PromiseBase {
    Task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void take() {
        if (exception) {
            std::rethrow_exception(exception);
        }
    }
};

}  // namespace detail

/// A lazy coroutine producing `T`. Await it once, or hand it to spawn().
template <class T = void>
class [[nodiscard]] Task {
public:
    using promise_type = detail::Promise<T>;
    using Handle = std::coroutine_handle<promise_type>;
    using value_type = T;

    Task() noexcept = default;
    explicit Task(Handle h) noexcept : handle_(h) {}
    Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    ~Task() { reset(); }

    bool valid() const noexcept { return static_cast<bool>(handle_); }

    /// Gives the coroutine frame away (to a TaskHeader). The Task becomes empty.
    Handle release() noexcept { return std::exchange(handle_, nullptr); }

    struct Awaiter {
        Handle child;

        bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> parent) noexcept {
            child.promise().continuation = parent;
            child.resume();
            // acq_rel: pairs with FinalAwaiter. True means the child already finished: do not
            // suspend. False means the child is suspended (its leaf awaiter recorded the
            // suspension in the task header) and will resume us when it finishes.
            return !child.promise().rendezvous.exchange(true, std::memory_order_acq_rel);
        }
        /// Rethrows what the child's unhandled_exception() stored.
        T await_resume() { return child.promise().take(); }
    };

    /// Runs the task to completion from the awaiting coroutine. \pre valid().
    Awaiter operator co_await() && noexcept {
        RINGLB_ASSERT(valid());
        return Awaiter{handle_};
    }

private:
    void reset() noexcept {
        if (handle_) {
            handle_.destroy();
            handle_ = nullptr;
        }
    }

    Handle handle_;
};

namespace detail {

template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
    return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}

inline Task<void> Promise<void>::get_return_object() noexcept {
    return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}

}  // namespace detail

}  // namespace ringlb::core
