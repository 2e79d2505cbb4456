// SPDX-License-Identifier: MIT
// The type-erased half of ArcSwap<T>: the global registry of per-thread debt nodes, node
// hand-out at thread start and exit, and paying and settling debts.
#include "core/arc_swap.hpp"

#include <cinttypes>
#include <cstdio>
#include <new>

namespace ringlb::core::detail {
namespace {

// Grow-only list of every node ever made; nodes are reused, never freed (guards of exited
// threads may still point into them). Any thread (atomics).
constinit std::atomic<DebtNode*> g_nodes{nullptr};

// Serializes pay_debts() across all cells: two writers must not both write one slot's
// `paid`. Writers only; never taken by a reader, never held while a value is destroyed.
constinit std::mutex g_pay_mutex;

// Owner thread only: set once this thread handed its node back.
constinit thread_local bool t_node_released = false;

// Hands this thread's node back at thread exit. Constructed on the first acquire_debt_node().
struct NodeReleaser {
    NodeReleaser() noexcept = default;
    NodeReleaser(const NodeReleaser&) = delete;
    NodeReleaser& operator=(const NodeReleaser&) = delete;
    ~NodeReleaser() {
        t_node_released = true;
        if (DebtNode* node = std::exchange(t_debt_node, nullptr)) {
            // release: this thread's slot accesses (moves out of `paid`) happen before the
            // next owner's acquire CAS in claim_released_node().
            node->in_use.store(false, std::memory_order_release);
        }
    }
    void arm() noexcept {}
};
thread_local NodeReleaser t_node_releaser;

DebtNode* claim_released_node() noexcept {
    // acquire: pairs with the seq_cst push in acquire_debt_node() (node contents, `next`).
    for (DebtNode* node = g_nodes.load(std::memory_order_acquire); node != nullptr;
         node = node->next) {
        bool expected = false;
        // acquire: pairs with the release in ~NodeReleaser (the previous owner's accesses).
        if (!node->in_use.load(std::memory_order_relaxed)
            && node->in_use.compare_exchange_strong(
                    expected, true, std::memory_order_acquire, std::memory_order_relaxed)) {
            return node;
        }
    }
    return nullptr;
}

}  // namespace

DebtNode* acquire_debt_node() noexcept {
    if (t_node_released) {
        return nullptr;  // thread exit in progress: callers take the fallback path
    }
    DebtNode* node = claim_released_node();
    if (node == nullptr) {
        node = new (std::nothrow) DebtNode;
        RINGLB_CHECK(node != nullptr, "ArcSwap: out of memory for a debt node");
        // relaxed: not yet published; the push below releases it.
        node->in_use.store(true, std::memory_order_relaxed);
        DebtNode* head = g_nodes.load(std::memory_order_relaxed);
        do {
            node->next = head;
            // seq_cst: the push must precede in S our later seq_cst debt stores into this node,
            // so that a writer whose seq_cst head load in pay_debts() follows such a store in S
            // also sees the node. With release alone the head load could return an older head.
        } while (!g_nodes.compare_exchange_weak(
                head, node, std::memory_order_seq_cst, std::memory_order_relaxed));
    }
    t_node_releaser.arm();  // odr-use: registers ~NodeReleaser for this thread
    t_debt_node = node;
    return node;
}

std::shared_ptr<const void>
cancel_debt(DebtSlot& slot, std::uintptr_t debt, const void* cell) noexcept {
    std::uintptr_t seen = debt;
    // acquire (failure): pairs with the release CAS in pay_debts(), making `paid` and `paid_by`
    // visible. Success needs no order: we never dereferenced the pointer.
    if (slot.debt.compare_exchange_strong(
                seen, kDebtFree, std::memory_order_acquire, std::memory_order_acquire)) {
        return nullptr;
    }
    // Only a writer changes a borrowed slot, and only to PAID.
    RINGLB_ASSERT(seen == (debt | kDebtPaidBit));
    std::shared_ptr<const void> paid = std::move(slot.paid);
    const void* payer = std::exchange(slot.paid_by, nullptr);
    // release: our moves above happen before the owner's next find_free_slot() acquire, and
    // through its next debt store before any writer's next write of `paid`.
    slot.debt.store(kDebtFree, std::memory_order_release);
    if (payer != cell) {
        // Race: our debt was stale (its re-check failed and our cell's writer missed it), the
        // value died, and another cell whose value reused the address paid it. That reference
        // is not ours to return: drop it and let load() retry.
        return nullptr;
    }
    return paid;
}

void release_debt(DebtSlot& slot, std::uintptr_t debt) noexcept {
    std::uintptr_t seen = debt;
    // acq_rel (success): the release orders our reads of the value before the writer whose
    // debt load sees the slot free and may then drop the last reference. acquire (failure):
    // pairs with the release CAS in pay_debts() so `paid` is visible.
    if (slot.debt.compare_exchange_strong(
                seen, kDebtFree, std::memory_order_acq_rel, std::memory_order_acquire)) {
        return;
    }
    RINGLB_ASSERT(seen == (debt | kDebtPaidBit));
    // Move the payment out before freeing the slot: once it reads 0 the owner may borrow it
    // again and a writer may write `paid`.
    std::shared_ptr<const void> paid = std::move(slot.paid);
    slot.paid_by = nullptr;
    // release: pairs with the owner's acquire in find_free_slot() (see cancel_debt()).
    slot.debt.store(kDebtFree, std::memory_order_release);
    // `paid` drops here, possibly destroying the value, with the slot already free.
}

std::shared_ptr<const void> copy_payment(const DebtSlot& slot, std::uintptr_t debt) noexcept {
    // acquire: pairs with the release CAS in pay_debts(). Once PAID, `paid` changes only when
    // the guard that owns the borrow (our caller) releases it.
    if (slot.debt.load(std::memory_order_acquire) != (debt | kDebtPaidBit)) {
        return nullptr;
    }
    return slot.paid;
}

void pay_debts(const std::shared_ptr<const void>& old, const void* cell) {
    const std::uintptr_t debt = debt_word(old.get());
    std::lock_guard lock(g_pay_mutex);
    // seq_cst: see the push in acquire_debt_node().
    for (DebtNode* node = g_nodes.load(std::memory_order_seq_cst); node != nullptr;
         node = node->next) {
        for (DebtSlot& slot : node->slots) {
            // seq_cst: the second half of the writer's Dekker pair (ArcSwap::load()).
            if (slot.debt.load(std::memory_order_seq_cst) != debt) {
                continue;
            }
            RINGLB_ASSERT(slot.paid == nullptr);
            slot.paid = old;
            slot.paid_by = cell;
            std::uintptr_t seen = debt;
            // release: publishes `paid`/`paid_by` to the borrower's acquire in cancel_debt(),
            // release_debt() or copy_payment(). acquire (failure): the borrower let go; pairs
            // with its release in release_debt() so its reads of the value happen before our
            // caller drops what may be the last reference (TSan caught relaxed here).
            if (!slot.debt.compare_exchange_strong(
                        seen,
                        debt | kDebtPaidBit,
                        std::memory_order_release,
                        std::memory_order_acquire)) {
                // Race: the borrower let go (or withdrew a stale debt) between our load and
                // CAS. It never reads `paid` unless PAID, so take our copy back. This is not
                // the last reference (the caller holds `old`): no destructor runs under the
                // pay lock.
                slot.paid.reset();
                slot.paid_by = nullptr;
            }
        }
    }
}

std::string debt_to_string(std::uintptr_t debt) {
    if (debt == kDebtFree) {
        return "free";
    }
    char buf[48];
    std::snprintf(
            buf,
            sizeof buf,
            "%s 0x%" PRIxPTR,
            (debt & kDebtPaidBit) != 0 ? "paid" : "borrowed",
            debt & ~kDebtPaidBit);
    return buf;
}

}  // namespace ringlb::core::detail
