// SPDX-License-Identifier: MIT
// spawn() and JoinHandle<T>: start a Task<T> as an independent task on a runtime, then await
// (from any worker), abort, or drop (detach) it.
//
// The output lives in the task's TaskCell<T> until the JoinHandle takes it; the coroutine
// frame is freed as soon as the task finishes or is cancelled, whenever the output is taken.
// An exception escaping the task reaches the joiner as JoinError::kFailed (and is counted),
// never std::terminate.
#pragma once

#include <coroutine>
#include <exception>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "core/result.hpp"
#include "core/task.hpp"
#include "core/task_header.hpp"

namespace ringlb::core {

/// Why a joined task produced no value.
struct JoinError {
    enum class Kind { kCancelled, kFailed };
    Kind kind = Kind::kCancelled;
    std::exception_ptr exception;  // set for kFailed

    bool is_cancelled() const noexcept { return kind == Kind::kCancelled; }
    bool is_failed() const noexcept { return kind == Kind::kFailed; }
};

template <class T>
using JoinResult = Result<T, JoinError>;

namespace detail {

/// The header plus the typed output slot. Allocated once per spawn.
template <class T>
class TaskCell final : public TaskHeader {
public:
    using Handle = typename Task<T>::Handle;
    struct NoOutput {};
    using Stored = std::conditional_t<std::is_void_v<T>, NoOutput, std::optional<T>>;

    /// Adopts `task`'s frame; refs = 2 (the runtime's, until finish, and the JoinHandle's).
    static TaskCell* create(Runtime* runtime, Task<T> task) {
        // The only owner of this allocation is the header's reference count (destroy()).
        auto* cell = new TaskCell(runtime, task.release());
        cell->add_ref();
        count_task_header(+1);
        return cell;
    }

    /// The output. \pre is_finished() and not yet taken.
    JoinResult<T> take() {
        if (was_cancelled()) {
            return Unexpected(JoinError{JoinError::Kind::kCancelled, nullptr});
        }
        if (exception_) {
            return Unexpected(JoinError{JoinError::Kind::kFailed, std::move(exception_)});
        }
        if constexpr (std::is_void_v<T>) {
            return {};
        } else {
            RINGLB_CHECK(output_.has_value(), "JoinHandle output taken twice");
            JoinResult<T> r(std::move(*output_));
            output_.reset();
            return r;
        }
    }

private:
    TaskCell(Runtime* runtime, Handle h) noexcept : TaskHeader(&kVTable, runtime, h) {}

    static void complete(TaskHeader* self) noexcept {
        auto* cell = static_cast<TaskCell*>(self);
        auto h = Handle::from_address(cell->root().address());
        auto& p = h.promise();
        if (p.exception) {
            cell->exception_ = std::move(p.exception);
            count_task_failure(cell->runtime());
        } else if constexpr (!std::is_void_v<T>) {
            cell->output_.emplace(std::move(*p.value));
        }
        h.destroy();
        cell->forget_root();
    }
    static void destroy(TaskHeader* self) noexcept { delete static_cast<TaskCell*>(self); }

    static constexpr TaskHeader::VTable kVTable{&TaskCell::complete, &TaskCell::destroy};

    // Written by the finishing worker before finished_ is released; read by the joiner after.
    // Takes no room for a void task: a detached session's cell is 104 bytes, not 112.
    [[no_unique_address]] Stored output_{};
    std::exception_ptr exception_;
};

/// Hands a new SCHEDULED task to `runtime` (defined in runtime.cpp). Any thread.
void submit_new_task(Runtime* runtime, TaskHeader* task) noexcept;
/// The runtime of the worker this thread is, or nullptr.
Runtime* current_runtime() noexcept;

}  // namespace detail

/// Owns one reference to a spawned task. co_await it (once) for the output; abort() to
/// cancel; dropping it detaches the task, which runs on.
template <class T>
class [[nodiscard]] JoinHandle {
public:
    JoinHandle() noexcept = default;
    explicit JoinHandle(detail::TaskCell<T>* cell) noexcept : cell_(cell) {}
    JoinHandle(JoinHandle&& other) noexcept : cell_(std::exchange(other.cell_, nullptr)) {}
    JoinHandle& operator=(JoinHandle&& other) noexcept {
        if (this != &other) {
            reset();
            cell_ = std::exchange(other.cell_, nullptr);
        }
        return *this;
    }
    JoinHandle(const JoinHandle&) = delete;
    JoinHandle& operator=(const JoinHandle&) = delete;
    ~JoinHandle() { reset(); }

    bool valid() const noexcept { return cell_ != nullptr; }
    /// True once the task completed or was cancelled. Any thread.
    bool is_finished() const noexcept { return cell_->is_finished(); }
    /// Cancels the task if it has not finished (see TaskHeader::abort). Any thread.
    void abort() noexcept { cell_->abort(); }
    /// The type-erased header (block_on() and tests use it).
    TaskHeader* header() const noexcept { return cell_; }
    /// The output, for a handle whose task is known to be finished. \pre is_finished().
    JoinResult<T> take() { return cell_->take(); }

    struct Awaiter {
        detail::TaskCell<T>* cell;

        bool await_ready() const noexcept { return cell->is_finished(); }
        bool await_suspend(std::coroutine_handle<> h) noexcept {
            TaskHeader* self = TaskHeader::current();
            RINGLB_CHECK(self != nullptr, "co_await on a JoinHandle outside a task");
            self->suspend_on(h, &Awaiter::poll, cell);
            cell->join_waker().register_waker(self->waker());  // register ...
            if (cell->is_finished()) {                         // ... then check
                self->clear_suspension();
                return false;
            }
            return true;
        }
        JoinResult<T> await_resume() { return cell->take(); }

        static bool poll(void* ctx, TaskHeader& task) noexcept {
            auto* c = static_cast<detail::TaskCell<T>*>(ctx);
            return poll_or_register(c->join_waker(), task, [c] { return c->is_finished(); });
        }
    };

    /// Waits for the task from any worker. \pre valid(); awaited at most once.
    Awaiter operator co_await() noexcept {
        RINGLB_ASSERT(valid());
        return Awaiter{cell_};
    }

private:
    void reset() noexcept {
        if (cell_ != nullptr) {
            cell_->release();
            cell_ = nullptr;
        }
    }

    detail::TaskCell<T>* cell_ = nullptr;
};

/// Starts `task` on `runtime`. Any thread.
template <class T>
JoinHandle<T> spawn_on(Runtime& runtime, Task<T> task) {
    auto* cell = detail::TaskCell<T>::create(&runtime, std::move(task));
    detail::submit_new_task(&runtime, cell);
    return JoinHandle<T>(cell);
}

/// Starts `task` on the runtime of the calling worker. \pre called from a worker thread.
template <class T>
JoinHandle<T> spawn(Task<T> task) {
    Runtime* rt = detail::current_runtime();
    RINGLB_CHECK(rt != nullptr, "spawn() outside a runtime worker; use spawn_on()");
    return spawn_on(*rt, std::move(task));
}

}  // namespace ringlb::core
