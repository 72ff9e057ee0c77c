// The wait table: how optimist::retry() sleeps without busy waiting and
// without missing the commit that should wake it.
//
// A transaction that calls retry() is rolled back with its read set kept (the
// orecs it read and the versions it saw). It then waits until a commit
// changes one of those orecs: before that, running it again would see the same
// state and retry again. A waiter is either a thread (it sleeps on a futex)
// or a task the task runtime has set aside (a callback puts it back on the
// run queue).
//
// The table is an array of buckets, each a mutex and an intrusive list of
// wait_links (one per orec a waiter waits on) hashed by orec.
//
// Waiter, after its attempt has been rolled back:
//   W1  state := registering; link one wait_link per read orec into its
//       bucket (under the bucket's mutex; the bucket's link count goes up)
//   W2  g_registered_waiters += 1                                (seq_cst RMW)
//   W3  load every read orec (seq_cst): if one is locked or carries a version
//       other than the one read, something changed already — unregister and
//       run again at once
//   W4  CAS state registering -> waiting; if a committer already set woken,
//       unregister and run again
//   W5  a thread sleeps until state == woken; a task's worker moves on (the
//       wake callback will put the task back on the run queue). A wait with
//       a deadline (optimist::retry_until) also ends when the deadline
//       passes: the thread, still registered, goes on to W6 and runs again;
//       a task is woken by a worker of its run (parked_tasks::wake_due)
//   W6  unregister: unlink (under the bucket mutexes), g_registered_waiters -= 1
//
// Committer (commit_writer, commit_irrevocable, standalone_write):
//   C1  lock each written orec (seq_cst CAS), write back, unlock with the new
//       version
//   C2  if g_registered_waiters (seq_cst load) is not 0: for each written orec
//       whose bucket has links, lock the bucket and wake every waiter linked on
//       that orec (state := woken by exchange; if it was waiting, wake the
//       thread's futex or call the task's callback)
//
// INVARIANT (no-lost-wakeup): a waiter that sleeps on orec o is woken by every
// commit to o that W3 did not already see. W2, W3, C1's lock CAS and C2's load
// are all sequentially consistent, so they lie in one total order S that
// agrees with program order and coherence. If W3's load of o read a value
// from before the committer's CAS on o, that load precedes the CAS in S, so
// W2 < W3 < CAS < C2-load in S and the C2 load reads W2's increment or a later
// value: the committer sees a waiter. Every write to the counter is a
// read-modify-write, so that load synchronises with W2, and W1's links (made
// before W2) are visible to the committer's bucket lookups: it finds the link
// and wakes the waiter. Otherwise W3 saw the lock or the new version, and the
// waiter does not sleep. The commit path needs no fence for this: the lock
// CAS is already a full barrier, and a seq_cst load is a plain load on x86-64.
// A serial commit (serial_mode.cpp) takes no lock: it stores each orec's new
// version and then loads the count. Where waiters_fence_committers() holds,
// W2 is followed by W2', a membarrier(2) that makes every running thread
// execute a full barrier (the asymmetric Dekker pattern, as start_fence and
// the reclaimer): either the committer's count load comes after that barrier
// and reads W2's increment, or its orec stores came before it and W3 sees
// them. Elsewhere the serial commit's gate exchange is the full barrier.
// INVARIANT (wake-once): a registration is woken at most once (the state
// exchange), and a waker touches a waiter only while holding a bucket mutex
// that the waiter must take to unregister: a woken waiter is never freed or
// re-registered under a waker's feet.
// INVARIANT (links-stable): a waiter's links live in a vector reserved before
// registration and not resized until it is unregistered (the lists point into
// it). The same holds for its doorbell links (bells_).
//
// Doorbells (doorbell.cpp) add a second way to be woken: a waiter registered
// with doorbell marks links one bell_link per mark at W1 and counts it before
// W2; a producer's ring wakes at most one such waiter (ring_waiter), under the
// doorbell bucket's mutex, which the waiter also takes at W6.
#include "stm/retry_wait.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>

#include "stm/doorbell.hpp"

namespace optimist::detail {

namespace {

constexpr std::size_t bucket_count = 1024;  // a power of two

struct alignas(64) wait_bucket {
  std::mutex mutex;
  // The number of links in the list. Changed under the mutex, read without it
  // by committers to skip empty buckets (INVARIANT no-lost-wakeup makes links
  // registered before a committer's C2 load visible to it).
  std::atomic<std::uint32_t> links{0};
  wait_link* head = nullptr;  // guarded by mutex
};

wait_bucket g_wait_buckets[bucket_count];

wait_bucket& bucket_of(const orec& lock) noexcept {
  // Neighbouring words have neighbouring orecs: they land in different buckets.
  auto index = reinterpret_cast<std::uintptr_t>(&lock) / sizeof(orec);
  return g_wait_buckets[index & (bucket_count - 1)];
}

// The waiter's futex word (std::atomic<std::uint32_t> holds just the value).
// Raw futex calls, not std::atomic::wait/notify_one: a thread's wait may end
// at a deadline (optimist::retry_until), which std::atomic::wait cannot say,
// and libstdc++'s notify_one skips the system call unless a waiter entered
// through its own wait, so both sides must use the same mechanism.
std::uint32_t* futex_word(std::atomic<std::uint32_t>& state) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return reinterpret_cast<std::uint32_t*>(&state);
}

void futex_wake_one(std::atomic<std::uint32_t>& state) noexcept {
  ::syscall(SYS_futex, futex_word(state), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// Sleeps while the word holds `expected`, for at most `timeout` (nullptr: no
// limit). Returns early on a wake, a signal or a spurious wake-up.
void futex_wait(std::atomic<std::uint32_t>& state, std::uint32_t expected,
                const timespec* timeout) noexcept {
  ::syscall(SYS_futex, futex_word(state), FUTEX_WAIT_PRIVATE, expected, timeout, nullptr, 0);
}

bool changed_since(const read_entry& entry) noexcept {
  // seq_cst: W3 of INVARIANT no-lost-wakeup. The reserved bit (an inevitable
  // transaction holding the word) is no change.
  std::uint64_t now = entry.lock->load(waiter_recheck_order);
  return orec_is_locked(now) || orec_version(now) != entry.version;
}

}  // namespace

void wake_waiter(waiter& w) noexcept {
  // INVARIANT wake-once. The caller holds a bucket mutex that w must take to
  // unregister, so w is alive until this returns.
  if (w.state_.exchange(waiter::woken, std::memory_order_acq_rel) != waiter::waiting) return;
  if (w.on_wake_ != nullptr) {
    w.on_wake_(w);
  } else {
    futex_wake_one(w.state_);
  }
}

bool ring_waiter(waiter& w, const void* bell) noexcept {
  // INVARIANT wake-once, as in wake_waiter: the caller holds the doorbell
  // bucket mutex that w must take to unregister that link. A registration
  // still registering counts as reached: its W4 fails and it runs again.
  const std::uint32_t was = w.state_.exchange(waiter::woken, std::memory_order_acq_rel);
  if (was == waiter::woken) return false;
  w.rung_ = bell;  // read after unregistering, under the same mutex
  if (was == waiter::waiting) {
    if (w.on_wake_ != nullptr) {
      w.on_wake_(w);
    } else {
      futex_wake_one(w.state_);
    }
  }
  return true;
}

namespace {

bool inside_a_mark(std::size_t index, const doorbell_mark* marks,
                   const doorbell_mark* marks_end) noexcept {
  for (const doorbell_mark* m = marks; m != marks_end; ++m) {
    if (index >= m->first_read && index < m->end_read) return true;
  }
  return false;
}

}  // namespace

bool register_waiter(waiter& w, const read_entry* first, const read_entry* last,
                     const doorbell_mark* marks, const doorbell_mark* marks_end) noexcept {
  // After prepare_registration the state stays as it is: registering, or
  // woken by a wake since (then W4 fails below).
  const bool prepared = std::exchange(w.prepared_, false);
  w.links_.clear();
  w.bells_.clear();
  w.rung_ = nullptr;  // not linked anywhere: no ring can reach it yet
  const auto wanted = static_cast<std::size_t>(last - first);
  const auto bells = static_cast<std::size_t>(marks_end - marks);
  if (wanted > w.links_.capacity() || bells > w.bells_.capacity()) {
    try {
      w.links_.reserve(wanted);
      w.bells_.reserve(bells);
    } catch (...) {
      // Out of memory: the caller runs its transaction again instead of waiting.
      if (prepared) w.state_.store(waiter::woken, std::memory_order_relaxed);
      return false;
    }
  }
  const read_entry* previous = nullptr;
  for (const read_entry* e = first; e != last; ++e) {
    // INVARIANT doorbell-covers-reads (doorbell.cpp): what a consumer read of
    // an empty container is watched by the doorbell, not the wait table. The
    // same orec read elsewhere in the attempt is linked by that entry.
    if (bells != 0 && inside_a_mark(static_cast<std::size_t>(e - first), marks, marks_end)) {
      continue;
    }
    // The read set often holds one orec many times in a row (a word read in a
    // loop): one link is enough.
    if (previous != nullptr && e->lock == previous->lock) continue;
    previous = e;
    w.links_.push_back({&w, e->lock, nullptr, nullptr});  // INVARIANT links-stable: no reallocation
  }
  for (const doorbell_mark* m = marks; m != marks_end; ++m) {
    w.bells_.push_back({&w, m->bell, nullptr, nullptr, false});  // no reallocation either
  }
  if (w.links_.empty() && w.bells_.empty()) {
    if (prepared) w.state_.store(waiter::woken, std::memory_order_relaxed);
    return false;
  }
  if (!prepared) w.state_.store(waiter::registering, std::memory_order_relaxed);
  for (wait_link& link : w.links_) {  // W1
    wait_bucket& bucket = bucket_of(*link.lock);
    std::lock_guard<std::mutex> guard(bucket.mutex);
    link.next = bucket.head;
    if (bucket.head != nullptr) bucket.head->previous = &link;
    bucket.head = &link;
    bucket.links.fetch_add(1, std::memory_order_relaxed);
  }
  for (bell_link& link : w.bells_) doorbell_link(link);   // W1 and D2 (doorbell.cpp)
  g_registered_waiters.fetch_add(1, waiter_count_order);  // W2
  // W2': committers with a light barrier (waiters_fence_committers) have
  // fenced by the time this returns, or see the increment.
  if (waiters_fence_committers()) process_fence();
  // W3 checks every entry, those only a doorbell watches included: a push
  // that committed before this check is seen here, one after it rings.
  bool changed = false;
  for (const read_entry* e = first; e != last && !changed; ++e) changed = changed_since(*e);  // W3
  std::uint32_t expected = waiter::registering;
  if (changed || !w.state_.compare_exchange_strong(expected, waiter::waiting,
                                                   std::memory_order_acq_rel)) {  // W4
    unregister_waiter(w);
    return false;
  }
  return true;
}

void unregister_waiter(waiter& w) noexcept {
  if (w.links_.empty() && w.bells_.empty()) return;
  for (wait_link& link : w.links_) {  // W6
    wait_bucket& bucket = bucket_of(*link.lock);
    std::lock_guard<std::mutex> guard(bucket.mutex);
    if (link.previous != nullptr) {
      link.previous->next = link.next;
    } else {
      bucket.head = link.next;
    }
    if (link.next != nullptr) link.next->previous = link.previous;
    bucket.links.fetch_sub(1, std::memory_order_relaxed);
  }
  for (bell_link& link : w.bells_) doorbell_unlink(link);
  w.links_.clear();
  w.bells_.clear();
  w.state_.store(waiter::woken, std::memory_order_relaxed);
  g_registered_waiters.fetch_sub(1, std::memory_order_seq_cst);
}

void park(waiter& w) noexcept {
  // W5 (spurious futex wake-ups are absorbed by the loop).
  for (;;) {
    std::uint32_t now = w.state_.load(std::memory_order_acquire);
    if (now == waiter::woken) return;
    futex_wait(w.state_, now, nullptr);
  }
}

void wait_for_change(waiter& w, const read_set& reads, const std::vector<doorbell_mark>& marks,
                     std::uint64_t deadline_ns) noexcept {
  if (deadline_ns != 0 && reads.empty() && marks.empty()) {
    sleep_until_deadline(deadline_ns);  // read nothing: only the deadline can end the wait
    return;
  }
  if (!register_waiter(w, reads.begin(), reads.end(), marks.data(), marks.data() + marks.size()))
    return;  // changed already: run again at once
  if (deadline_ns == 0) {
    park(w);
  } else {
    park_until(w, deadline_ns);
  }
  unregister_waiter(w);
}

bool park_until(waiter& w, std::uint64_t deadline_ns) noexcept {
  for (;;) {
    std::uint32_t now = w.state_.load(std::memory_order_acquire);
    if (now == waiter::woken) return true;
    const std::uint64_t time = steady_now_ns();
    if (time >= deadline_ns) return false;
    const std::uint64_t left = deadline_ns - time;
    const timespec timeout{static_cast<time_t>(left / 1'000'000'000),
                           static_cast<long>(left % 1'000'000'000)};
    futex_wait(w.state_, now, &timeout);
  }
}

std::chrono::nanoseconds sleep_before_deadline(std::uint64_t deadline_ns,
                                               std::uint64_t now_ns) noexcept {
  // A C program's deadline may lie past 2^63 ns (UINT64_MAX: "for ever"): the
  // difference as a signed count was negative, and the sleep returned at once
  // for ever (a busy loop).
  if (deadline_ns <= now_ns) return std::chrono::nanoseconds(0);
  const std::uint64_t left = deadline_ns - now_ns;
  constexpr std::uint64_t longest = std::numeric_limits<std::int64_t>::max();
  return std::chrono::nanoseconds(static_cast<std::int64_t>(left < longest ? left : longest));
}

void sleep_until_deadline(std::uint64_t deadline_ns) noexcept {
  for (std::uint64_t time = steady_now_ns(); time < deadline_ns; time = steady_now_ns()) {
    std::this_thread::sleep_for(sleep_before_deadline(deadline_ns, time));
  }
}

std::uint64_t steady_now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

bool waiter::is_woken() const noexcept {
  return state_.load(std::memory_order_acquire) == woken;
}

void waiter::wait_unregistered() noexcept {
  links_.clear();
  bells_.clear();
  rung_ = nullptr;
  state_.store(waiting, std::memory_order_release);
}

void wake_waiters_on(const orec& lock) noexcept {
  wait_bucket& bucket = bucket_of(lock);
  if (bucket.links.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard<std::mutex> guard(bucket.mutex);
  for (wait_link* link = bucket.head; link != nullptr; link = link->next) {
    if (link->lock == &lock) wake_waiter(*link->owner);
  }
}

}  // namespace optimist::detail

namespace optimist::detail {

void wake_waiters_in(const orec* first, const orec* last) noexcept {
  // INVARIANT no-lost-wakeup across processes (runtime/durable/shared_store.cpp):
  // the caller read the store's commit bell (seq_cst) after the committer
  // bumped it, so links made before a waiter's check are visible here.
  for (wait_bucket& bucket : g_wait_buckets) {
    if (bucket.links.load(std::memory_order_relaxed) == 0) continue;
    std::lock_guard<std::mutex> guard(bucket.mutex);
    for (wait_link* link = bucket.head; link != nullptr; link = link->next) {
      if (link->lock >= first && link->lock < last) wake_waiter(*link->owner);
    }
  }
}

}  // namespace optimist::detail
