// Doorbells: consumers that wait for one more item, woken one per item.
//
// optimist::retry() wakes every waiter whose read set a commit changes: right
// for arbitrary conditions, but N threads blocked in tqueue::pop() on an empty
// queue all read the same words, so every push woke all N, one of them took
// the item and N - 1 went back to sleep: N pushes cost N^2 wake-ups (issue 11:
// 1,000 -> 20,000 waiters, 0.10 s -> 19 s). A consumer that waits for "an
// item", not for a condition of its own, needs only one wake-up per item.
//
// A doorbell is an address (a word of the container); its waiters are kept in
// arrival order in a table of buckets hashed by that address, each a mutex and
// an intrusive list.
//
// Consumer (wait_at_doorbell):
//   D1  state := waiting; append to the bucket's list (under its mutex)
//   D2  g_doorbell_waiters += 1                                  (seq_cst RMW)
//   D3  still_empty(): a transaction reading the container (its orec loads are
//       seq_cst); if an item is there, skip the sleep
//   D4  sleep until state == woken
//   D5  take itself out of the list if a ring has not (under the mutex),
//       g_doorbell_waiters -= 1
// Producer, after the commit that made an item available (ring_doorbell):
//   R1  the commit's lock CAS (seq_cst) — or a hardware commit, ordered like a
//       locked instruction
//   R2  if g_doorbell_waiters (seq_cst load) is not 0: under the bucket mutex,
//       take the first waiter of this doorbell out of the list and wake it
//
// INVARIANT (doorbell-no-lost-item): when an item is pushed, either a consumer
// that has not yet passed D3 will see it, or the producer's R2 sees that
// consumer's D2 and wakes a sleeping consumer of that doorbell (the same order
// argument as no-lost-wakeup in retry_wait.cpp: D2 < D3 < R1 < R2 in the
// single total order of seq_cst operations). Each ring wakes one consumer,
// which takes an item or finds that others took them all; a rung consumer
// that cannot take the item (an exception) rings again before it leaves
// (INVARIANT doorbell-pass-on, tqueue.hpp). A ring that finds every waiter
// already woken wakes nobody: those woken consumers are still to look at the
// queue, and a consumer arriving later checks it at D3.
#include <atomic>
#include <cstdint>
#include <mutex>

#include "optimist/detail/engine.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

namespace {

struct doorbell_waiter {
  const void* bell;
  std::atomic<std::uint32_t> state;
  bool linked = false;  // guarded by the bucket mutex
  doorbell_waiter* previous = nullptr;
  doorbell_waiter* next = nullptr;
};

enum : std::uint32_t { waiting, woken };

// INVARIANT (doorbell-list-waiting): a bucket lists exactly the registered
// waiters not yet woken, in arrival order; a ring takes the first of its
// doorbell out of the list as it wakes it, so a ring never walks past woken
// waiters that have not unregistered yet.
struct alignas(64) doorbell_bucket {
  std::mutex mutex;
  doorbell_waiter* first = nullptr;  // guarded by mutex
  doorbell_waiter* last = nullptr;
};

constexpr std::size_t doorbell_buckets = 256;  // a power of two
doorbell_bucket g_doorbells[doorbell_buckets];

// How many consumers are registered at any doorbell (D2, D5; read at R2).
std::atomic<std::uint64_t> g_doorbell_waiters{0};

doorbell_bucket& bucket_of(const void* bell) noexcept {
  auto a = reinterpret_cast<std::uintptr_t>(bell);
  return g_doorbells[(a / 64 ^ a / 4096) & (doorbell_buckets - 1)];
}

// Under the bucket mutex.
void take_out(doorbell_bucket& bucket, doorbell_waiter& w) noexcept {
  (w.previous != nullptr ? w.previous->next : bucket.first) = w.next;
  (w.next != nullptr ? w.next->previous : bucket.last) = w.previous;
  w.linked = false;
}

void unregister(doorbell_bucket& bucket, doorbell_waiter& w) noexcept {
  std::lock_guard<std::mutex> guard(bucket.mutex);
  if (w.linked) take_out(bucket, w);
  g_doorbell_waiters.fetch_sub(1, std::memory_order_seq_cst);  // D5
}

}  // namespace

bool wait_at_doorbell(const void* bell, bool (*still_empty)(void*), void* context) {
  doorbell_bucket& bucket = bucket_of(bell);
  doorbell_waiter self{bell, waiting};
  {
    std::lock_guard<std::mutex> guard(bucket.mutex);  // D1
    self.previous = bucket.last;
    (bucket.last != nullptr ? bucket.last->next : bucket.first) = &self;
    bucket.last = &self;
    self.linked = true;
  }
  g_doorbell_waiters.fetch_add(1, std::memory_order_seq_cst);  // D2
  bool empty = false;
  try {
    empty = still_empty(context);  // D3
  } catch (...) {
    unregister(bucket, self);
    // INVARIANT doorbell-pass-on: a ring that reached this consumer goes on.
    if (self.state.load(std::memory_order_acquire) == woken) ring_doorbell(bell);
    throw;
  }
  if (empty) {
    for (;;) {  // D4 (atomic::wait absorbs spurious futex wake-ups in this loop)
      std::uint32_t now = self.state.load(std::memory_order_acquire);
      if (now == woken) break;
      self.state.wait(now, std::memory_order_acquire);
    }
  }
  unregister(bucket, self);
  return self.state.load(std::memory_order_acquire) == woken;
}

void ring_doorbell(const void* bell) noexcept {
  if (g_doorbell_waiters.load(std::memory_order_seq_cst) == 0) return;  // R2
  doorbell_bucket& bucket = bucket_of(bell);
  std::lock_guard<std::mutex> guard(bucket.mutex);
  for (doorbell_waiter* w = bucket.first; w != nullptr; w = w->next) {
    if (w->bell != bell) continue;
    // INVARIANT doorbell-list-waiting. The waiter unregisters under this
    // mutex: it is alive until we let go.
    take_out(bucket, *w);
    w->state.store(woken, std::memory_order_release);
    w->state.notify_one();
    return;
  }
}

void ring_doorbell_after_commit(const void* bell) {
  transaction* tx = tls_current;
  if (tx == nullptr) {
    ring_doorbell(bell);
    return;
  }
  tx->on_commit.push_back([bell] { ring_doorbell(bell); });  // may throw std::bad_alloc
}

}  // namespace optimist::detail
