// SPDX-License-Identifier: MIT
// ArcSwap<T>: a cell holding a std::shared_ptr<const T> that many threads read without
// contending with each other while a few threads replace it (Rust arc-swap's "debt" scheme).
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "core/assert.hpp"

// The model
// ---------
// A reader must not touch the shared_ptr's refcount (one cache line written by every reader)
// and must not be able to see its value destroyed under it. Instead of taking a reference it
// *borrows* the raw pointer: it writes the pointer into a debt slot owned by its thread, then
// re-reads the cell. If the cell still holds the same pointer, any writer that replaces it
// later is guaranteed to see the debt (seq_cst store/load pair on both sides, Dekker style),
// and before dropping its reference it *pays* the debt: it puts a real reference into the slot
// and marks the slot PAID. The reader's guard then owns that reference, and the old value is
// destroyed exactly when the last guard or shared_ptr lets go. Writers never wait for readers.
//
// Slots live in per-thread nodes of a global, type-erased, grow-only registry (arc_swap.cpp):
// a thread claims a node on first load() and hands it back (not freed) at thread exit. Guards
// may be moved to and destroyed on other threads; a released node keeps such slots busy until
// their guards go.
//
// Invariants
// - ptr_ == current_.get() whenever mutex_ is not held.
// - A slot's debt word is one of: 0 (free), p (borrowing p), p|1 (PAID: `paid` owns p).
//   Only the node's owner thread moves it 0 -> p; only a writer holding the registry's pay
//   lock moves it p -> p|1; only the borrower moves it p -> 0 or p|1 -> 0.
// - `paid` is non-empty only while the slot is PAID (and briefly in a writer's hands).
//
// Fallback: when all kDebtSlotsPerNode slots of the thread are busy, when kMaxBorrowAttempts
// stores interrupted one load(), or while the thread is exiting, load() copies the
// shared_ptr under the writer mutex instead. That copy can wait for a store() in progress
// (never for a reader) and does touch the shared refcount. So guards are for short borrows:
// code that keeps values across suspension points (many per thread) should hold a
// shared_ptr from load_full() or Guard::to_shared(), which take the mutex once instead of
// pinning one of the few slots.
//
// Addresses identify values: two live shared_ptrs with the same address, in any ArcSwap, must
// keep the same object alive (true for make_shared/new and for aliasing pointers that share
// an owner; not for non-owning pointers with no-op deleters to subobjects).
//
// Usage
//     ArcSwap<Config> config(std::make_shared<const Config>(...));
//     {
//         auto cfg = config.load();                 // any thread; no refcount traffic
//         use(cfg->listeners);
//     }
//     config.store(std::make_shared<const Config>(...));   // control thread; never blocks
//                                                         // on readers

namespace ringlb::core {
namespace detail {

inline constexpr std::size_t kDebtSlotsPerNode = 8;
inline constexpr std::uintptr_t kDebtFree = 0;
inline constexpr std::uintptr_t kDebtPaidBit = 1;

/// One borrow. Debt word: 0 = free; p (even) = borrowing the value at p; p|1 = PAID, `paid`
/// holds a reference to p. Legal moves: 0 -> p (owner thread, load()), p -> 0 (borrower),
/// p -> p|1 (writer under the pay lock), p|1 -> 0 (borrower, after moving `paid` out).
struct DebtSlot {
    // Any thread (atomics).
    std::atomic<std::uintptr_t> debt{kDebtFree};
    // Ordered by `debt`: written by a writer under the pay lock while `debt` is an unpaid p;
    // read and cleared only by the borrower after it observed p|1 (acquire).
    std::shared_ptr<const void> paid;
    const void* paid_by = nullptr;  // the ArcSwap whose writer paid; identity only
};

/// A thread's slots. Cache-line aligned so that readers on different threads never write
/// the same line.
struct alignas(64) DebtNode {
    std::array<DebtSlot, kDebtSlotsPerNode> slots;
    // Any thread (atomics): claimed by a thread on first use, released at its exit.
    std::atomic<bool> in_use{false};
    // Immutable after the node is published in the registry.
    DebtNode* next = nullptr;
};

/// This thread's node; null until the first load() and again after thread exit.
/// Owner thread only.
inline constinit thread_local DebtNode* t_debt_node = nullptr;

/// Claims a node for this thread (reusing a released one, or allocating), sets t_debt_node.
/// Returns null while the thread is exiting. Owner thread only.
DebtNode* acquire_debt_node() noexcept;

/// Gives back an unprotected borrow of `debt` (its re-check failed). Returns the payment if
/// a writer of `cell` paid the debt first, else empty. The slot is free on return.
std::shared_ptr<const void>
cancel_debt(DebtSlot& slot, std::uintptr_t debt, const void* cell) noexcept;

/// Ends a protected borrow of `debt`; drops the payment if there was one. Any thread.
void release_debt(DebtSlot& slot, std::uintptr_t debt) noexcept;

/// A copy of the payment if the borrow of `debt` was paid, else empty. Called only by the
/// guard that owns the borrow; any thread.
std::shared_ptr<const void> copy_payment(const DebtSlot& slot, std::uintptr_t debt) noexcept;

/// Pays every debt on `old` in every node with a copy of `old`, recording `cell` as payer.
/// Call after `old` stopped being reachable through `cell`. Any thread; takes the pay lock.
void pay_debts(const std::shared_ptr<const void>& old, const void* cell);

/// "free", "borrowed 0x..." or "paid 0x..." (debug printer for a debt word).
std::string debt_to_string(std::uintptr_t debt);

/// The debt word for `p`. A pointer-to-integer conversion only: no integer is ever turned
/// back into a pointer.
inline std::uintptr_t debt_word(const void* p) noexcept {
    return std::bit_cast<std::uintptr_t>(p);
}

/// A free slot of `node`, or null when all are borrowed. Owner thread only.
inline DebtSlot* find_free_slot(DebtNode& node) noexcept {
    for (DebtSlot& slot : node.slots) {
        // acquire: pairs with the release that freed the slot in release_debt()/cancel_debt(),
        // possibly on another thread, so the previous borrower's move out of `paid` happens
        // before our borrow and hence before the next writer's write of `paid`.
        if (slot.debt.load(std::memory_order_acquire) == kDebtFree) {
            return &slot;
        }
    }
    return nullptr;
}

}  // namespace detail

/// A shared_ptr<const T> cell: wait-free, non-contending reads in the common case; writers
/// serialize among themselves and never wait for readers. See the model above.
template <class T>
class ArcSwap {
    static_assert(alignof(T) >= 2, "ArcSwap uses bit 0 of T* as the PAID mark");

public:
    /// A borrowed (or, on the slow paths, owned) reference to a value of the cell.
    /// Move-only; may be moved to and destroyed on any thread.
    class Guard {
    public:
        Guard(Guard&& other) noexcept
                : ptr_(std::exchange(other.ptr_, nullptr))
                , slot_(std::exchange(other.slot_, nullptr))
                , cell_(other.cell_)
                , owned_(std::move(other.owned_)) {}
        Guard& operator=(Guard&& other) noexcept {
            if (this != &other) {
                release();
                ptr_ = std::exchange(other.ptr_, nullptr);
                slot_ = std::exchange(other.slot_, nullptr);
                cell_ = other.cell_;
                owned_ = std::move(other.owned_);
            }
            return *this;
        }
        Guard(const Guard&) = delete;
        Guard& operator=(const Guard&) = delete;
        ~Guard() { release(); }

        /// The value; null only in a moved-from guard.
        const T* get() const noexcept { return ptr_; }
        const T& operator*() const noexcept { return *ptr_; }
        const T* operator->() const noexcept { return ptr_; }

        /// A real reference to the value. Takes the cell's writer mutex when the borrow is
        /// unpaid, so the ArcSwap must not be destroyed concurrently (after its destruction
        /// every borrow is paid and the cell is not touched). Empty for a moved-from guard.
        std::shared_ptr<const T> to_shared() const {
            if (slot_ == nullptr) {
                return owned_;
            }
            return cell_->share_borrowed(ptr_, *slot_);
        }

    private:
        friend class ArcSwap;
        Guard(const T* ptr, detail::DebtSlot* slot, const ArcSwap* cell) noexcept
                : ptr_(ptr), slot_(slot), cell_(cell) {}
        explicit Guard(std::shared_ptr<const T> owned) noexcept
                : ptr_(owned.get()), owned_(std::move(owned)) {}

        void release() noexcept {
            if (slot_ != nullptr) {
                detail::release_debt(*std::exchange(slot_, nullptr), detail::debt_word(ptr_));
            }
            owned_.reset();
            ptr_ = nullptr;
        }

        const T* ptr_ = nullptr;
        detail::DebtSlot* slot_ = nullptr;  // non-null: borrowed through this slot
        const ArcSwap* cell_ = nullptr;     // set with slot_; used only by to_shared()
        std::shared_ptr<const T> owned_;    // non-empty: a real reference (paid or fallback)
    };

    /// \pre `initial` is non-null.
    explicit ArcSwap(std::shared_ptr<const T> initial)
            : ptr_(initial.get()), current_(std::move(initial)) {
        RINGLB_CHECK(current_ != nullptr, "ArcSwap: null initial value");
    }
    /// Pays the borrows of the current value, so guards may outlive the cell.
    /// \pre No other thread uses the cell.
    ~ArcSwap() {
        std::shared_ptr<const void> last = std::move(current_);
        detail::pay_debts(last, this);
    }
    ArcSwap(const ArcSwap&) = delete;
    ArcSwap& operator=(const ArcSwap&) = delete;

    /// The current value, borrowed. Any thread; wait-free unless it takes the fallback.
    Guard load() const noexcept;
    /// The current value as a real reference. Any thread; takes the writer mutex.
    std::shared_ptr<const T> load_full() const { return load_locked(); }

    /// Replaces the value; the old one dies when its last reader lets go. Any thread.
    /// \pre `value` is non-null.
    void store(std::shared_ptr<const T> value) { (void)exchange(std::move(value)); }
    /// Replaces the value and returns the previous one. Any thread. \pre `value` non-null.
    std::shared_ptr<const T> exchange(std::shared_ptr<const T> value);
    /// Stores `desired` if the current value is the same object as `expected` (pointer
    /// identity, not equality of contents). Any thread. \pre `desired` is non-null.
    bool
    compare_and_swap(const std::shared_ptr<const T>& expected, std::shared_ptr<const T> desired);

private:
    static constexpr int kMaxBorrowAttempts = 4;

    std::shared_ptr<const T> load_locked() const {
        std::lock_guard lock(mutex_);
        return current_;
    }
    std::shared_ptr<const T> replace_locked(std::shared_ptr<const T> value);
    std::shared_ptr<const T> share_borrowed(const T* ptr, const detail::DebtSlot& slot) const;

    // Any thread (atomics). Alone on its cache line: readers only read it, and writers'
    // mutex traffic below must not invalidate it.
    alignas(64) std::atomic<const T*> ptr_;
    // Writers; readers only on the fallback paths. Guarded by mutex_.
    alignas(64) mutable std::mutex mutex_;
    std::shared_ptr<const T> current_;
};

template <class T>
typename ArcSwap<T>::Guard ArcSwap<T>::load() const noexcept {
    detail::DebtNode* node = detail::t_debt_node;
    if (node == nullptr) [[unlikely]] {
        node = detail::acquire_debt_node();
    }
    detail::DebtSlot* slot = node != nullptr ? detail::find_free_slot(*node) : nullptr;
    if (slot != nullptr) [[likely]] {
        for (int attempt = 0; attempt < kMaxBorrowAttempts; ++attempt) {
            // relaxed: only a candidate. The seq_cst re-load below validates it and is the
            // acquire (pairing with the seq_cst store in replace_locked()) that makes *p
            // visible.
            const T* p = ptr_.load(std::memory_order_relaxed);
            const std::uintptr_t debt = detail::debt_word(p);
            // seq_cst store then seq_cst load: our half of the Dekker pair with
            // replace_locked() (store ptr_, then load every debt in pay_debts()). With
            // release/acquire both sides could miss each other; seq_cst puts the four in one
            // order S, so if our re-load still sees p, the writer that replaces p loads our
            // debt later in S and pays it. Hot path cost: one locked store on our own line.
            slot->debt.store(debt, std::memory_order_seq_cst);
            if (ptr_.load(std::memory_order_seq_cst) == p) [[likely]] {
                return Guard(p, slot, this);
            }
            // Race: a store() replaced p between our two loads. Either its pay_debts() saw
            // our debt and paid it (cancel_debt returns that reference: p was current when
            // we started, so returning it is linearizable), or it missed the debt and p may
            // already be dead; then we withdraw the debt and try again.
            std::shared_ptr<const void> paid = detail::cancel_debt(*slot, debt, this);
            if (paid != nullptr) {
                return Guard(std::shared_ptr<const T>(std::move(paid), p));
            }
        }
    }
    return Guard(load_locked());
}

template <class T>
std::shared_ptr<const T> ArcSwap<T>::exchange(std::shared_ptr<const T> value) {
    RINGLB_CHECK(value != nullptr, "ArcSwap: storing a null value");
    std::lock_guard lock(mutex_);
    return replace_locked(std::move(value));
}

template <class T>
bool ArcSwap<T>::compare_and_swap(
        const std::shared_ptr<const T>& expected, std::shared_ptr<const T> desired) {
    RINGLB_CHECK(desired != nullptr, "ArcSwap: storing a null value");
    std::shared_ptr<const T> old;  // dropped after the unlock: ~T may be long or re-enter
    {
        std::lock_guard lock(mutex_);
        if (current_.get() != expected.get()) {
            return false;
        }
        old = replace_locked(std::move(desired));
    }
    return true;
}

template <class T>
std::shared_ptr<const T> ArcSwap<T>::replace_locked(std::shared_ptr<const T> value) {
    std::shared_ptr<const T> old = std::exchange(current_, std::move(value));
    // seq_cst: the writer's half of the Dekker pair with load() (see there). Weaker orders
    // would let this store and pay_debts()' debt loads miss a reader's debt store/re-load.
    ptr_.store(current_.get(), std::memory_order_seq_cst);
    const T* old_ptr = old.get();
    std::shared_ptr<const void> erased = std::move(old);
    detail::pay_debts(erased, this);
    return std::shared_ptr<const T>(std::move(erased), old_ptr);
}

template <class T>
std::shared_ptr<const T>
ArcSwap<T>::share_borrowed(const T* ptr, const detail::DebtSlot& slot) const {
    const std::uintptr_t debt = detail::debt_word(ptr);
    if (std::shared_ptr<const void> paid = detail::copy_payment(slot, debt); paid != nullptr) {
        return std::shared_ptr<const T>(std::move(paid), ptr);
    }
    std::lock_guard lock(mutex_);
    // Under mutex_ no writer of this cell is between its ptr_ store and the end of its
    // pay_debts(): had one replaced `ptr`, our (still outstanding) debt would now be paid.
    if (std::shared_ptr<const void> paid = detail::copy_payment(slot, debt); paid != nullptr) {
        return std::shared_ptr<const T>(std::move(paid), ptr);
    }
    // Our borrow is protected and unpaid, so no store() replaced `ptr` since we borrowed it.
    RINGLB_ASSERT(current_.get() == ptr);
    return current_;
}

}  // namespace ringlb::core
