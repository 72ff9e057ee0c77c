// Doorbells: consumers that wait for one more item, woken one per item.
//
// optimist::retry() wakes every waiter whose read set a commit changes: right
// for arbitrary conditions, but N consumers blocked in tqueue::pop() on an
// empty queue all read the same words, so every push woke all N, one of them
// took the item and N - 1 went back to sleep: N pushes cost N^2 wake-ups
// (issue 11: 1,000 -> 20,000 waiters, 0.10 s -> 19 s). A consumer that waits
// for "an item", not for a condition of its own, needs only one wake-up per
// item.
//
// So a consumer that finds its container empty gives up with
// retry_at_doorbell (engine.hpp) instead of retry(): the attempt is rolled
// back as for retry() and marked with the container's doorbell and the
// read-set entries it took to see the container empty. Its waiter
// (retry_wait.hpp: a thread, or a task set aside by the task runtime) then
// waits in the wait table on the rest of what the attempt read and, instead
// of those entries, at the doorbell. A doorbell is an address owned by the
// container, by convention a word that every consumer's take writes
// (tqueue: popped_), so that a commit can tell whether it took an item; its
// waiters are kept in arrival order in a table of buckets hashed by address,
// each a mutex and an intrusive list of bell_links.
//
// Consumer (register_waiter, retry_wait.cpp):
//   D1  state := registering; append a bell_link to the bucket's list (under
//       its mutex)
//   D2  g_doorbell_links += 1                                    (seq_cst RMW)
//   D3  W2, then W3: check every entry of the read set, the marked ones
//       included (seq_cst orec loads); a change: run again at once
//   D4  W4/W5: wait (a thread sleeps, a task's worker moves on)
//   D5  W6: take the link out if a ring has not (under the mutex),
//       g_doorbell_links -= 1; take_rung() says whether a ring woke it
// Producer, after the commit that made an item available (ring_doorbell):
//   R1  the commit's lock CAS (seq_cst) — or a hardware commit, ordered like a
//       locked instruction
//   R2  if g_doorbell_links (seq_cst load) is not 0: under the bucket mutex,
//       take this doorbell's links out of the list in order until one whose
//       waiter is not yet woken (ring_waiter); wake that one and stop
//
// INVARIANT (doorbell-covers-reads): the entries of a doorbell mark are what
// the consumer read of the container, and every commit that changes them
// while the container is empty is a producer's that rings afterwards (or a
// consumer's take, which needs an item, hence a push, first). So those
// entries need no wait-table link: the ring wakes a consumer instead of the
// commit waking all of them.
// INVARIANT (doorbell-no-lost-item): when an item is pushed, either a consumer
// that has not yet passed D3 sees the change, or the producer's R2 sees that
// consumer's D2 and wakes a consumer of that doorbell that was not woken yet
// (the same order argument as no-lost-wakeup in retry_wait.cpp: D2 < D3 < R1
// < R2 in the single total order of seq_cst operations). A ring that finds
// every consumer already woken wakes nobody: those consumers are still to
// run again and look at the container, and one arriving later checks it at D3.
// INVARIANT (doorbell-duty): a consumer whose registration a ring woke owes
// that ring. Its block (transaction::doorbell_duty, kept across conflict
// restarts) settles it by committing a take (a write to the doorbell word),
// or by giving up at the same doorbell again (it saw the container empty:
// someone else took the item). Any other end — a commit that took nothing, an
// exception, a retry elsewhere, a task run that stops — rings the doorbell
// again, so a wake-up is never dropped while an item is left for a sleeping
// consumer. Each ring wakes at most one consumer, and each woken consumer
// rings at most once more: the wake-ups stay linear in the pushes.
// INVARIANT (doorbell-list-waiting): a link leaves its list when a ring takes
// it (whether or not it woke its waiter) or when its waiter unregisters, so a
// ring walks past each woken waiter at most once.
#include <atomic>
#include <cstdint>
#include <mutex>

#include "optimist/detail/engine.hpp"
#include "optimist/retry.hpp"
#include "stm/doorbell.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

namespace {

struct alignas(64) doorbell_bucket {
  std::mutex mutex;
  bell_link* first = nullptr;  // guarded by mutex
  bell_link* last = nullptr;
};

constexpr std::size_t doorbell_buckets = 256;  // a power of two
doorbell_bucket g_doorbells[doorbell_buckets];

// How many bell_links are registered (D2, D5; read at R2).
std::atomic<std::uint64_t> g_doorbell_links{0};

doorbell_bucket& bucket_of(const void* bell) noexcept {
  auto a = reinterpret_cast<std::uintptr_t>(bell);
  return g_doorbells[(a / 64 ^ a / 4096) & (doorbell_buckets - 1)];
}

// Under the bucket mutex.
void take_out(doorbell_bucket& bucket, bell_link& link) noexcept {
  (link.previous != nullptr ? link.previous->next : bucket.first) = link.next;
  (link.next != nullptr ? link.next->previous : bucket.last) = link.previous;
  link.previous = link.next = nullptr;
  link.linked = false;
}

}  // namespace

void doorbell_link(bell_link& link) noexcept {
  doorbell_bucket& bucket = bucket_of(link.bell);
  {
    std::lock_guard<std::mutex> guard(bucket.mutex);  // D1
    link.next = nullptr;
    link.previous = bucket.last;
    (bucket.last != nullptr ? bucket.last->next : bucket.first) = &link;
    bucket.last = &link;
    link.linked = true;
  }
  g_doorbell_links.fetch_add(1, std::memory_order_seq_cst);  // D2
}

void doorbell_unlink(bell_link& link) noexcept {
  doorbell_bucket& bucket = bucket_of(link.bell);
  {
    std::lock_guard<std::mutex> guard(bucket.mutex);
    if (link.linked) take_out(bucket, link);
  }
  g_doorbell_links.fetch_sub(1, std::memory_order_seq_cst);  // D5
}

void ring_doorbell(const void* bell) noexcept {
  if (g_doorbell_links.load(std::memory_order_seq_cst) == 0) return;  // R2
  doorbell_bucket& bucket = bucket_of(bell);
  std::lock_guard<std::mutex> guard(bucket.mutex);
  bell_link* link = bucket.first;
  while (link != nullptr) {
    bell_link* next = link->next;
    if (link->bell == bell) {
      // INVARIANT doorbell-list-waiting. The waiter unregisters under this
      // mutex: it is alive until we let go.
      take_out(bucket, *link);
      if (ring_waiter(*link->owner, bell)) return;
    }
    link = next;
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

std::size_t read_position() noexcept {
  transaction* tx = tls_current;
  return tx != nullptr ? tx->reads.size() : 0;
}

void retry_at_doorbell(const void* bell, std::size_t reads_from, source_location site) {
  transaction* tx = tls_current;
  // A hardware attempt keeps no read set (retry() sends the block to
  // software); a doomed one restarts instead of waiting.
  if (tx != nullptr && tx->mode != tx_mode::hardware && !tx->doomed) {
    const std::size_t end = tx->reads.size();
    tx->doorbell_marks.push_back({bell, reads_from < end ? reads_from : end, end});  // may throw
  }
  optimist::retry(site);
}

void retry_at_doorbell_until(const void* bell, std::size_t reads_from,
                             std::chrono::steady_clock::time_point deadline, source_location site) {
  transaction& tx = retry_entry(site, "optimist::tqueue::pop_until()");
  if (std::chrono::steady_clock::now() >= deadline) return;  // timed out: the pop goes on
  if (!tx.doomed) {
    const std::size_t end = tx.reads.size();
    tx.doorbell_marks.push_back({bell, reads_from < end ? reads_from : end, end});  // may throw
  }
  retry_waiting(tx, deadline_ns_of(deadline), site, "optimist::tqueue::pop_until()");
}

void settle_doorbell_duty(transaction& tx, const doorbell_mark* marks,
                          const doorbell_mark* marks_end) noexcept {
  const void* duty = tx.doorbell_duty;
  if (duty == nullptr) return;
  tx.doorbell_duty = nullptr;
  for (const doorbell_mark* m = marks; m != marks_end; ++m) {
    if (m->bell == duty) return;  // INVARIANT doorbell-duty: it saw the container empty
  }
  ring_doorbell(duty);
}

}  // namespace optimist::detail
