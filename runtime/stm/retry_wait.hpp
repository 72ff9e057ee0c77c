// Waiting for a commit: the wait table behind optimist::retry().
//
// A waiter is something parked on the orecs a rolled-back attempt read: a
// thread asleep on a futex (optimist::retry in an atomic block) or a task set
// aside by the task runtime (a callback puts it back on the run queue). A
// committer that changes one of those orecs wakes it. The protocol, its
// invariants and why no wake-up is lost are described in retry_wait.cpp.
//
// A waiter may also wait at doorbells (doorbell.cpp): a consumer that found a
// container empty (retry_at_doorbell) is woken by a producer's ring, one
// consumer per ring, instead of by every commit to the container's words.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "memory/epoch_reclaimer.hpp"
#include "optimist/source_location.hpp"
#include "stm/orec_table.hpp"
#include "stm/read_set.hpp"

namespace optimist::detail {

class waiter;

// One orec a waiter waits on, linked into the wait-table bucket of that orec.
struct wait_link {
  waiter* owner;
  const orec* lock;
  wait_link* previous;
  wait_link* next;
};

// One doorbell a waiter waits at, linked into its doorbell bucket's list
// (doorbell.cpp; the list fields are guarded by that bucket's mutex).
struct bell_link {
  waiter* owner;
  const void* bell;
  bell_link* previous;
  bell_link* next;
  bool linked;  // in the list: no ring has taken it out yet
};

// Where an attempt gave up at a doorbell (retry_at_doorbell, engine.hpp): it
// found the container behind `bell` empty, and read-set entries [first_read,
// end_read) are what it read of the container to find that out.
struct doorbell_mark {
  const void* bell;
  std::size_t first_read;
  std::size_t end_read;
};

class waiter {
 public:
  // Called exactly once, by the committer that wakes a registered waiter,
  // while it holds a wait-table lock: it must be short, must not block and
  // must not register or unregister waiters. nullptr: a thread that parks.
  using wake_function = void (*)(waiter&) noexcept;

  explicit waiter(wake_function on_wake = nullptr) noexcept : on_wake_(on_wake) {}
  waiter(const waiter&) = delete;
  waiter& operator=(const waiter&) = delete;

  // Room for a wait set of `entries` orecs and `bells` doorbells, so that
  // registering allocates nothing. May throw std::bad_alloc.
  void reserve(std::size_t entries, std::size_t bells = 0) {
    links_.reserve(entries);
    bells_.reserve(bells);
  }
  // Frees the room reserved if it is for more than `entries` orecs or bells
  // (INVARIANT logs-bounded, transaction.hpp). Only while not registered.
  void release_above(std::size_t entries) noexcept {
    if (links_.empty() && links_.capacity() > entries) std::vector<wait_link>().swap(links_);
    if (bells_.empty() && bells_.capacity() > entries) std::vector<bell_link>().swap(bells_);
  }

  // After unregister_waiter: the doorbell whose ring woke this registration
  // (it then owes the ring: INVARIANT doorbell-duty, doorbell.cpp), or
  // nullptr if a commit woke it or nothing did. Reading it clears it.
  const void* take_rung() noexcept {
    const void* bell = rung_;
    rung_ = nullptr;
    return bell;
  }

  // True once a wake (wake_waiter, a commit, a ring) has reached the current
  // registration, or after unregister_waiter.
  bool is_woken() const noexcept;

  // Marks the waiter as registering before register_waiter does, so that a
  // wake_waiter in between is not lost: register_waiter then keeps that state
  // (its W4 sees the wake and it returns false). parked_tasks publishes a
  // timed record to the worker that wakes due deadlines before registering it.
  void prepare_registration() noexcept {
    state_.store(registering, std::memory_order_relaxed);
    prepared_ = true;
  }

  // Waits without registering anywhere: no commit or ring can reach it, only
  // wake_waiter (a task waiting for a deadline alone: parked_tasks). Leaves
  // nothing for unregister_waiter to undo.
  void wait_unregistered() noexcept;

 private:
  friend bool register_waiter(waiter&, const read_entry*, const read_entry*, const doorbell_mark*,
                              const doorbell_mark*) noexcept;
  friend void unregister_waiter(waiter&) noexcept;
  friend void park(waiter&) noexcept;
  friend void wake_waiters_on(const orec&) noexcept;
  friend void wake_waiter(waiter&) noexcept;
  friend bool park_until(waiter&, std::uint64_t) noexcept;
  friend bool ring_waiter(waiter&, const void*) noexcept;

  enum : std::uint32_t { registering, waiting, woken };
  std::atomic<std::uint32_t> state_{woken};
  wake_function on_wake_;
  std::vector<wait_link> links_;  // capacity reserved beforehand; never reallocated while linked
  std::vector<bell_link> bells_;  // the same
  // Written by the ring that woke this registration, under its doorbell
  // bucket mutex; read after unregister_waiter (which takes that mutex).
  const void* rung_ = nullptr;
  bool prepared_ = false;  // prepare_registration() was called: register_waiter keeps the state
};

// register_waiter(w, first, last)
//   Links `w` into the wait table on every orec of [first, last) (reserve()
//   room for them first), then checks that each orec still carries the version
//   recorded in its entry. Returns true if the waiter is registered and
//   waiting (it is woken by the first commit that changes one of the orecs);
//   false if one had already changed, or a committer woke it during
//   registration (or, after prepare_registration, a wake_waiter before it) —
//   it is then unregistered again and the caller should simply run its
//   transaction again.
//
// With doorbell marks [marks, marks_end) the waiter also waits at each mark's
// doorbell, and the entries inside a mark's range are checked but not linked:
// only a ring wakes it for them (INVARIANT doorbell-covers-reads,
// doorbell.cpp). An orec that is also read outside every mark stays linked.
bool register_waiter(waiter& w, const read_entry* first, const read_entry* last,
                     const doorbell_mark* marks = nullptr,
                     const doorbell_mark* marks_end = nullptr) noexcept;

// Removes a registered waiter from the wait table (woken or not). Afterwards no
// committer touches it any more, so it may be destroyed or registered anew.
void unregister_waiter(waiter& w) noexcept;

// Puts the calling thread to sleep (futex) until a committer wakes the
// registered waiter `w`.
void park(waiter& w) noexcept;

// Deadlines (optimist::retry_until): std::chrono::steady_clock's nanoseconds
// since its epoch; 0 stands for no deadline.
std::uint64_t steady_now_ns() noexcept;

// park() that also ends at `deadline_ns`: true if woken, false if the deadline
// came first (the waiter is still registered: unregister_waiter).
bool park_until(waiter& w, std::uint64_t deadline_ns) noexcept;

// Sleeps until `deadline_ns` (a wait with nothing to register on).
void sleep_until_deadline(std::uint64_t deadline_ns) noexcept;
// How long one sleep of sleep_until_deadline lasts at `now_ns`: what is left,
// at most 2^63 - 1 ns (positive for any deadline ahead, UINT64_MAX included).
std::chrono::nanoseconds sleep_before_deadline(std::uint64_t deadline_ns,
                                               std::uint64_t now_ns) noexcept;

// A thread's whole wait after a retried attempt that read `reads` and gave up
// at `marks`: registers `w`, sleeps until a commit or ring wakes it or
// `deadline_ns` (0: none) passes, unregisters. Returns at once if something
// read has changed already; sleeps until the deadline if there is nothing to
// register on (a timed wait that read nothing).
void wait_for_change(waiter& w, const read_set& reads, const std::vector<doorbell_mark>& marks,
                     std::uint64_t deadline_ns) noexcept;

// --- optimist::retry() and retry_until() (retry.cpp) -------------------------

class transaction;

// The first steps of retry(), retry_until() and the timed pop: throws
// std::logic_error outside an atomic block (`name` is the caller's public
// name), sends a hardware attempt to software, and returns the attempt.
transaction& retry_entry(source_location site, const char* name);
std::uint64_t deadline_ns_of(std::chrono::steady_clock::time_point deadline) noexcept;
// The rest of retry() (deadline_ns 0) and of retry_until() before its
// deadline: the checks, the marking (prepare_retry), then retry_signal.
[[noreturn]] void retry_waiting(transaction& tx, std::uint64_t deadline_ns, source_location site,
                                const char* name);

// Wakes `w` if it waits (state waiting -> woken, then its callback or its
// thread), as a commit would; nothing if it is already woken. The caller
// keeps `w` alive meanwhile: it holds a lock that w's owner takes before it
// frees w (INVARIANT wake-once).
void wake_waiter(waiter& w) noexcept;

// --- committers ------------------------------------------------------------

// How many waiters are registered. Written only by waiters, when they register
// and unregister; read by every writing commit (INVARIANT no-lost-wakeup).
inline std::atomic<std::uint64_t> g_registered_waiters{0};

// The orders of INVARIANT no-lost-wakeup (retry_wait.cpp), named so that the
// litmus test (tests/stm/litmus_test.cpp) checks the very orders the engine
// uses: W2, the waiter's count increment; W3, its re-check of each orec it
// read; C2, a committer's load of the count after unlocking its orecs. A
// store-buffering shape: with W3 or C2 an acquire load, a commit can miss a
// waiter that misses the commit (the litmus test checks both).
inline constexpr std::memory_order waiter_count_order = std::memory_order_seq_cst;
inline constexpr std::memory_order waiter_recheck_order = std::memory_order_seq_cst;
inline constexpr std::memory_order committer_waiters_order = std::memory_order_seq_cst;

// The whole cost of retry on the commit path when nobody waits: one
// sequentially consistent load (a plain load on x86-64) of a rarely written
// word. Call after the commit has unlocked its orecs.
inline bool waiters_present() noexcept {
  return g_registered_waiters.load(committer_waiters_order) != 0;
}

// True when a registering waiter fences every running thread after W2
// (membarrier, retry_wait.cpp): a committer may then order its orec stores
// before its waiters_present() load with a compiler barrier only. Serial
// commits do (serial_mode.cpp); software commits have their lock CAS anyway.
inline bool waiters_fence_committers() noexcept {
  return !g_start_needs_fence.load(std::memory_order_relaxed);
}

// Wakes every waiter registered on `lock` (slow path: waiters_present()).
void wake_waiters_on(const orec& lock) noexcept;
// Wakes every waiter registered on an orec of [first, last): a commit in
// another process changed some orec of a shared durable store's table
// (runtime/durable/shared_store.cpp). Scans the whole wait table.
void wake_waiters_in(const orec* first, const orec* last) noexcept;

// A ring of `bell` reached `w` (doorbell.cpp, under the bucket mutex of w's
// link): wakes it unless it is already woken. Returns true if this ring woke
// it (it then owes the ring: take_rung()), false if it was woken before.
bool ring_waiter(waiter& w, const void* bell) noexcept;

}  // namespace optimist::detail
