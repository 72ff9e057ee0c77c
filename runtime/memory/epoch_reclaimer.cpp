#include "memory/epoch_reclaimer.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <utility>
#include <vector>

#include "stm/thread_census.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

namespace {

// Objects of threads that ended before they could reclaim them. Never
// destroyed: oneTBB's worker threads may end after static destructors have
// run, and they still hand their objects over here (INVARIANT
// outlives-every-thread).
struct orphan_list {
  std::mutex mutex;
  std::vector<retired_object> objects;
};
orphan_list& orphans() {
  static orphan_list* list = new orphan_list;  // deliberately leaked
  return *list;
}
std::atomic<bool> g_have_orphans{false};

// INVARIANT (batched-fences): retire() scans (heavy fence + registry walk)
// only when a batch waits — at least reclaim_batch objects, or reclaim_bytes
// of objects whose size is known — and then either (a) a new batch (as many
// retirements, or as many bytes) has arrived since the last scan and the
// start times published so far (read without a fence) show that some of them
// can go, or (b) those start times show that all of them can go. After (a)
// what the scan had to keep waits for a full new batch; after (b) the list is
// (nearly) empty. So a thread scans about once per batch at most, twice in the
// worst case. With the old rule ("scan once 64 are waiting") a long reader
// pinning 64 objects made every further retire() scan again, and each scan is
// a membarrier(2) that interrupts every CPU running a thread of the process
// (beside another thread, 4 % of a red-black tree run at two threads with
// batches of 64: hence 256). The byte bound keeps what waits small when the
// objects are large (a C program freeing blocks of 256 KiB scans every 4).
constexpr std::size_t reclaim_batch = 256;
constexpr std::size_t reclaim_bytes = std::size_t{1} << 20;

// INVARIANT (orphans-drained): the orphan list is drained by any thread's
// retire(), or by its serial commit that destroyed its deletions at once
// (drain_orphans_if_due), once reclaim_batch objects (or reclaim_bytes) have
// been handed over since the last drain, not only when some thread fills a
// batch of its own.
// Short-lived threads that each retire fewer than a batch and end
// (thread-per-request) otherwise fed the list for ever. Set under the list's
// mutex; read without it (a stale value only delays a drain).
std::atomic<std::size_t> g_orphans_count{0};
std::atomic<std::size_t> g_orphans_bytes{0};
std::atomic<std::size_t> g_orphans_drain_at{reclaim_batch};        // count that makes a drain due
std::atomic<std::size_t> g_orphans_drain_at_bytes{reclaim_bytes};  // bytes that make it due

// Sums the sizes of `objects` (after a scan kept some of them).
std::size_t bytes_of(const std::vector<retired_object>& objects) noexcept {
  std::size_t total = 0;
  for (const retired_object& r : objects) total += r.bytes;
  return total;
}

// After a drain (the list's mutex held): what is left waits for a new batch
// of orphans on top of it (INVARIANT orphans-drained, batched-fences).
void note_orphans_left(const orphan_list& list) noexcept {
  const std::size_t bytes = bytes_of(list.objects);
  g_have_orphans.store(!list.objects.empty(), std::memory_order_relaxed);
  g_orphans_count.store(list.objects.size(), std::memory_order_relaxed);
  g_orphans_bytes.store(bytes, std::memory_order_relaxed);
  g_orphans_drain_at.store(list.objects.size() + reclaim_batch, std::memory_order_relaxed);
  g_orphans_drain_at_bytes.store(bytes + reclaim_bytes, std::memory_order_relaxed);
}

// The next scan needs a new batch on top of what is kept now.
void await_next_batch(transaction& tx) noexcept {
  tx.retired_bytes = bytes_of(tx.retired);
  tx.reclaim_at = tx.retired.size() + reclaim_batch;
  tx.reclaim_at_bytes = tx.retired_bytes + reclaim_bytes;
}

std::atomic<std::uint64_t> g_heavy_fences{0};

// Moves what is safe to destroy from `from` to `ready`. Either all of it moves
// or, if `ready` cannot grow, nothing does.
void destroy_safe(std::vector<retired_object>& from, std::uint64_t oldest,
                  std::vector<retired_object>& ready) {
  ready.reserve(ready.size() + from.size());  // may throw: nothing moved yet
  std::size_t kept = 0;
  for (retired_object& r : from) {
    if (r.retired_at <= oldest) {
      ready.push_back(r);
    } else {
      from[kept++] = r;
    }
  }
  from.resize(kept);
}

#if defined(__linux__)
bool membarrier(int command) noexcept {
  return syscall(SYS_membarrier, command, 0, 0) == 0;
}
#endif

void heavy_fence() noexcept {
  g_heavy_fences.fetch_add(1, std::memory_order_relaxed);
  process_fence();
}

// A cheap look before the heavy fence: the smallest start time published so
// far, read without the fence. A start time read so may be stale, so this
// only decides whether a scan is worth its fence — the scan itself fences
// and decides what is safe; skipping a scan is always safe.
std::uint64_t oldest_start_seen() noexcept {
  std::uint64_t oldest = not_active;
  for_each_registered([&](const transaction& t) {
    std::uint64_t since = t.active_since.load(std::memory_order_relaxed);
    if (since < oldest) oldest = since;
  });
  return oldest;
}

}  // namespace

void process_fence() noexcept {
#if defined(__linux__)
  if (!g_start_needs_fence.load(std::memory_order_relaxed) &&
      membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)) {
    return;
  }
#endif
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

std::uint64_t heavy_fence_count() noexcept {
  return g_heavy_fences.load(std::memory_order_relaxed);
}

void prepare_reclamation() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
#if defined(__linux__)
    if (std::getenv("OPTIMIST_SYMMETRIC_FENCES") == nullptr &&
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)) {
      g_start_needs_fence.store(false, std::memory_order_relaxed);
    }
#endif
  });
}

// INVARIANT (alone-needs-no-membarrier): the heavy fence makes every other
// registered thread's published start time visible to the walk below. When
// the census, loaded after a full fence of our own, counts one descriptor —
// ours: the caller is reclaiming for its own descriptor — there is no other
// thread to interrupt, and the membarrier (an interrupt of every CPU that runs
// a thread of the process, tens of microseconds in a virtual machine) is
// skipped. A thread counted out registers after our load in the single total
// order (a seq_cst RMW: a full barrier of its own), so the unlinks committed
// before our fence are visible to everything it reads afterwards: it cannot
// reach an object we destroy. One that deregistered before the load has no
// transaction left.
//
// INVARIANT (scan-covers-the-past): a scan vouches only for objects retired at
// or before `now`, the clock read before its fence; so the answer is never
// above it, even when no transaction is running. Every deletion retires at a
// tick t of the clock taken once its unlink is committed or guarded: a
// software commit's locks are held, a hardware one has passed XEND, a serial
// block holds the closed gate, a deletion outside a transaction follows its
// unlink. For t <= now that happened before our clock load in the single total
// order; a transaction the walk does not see publishes its start time after
// our fence, so its first orec (or gate) load comes later and finds the lock
// held, the gate closed, or the unlink written back: it cannot reach the
// object. One that the walk sees with a start time below t keeps it. An
// object retired after the scan began (handed over to the orphan list by a
// thread that ended while we scanned) is not covered: a reader that started
// after our fence may hold it. With the old answer, not_active, the orphan
// pass destroyed such an object under a running reader.
std::uint64_t oldest_active_start() noexcept {
  const std::uint64_t now = clock_now();
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if ((census_now() & census_count_mask) != 1) heavy_fence();
  std::uint64_t oldest = now;
  for_each_registered([&](const transaction& t) {
    std::uint64_t since = t.active_since.load(std::memory_order_seq_cst);
    if (since < oldest) oldest = since;
  });
  if (g_reclaim_scan_test_hook != nullptr) [[unlikely]]
    g_reclaim_scan_test_hook();
  return oldest;
}

namespace {

// INVARIANT orphans-drained: a batch of orphans (or of their bytes) has been
// handed over since the last drain.
bool orphans_due() noexcept {
  return g_orphans_count.load(std::memory_order_relaxed) >=
             g_orphans_drain_at.load(std::memory_order_relaxed) ||
         g_orphans_bytes.load(std::memory_order_relaxed) >=
             g_orphans_drain_at_bytes.load(std::memory_order_relaxed);
}

}  // namespace

void retire(transaction& tx, void* object, void (*destroy)(void*), std::uint64_t retired_at,
            std::size_t bytes) {
  try {
    tx.retired.push_back({object, destroy, retired_at, bytes});
  } catch (...) {
    // Out of memory for the bookkeeping: keeping the object forever is safe,
    // destroying it now is not.
    return;
  }
  tx.retired_bytes += bytes;
  if (tx.depth != 0 || tx.reclaiming) return;
  if (orphans_due()) [[unlikely]] {
    reclaim(tx);  // INVARIANT orphans-drained
    return;
  }
  if (tx.retired.size() < reclaim_batch && tx.retired_bytes < reclaim_bytes) return;
  // INVARIANT batched-fences: scan when a new batch has arrived and something
  // looks destroyable, or at once when nothing seems to pin any object at all
  // (the list then empties, and the next such scan needs a new batch too).
  const std::uint64_t oldest_seen = oldest_start_seen();
  if (tx.retired.size() >= tx.reclaim_at || tx.retired_bytes >= tx.reclaim_at_bytes) {
    std::uint64_t earliest = not_active;
    for (const retired_object& r : tx.retired) {
      if (r.retired_at < earliest) earliest = r.retired_at;
    }
    if (oldest_seen >= earliest || g_have_orphans.load(std::memory_order_relaxed)) {
      reclaim(tx);
    } else {
      await_next_batch(tx);  // all pinned: wait for the next batch
    }
  } else if (oldest_seen >= tx.retired.back().retired_at) {
    reclaim(tx);
  }
}

void reclaim(transaction& tx) {
  if (tx.reclaiming) return;  // a destructor retired more objects: the outer call handles them
  tx.reclaiming = true;
  std::vector<retired_object> ready;
  try {
    std::uint64_t oldest = oldest_active_start();
    destroy_safe(tx.retired, oldest, ready);
    if (g_have_orphans.load(std::memory_order_relaxed)) {
      orphan_list& list = orphans();
      std::lock_guard<std::mutex> lock(list.mutex);
      destroy_safe(list.objects, oldest, ready);
      note_orphans_left(list);
    }
  } catch (...) {
    // `ready` keeps what was moved there; destroy it below.
  }
  // INVARIANT batched-fences: what had to be kept waits for a full new batch.
  await_next_batch(tx);
  // Destructors run outside any bookkeeping: they may retire more objects.
  for (retired_object& r : ready) r.destroy(r.object);
  tx.reclaiming = false;
}

void drain_orphans_if_due(transaction& tx) {
  if (tx.depth != 0 || tx.reclaiming || !orphans_due()) return;
  reclaim(tx);  // INVARIANT orphans-drained
}

void hand_over_retired(transaction& tx) noexcept {
  if (tx.retired.empty()) return;
  try {
    orphan_list& list = orphans();
    std::lock_guard<std::mutex> lock(list.mutex);
    list.objects.insert(list.objects.end(), tx.retired.begin(), tx.retired.end());
    g_have_orphans.store(true, std::memory_order_relaxed);
    g_orphans_count.store(list.objects.size(), std::memory_order_relaxed);
    g_orphans_bytes.fetch_add(tx.retired_bytes, std::memory_order_relaxed);
  } catch (...) {
    // Out of memory: the objects stay unreclaimed, which is safe.
  }
  tx.retired.clear();
  await_next_batch(tx);
}

void reclaim_now() {
  reclaim(this_thread_transaction());
}

}  // namespace optimist::detail
