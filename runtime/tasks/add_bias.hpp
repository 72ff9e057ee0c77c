// add_bias — a task queue's add lock, biased toward the thread that adds.
//
// The seed loop adds a million tasks from one thread, then runs them. Each add
// took the queue's add lock (a oneTBB spin_mutex): an atomic exchange, whose
// full barrier waits for the stores of the task being built to drain — about
// 5 of the 8 ns an add cost, more than the task itself costs to run when
// tasks are coalesced. A biased lock lets the thread that holds the bias
// enter the critical section with plain stores; every other thread takes the
// lock and first revokes the bias.
//
// Protocol (asymmetric Dekker):
//   owner, fast path:  inside := this lock; light fence; owner_token == mine?
//                      yes: critical section; inside := none (release)
//                      no:  inside := none; take the lock instead
//   revoker (holds the lock, is not the owner): owner_token := 0; heavy fence;
//                      wait until the owner's inside != this lock (acquire)
// INVARIANT (bias-excludes): a revoker that returns and an owner in the fast
// path are never in the critical section together: the fences order the
// owner's `inside` store before its token load and the revoker's token store
// before its `inside` load, so either the owner sees the revocation and
// leaves the fast path, or the revoker sees it inside and waits for it (its
// acquire load then sees everything the owner wrote). Where membarrier(2) is
// available the light fence only stops the compiler and the heavy fence makes
// every running thread of the process execute a full barrier; elsewhere (and
// with OPTIMIST_SYMMETRIC_FENCES, as under ThreadSanitizer) both are full
// fences.
// INVARIANT (bias-wait-is-own): a revoker waits only while the owner is
// inside this lock's fast path, never for the owner's adds to another queue.
// A thread is inside one fast path at most: an add made while it builds a
// task for another queue through that queue's bias (a copy constructor that
// adds elsewhere) takes the lock. Before, the record counted the owner's
// biased adds to every queue, and a revoker of queue A waited for an owner
// whose add to queue B was building a task that added to A, held up by the
// revoker's lock: both waited for ever.
// INVARIANT (bias-granted-under-lock): the bias is granted only by the lock
// holder to itself, and revoked only by a lock holder; the thread that holds
// the bias and takes the lock itself (the slow path of its own adds, a run it
// starts) need not revoke: it cannot be in the fast path meanwhile.
//
// Granting: after grant_after consecutive locked adds by one thread (adds
// from several threads never get there); each revocation by another adder
// doubles grant_after (up to 2^20 adds), so adders that take turns cost a
// heavy fence per that many adds at most.
//
// Thread records (where the thread is inside and a token unique to the thread's life)
// are never freed: a revoker may still read the record of an owner that has
// exited. Records of exited threads are reused with a fresh token, so a new
// thread never inherits an old bias.
#pragma once

#include <atomic>
#include <cstdint>

namespace optimist::detail {

class add_bias;

struct add_bias_record {
  // The lock whose fast path the thread is in, nullptr: none. Written only by
  // the thread that holds the record.
  std::atomic<const add_bias*> inside{nullptr};
  std::uint64_t token = 0;  // nonzero, unique to one thread's life
  add_bias_record* next_free = nullptr;
};

// This thread's token, 0 before its first locked add.
[[gnu::tls_model("initial-exec")]] inline thread_local std::uint64_t tls_add_bias_token = 0;
[[gnu::tls_model("initial-exec")]] inline thread_local add_bias_record* tls_add_bias_record =
    nullptr;

// True where the light fence need not be a full fence (membarrier(2)).
extern std::atomic<bool> g_add_bias_asymmetric;

class add_bias {
 public:
  // add_bias::try_enter()
  //   The fast path: true if this thread holds the bias; it is then in the
  //   critical section (as if it held the lock) until leave().
  bool try_enter() noexcept {
    const std::uint64_t mine = tls_add_bias_token;
    if (mine == 0 || owner_token_.load(std::memory_order_relaxed) != mine) return false;
    std::atomic<const add_bias*>& inside = tls_add_bias_record->inside;
    // INVARIANT bias-wait-is-own: inside another queue's fast path already.
    if (inside.load(std::memory_order_relaxed) != nullptr) return false;
    inside.store(this, std::memory_order_relaxed);
    light_fence();
    if (owner_token_.load(std::memory_order_relaxed) == mine) return true;
    inside.store(nullptr, std::memory_order_release);  // revoked meanwhile
    return false;
  }
  // add_bias::leave()
  //   Ends a critical section that try_enter() began.
  void leave() noexcept { tls_add_bias_record->inside.store(nullptr, std::memory_order_release); }

  // add_bias::locked()
  //   Called by every thread right after it takes the lock: revokes another
  //   thread's bias (INVARIANT bias-excludes). `add` says whether the caller
  //   adds a task (which counts toward granting it the bias).
  void locked(bool add) noexcept;

  // add_bias::held()
  //   True if this thread holds the bias (for tests).
  bool held() const noexcept {
    return tls_add_bias_token != 0 &&
           owner_token_.load(std::memory_order_relaxed) == tls_add_bias_token;
  }

 private:
  static void light_fence() noexcept {
    if (g_add_bias_asymmetric.load(std::memory_order_relaxed)) {
      std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
  }
  void revoke() noexcept;

  // Written only under the lock; read by the owner's fast path.
  std::atomic<std::uint64_t> owner_token_{0};
  // Under the lock.
  add_bias_record* owner_record_ = nullptr;
  std::uint64_t last_adder_ = 0;
  std::uint64_t consecutive_adds_ = 0;
  std::uint64_t grant_after_ = 256;
};

}  // namespace optimist::detail
