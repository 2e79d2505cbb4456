// SPDX-License-Identifier: MIT
// Runtime: worker start-up, task placement (spawn, wake, steal) and shutdown.
#include "core/runtime.hpp"

#include <thread>

#include "core/uring/op_state.hpp"

namespace ringlb::core {

namespace detail {
void complete_accept_stream(void* target, const io_uring_cqe& cqe) noexcept;
void complete_recv_stream(void* target, const io_uring_cqe& cqe) noexcept;
}  // namespace detail

Runtime::Runtime(RuntimeOptions options) : options_(std::move(options)) {
    const bool ok =
            table_.register_handler(
                    static_cast<std::size_t>(CompletionKind::kIgnore), &detail::complete_ignore)
            && table_.register_handler(
                    static_cast<std::size_t>(CompletionKind::kWakeup), &Worker::on_wakeup)
            && table_.register_handler(
                    static_cast<std::size_t>(CompletionKind::kOneShot), &detail::complete_one_shot)
            && table_.register_handler(
                    static_cast<std::size_t>(CompletionKind::kLinkTimeout),
                    &detail::complete_link_timeout)
            && table_.register_handler(
                    static_cast<std::size_t>(CompletionKind::kCancel), &detail::complete_cancel)
            && table_.register_handler(
                    static_cast<std::size_t>(CompletionKind::kAcceptStream),
                    &detail::complete_accept_stream)
            && table_.register_handler(
                    static_cast<std::size_t>(CompletionKind::kRecvStream),
                    &detail::complete_recv_stream);
    RINGLB_CHECK(ok, "completion kinds registered twice");
}

Result<std::unique_ptr<Runtime>> Runtime::create(RuntimeOptions options) {
    if (options.workers == 0) {
        options.workers = std::max(1u, std::thread::hardware_concurrency());
    }
    std::unique_ptr<Runtime> rt(new Runtime(options));
    rt->workers_.reserve(options.workers);
    for (std::uint32_t i = 0; i < options.workers; ++i) {
        rt->workers_.push_back(std::make_unique<Worker>(*rt, i));
    }
    for (auto& w : rt->workers_) {
        Result<void> started = w->start(rt->options_.ring);
        if (!started) {
            rt->shutdown();
            return Unexpected(started.error());
        }
    }
    return rt;
}

Runtime::~Runtime() {
    shutdown();
}

void Runtime::shutdown() {
    if (shut_down_.exchange(true)) {
        return;
    }
    RINGLB_CHECK(Worker::current() == nullptr, "Runtime::shutdown() from a worker thread");
    // release: pairs with the acquire in is_stopping().
    stopping_.store(true, std::memory_order_release);
    for (auto& w : workers_) {
        w->rouse();
    }
    for (auto& w : workers_) {
        w->join();
    }
    stopped_.store(true, std::memory_order_release);
    // The workers (and their rings) stay until the destructor, so stats remain readable.
}

Runtime* Runtime::current() noexcept {
    Worker* w = Worker::current();
    return w != nullptr ? &w->runtime() : nullptr;
}

std::int64_t Runtime::unfinished_tasks() const noexcept {
    std::int64_t n = 0;
    for (const auto& w : workers_) {
        n += w->unfinished_delta();
    }
    return n;
}

void Runtime::schedule(TaskHeader* t) noexcept {
    Worker* self = Worker::current();
    const std::uint32_t owner = t->owner();
    if (self != nullptr && &self->runtime() == this && self->index() == owner) {
        self->push_local(t);
        return;
    }
    // From another thread: the task goes back to its own worker (its I/O lives on that ring).
    workers_[owner]->push_remote(t);
}

void Runtime::submit_new(TaskHeader* t) noexcept {
    Worker* self = Worker::current();
    Worker* target;
    if (self != nullptr && &self->runtime() == this) {
        target = self;
    } else {
        // relaxed: only spreads spawns from outside; no data is published through it.
        target = workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()]
                         .get();
    }
    submit_to(target->index(), t);
}

void Runtime::submit_to(unsigned worker, TaskHeader* t) noexcept {
    RINGLB_CHECK(worker < workers_.size(), "no such worker");
    // After shutdown() returned no worker runs any more: the task would never run.
    RINGLB_CHECK(
            !stopped_.load(std::memory_order_acquire), "spawn on a runtime that was shut down");
    Worker& target = *workers_[worker];
    target.count_spawn();
    target.add_unfinished(1);
    t->set_owner(target.index());
    t->wake();  // IDLE -> SCHEDULED, then schedule() queues it on `target`
}

TaskHeader* Runtime::steal_for(Worker& thief, std::uint32_t& cursor) noexcept {
    const std::size_t n = workers_.size();
    for (std::size_t i = 0; i < n; ++i) {
        Worker& victim = *workers_[(cursor + i) % n];
        if (&victim == &thief) {
            continue;
        }
        if (TaskHeader* t = victim.steal()) {
            cursor = static_cast<std::uint32_t>((cursor + i) % n);
            t->set_owner(thief.index());
            return t;
        }
    }
    return nullptr;
}

void Runtime::rouse_a_sleeper(const Worker& except) noexcept {
    for (auto& w : workers_) {
        if (w.get() != &except && w->is_sleeping()) {
            w->rouse();
            return;
        }
    }
}

namespace detail {

void schedule(Runtime* runtime, TaskHeader* task) noexcept {
    runtime->schedule(task);
}

void submit_new_task(Runtime* runtime, TaskHeader* task) noexcept {
    runtime->submit_new(task);
}

Runtime* current_runtime() noexcept {
    return Runtime::current();
}

void count_task_failure(Runtime* runtime) noexcept {
    runtime->count_failure();
}

void count_task_finished(Runtime* runtime) noexcept {
    // finish() runs only inside TaskHeader::run(), that is on one of the runtime's workers.
    Worker* self = Worker::current();
    RINGLB_CHECK(self != nullptr && &self->runtime() == runtime, "task finished off its runtime");
    self->add_unfinished(-1);
}

}  // namespace detail
}  // namespace ringlb::core
