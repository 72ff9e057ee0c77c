// Several processes transacting on one durable store, with no server
// (options::multi_process). Layout of the coordination state: shared_store.hpp.
//
// Every process maps the heap (MAP_SHARED), the log and the sidecar
// `<path>-shm`. The heap's words get their orecs from the sidecar's table,
// indexed by heap offset, with versions of the sidecar's clock (INVARIANT
// two-clocks, runtime/stm/orec_table.hpp): so transactions of different
// processes conflict word by word exactly as threads of one process do. A
// locked shared orec carries the locking process's slot in its top byte.
//
// Commit (a writing transaction of heap words, after locking and validating):
//   A1  lock log_mutex; take the tail (records, offset) of the current epoch
//       (a full log is checkpointed first); seal the record; mark one of this
//       process's in-flight entries `appending` with (epoch, offset, size)
//   A2  pwrite the record at the offset; publish the tail (one atomic store);
//       mark the entry `appended`; unlock log_mutex
//   A3  until the durable position covers the record: try-lock sync_mutex
//       (the group-commit leader); if it is taken, wait on sync_bell for the
//       leader's sync and look again (followers never queue on the mutex, so
//       a leader cannot hold back those its sync already covered); if it is
//       ours: after a short gathering wait when other processes commit too
//       (woken by each append), fdatasync the log and raise `durable` to what
//       was appended before, then ring sync_bell
//   A4  write back (the engine), free the entry, unlock the orecs, bump the
//       commit bell
//
// INVARIANT (one-log): records are appended only under log_mutex, each at the
// tail, and the tail is published by one atomic store after the pwrite; so
// the log is one sequence of records, in tail order, exactly as one process
// writes it, and recovery (recovery.cpp) needs no change. An entry is
// `appending` only while its process holds log_mutex.
// INVARIANT (log-before-writeback) holds across processes: an entry's words
// are written back (by its process, or by a recoverer) only once `durable`
// covers its record.
// INVARIANT (dead-owner): a process holds its slot's robust mutex (`alive`)
// for as long as it has the store open, from a thread of its own (holder), so
// it shows as EOWNERDEAD exactly when the process has died. Whoever locks a
// dead slot's mutex first recovers it before unlocking it: (1) it makes sure
// no append of the dead is half done (log_mutex's own EOWNERDEAD repair
// settles an `appending` entry: appended if its tail was published, dropped
// if not); (2) it makes the dead's `appended` records durable and rolls them
// forward into the heap, in log order (their orecs are still locked by the
// dead, so nobody else wrote those words since: redo is exact); (3) it
// unlocks every orec locked with the dead's tag at a fresh tick of the shared
// clock (above every recorded version: INVARIANT clock-order), after the
// writes. A dead process's commit is thus seen whole (its record was
// appended) or not at all (it was not: its words were never written). Waiters
// look for a dead owner only after they have waited longer than a commit
// takes (durable_notice_stuck_lock): a live process is never recovered.
// INVARIANT (first-opener): the coordination state is (re)initialised only by
// an opener that holds the heap file's flock exclusively — no other process
// has the store open (a dead process holds no flock) — after it has recovered
// the log as a single process would; it then downgrades to the shared flock
// every multi-process opener holds. Openers serialise on the sidecar's flock.
// INVARIANT (one-sidecar): every process of an opening uses the same sidecar.
// The sidecar is named after the path an opener was given, so two names of
// one store (a symlink or hard link to the heap and the log) have two
// sidecars, and the one not in use may be a valid-looking leftover of an
// earlier opening: a joiner through it would coordinate with nobody (two
// orec tables, two logs' tails) and corrupt the store. The first opener
// writes a fresh random session number into the heap (session_offset: the
// mapped file of the store, so a joiner reads it from its mapping) and into
// its sidecar; a joiner whose sidecar names another session is refused.
// INVARIANT (no-lost-wakeup across processes): a committer that unlocked
// shared orecs issues a seq_cst fence and bumps the commit bell (seq_cst).
// Each process's holder thread, while retry() waiters are registered, reads
// the bell (seq_cst) and, when it changed, wakes every waiter linked on a
// shared orec (wake_waiters_in). A waiter whose check (W3, retry_wait.cpp)
// missed the commit's unlock precedes the fence in the seq_cst order, so the
// holder's later bell read sees the bump and its scan finds the waiter's links;
// a waiter that links after the scan sees the unlock in its check.
// INVARIANT (single-reserver) across processes: the inevitability token is
// also sidecar's token_mutex (robust); its next owner after a dead one clears
// every reserved bit of the shared table, which only the dead could have set.
#include "durable/shared_store.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <thread>
#include <vector>

#include "durable/checksum.hpp"
#include "durable/commit_hook.hpp"
#include "durable/durable_store.hpp"
#include "durable/fault_injection.hpp"
#include "durable/file_io.hpp"
#include "durable/redo_log.hpp"
#include "durable/store_file.hpp"
#include "optimist/detail/engine.hpp"
#include "stm/global_clock.hpp"
#include "stm/orec_table.hpp"
#include "stm/retry_wait.hpp"
#include "stm/word_memory.hpp"

namespace optimist::durable::detail {

namespace {

using optimist::detail::orec;
using optimist::detail::orec_is_locked;
using optimist::detail::orec_is_reserved;
using optimist::detail::orec_make_version;
using optimist::detail::orec_process_tag_mask;
using optimist::detail::orec_reserved_bit;

// The process's multi-process store (one at a time).
std::atomic<store_impl*> g_shared_store{nullptr};
// INVARIANT (one-shared-opener): claimed (false -> true) by an opener before
// it looks at anything, given back when it fails or its store closes. Two
// threads opening at once both found g_shared_store empty (it is set only at
// the end of the opening) and both installed their orecs in the engine.
std::atomic<bool> g_shared_store_claimed{false};

thread_local inflight_record* tls_inflight = nullptr;

std::uint64_t process_tag(unsigned slot) noexcept {
  return std::uint64_t{slot + 1} << 56;
}

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value,
           const timespec* timeout) noexcept {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, timeout, nullptr,
                   0);
}

void init_robust(pthread_mutex_t* m) {
  pthread_mutexattr_t a;
  ::pthread_mutexattr_init(&a);
  ::pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  ::pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  ::pthread_mutex_init(m, &a);
  ::pthread_mutexattr_destroy(&a);
}

// A session number for a new opening (INVARIANT one-sidecar): random, never
// zero (a store's session word before its first multi-process opening).
std::uint64_t new_session() noexcept {
  std::uint64_t n = 0;
  if (::getrandom(&n, sizeof n, 0) != static_cast<ssize_t>(sizeof n)) {
    n = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
        (static_cast<std::uint64_t>(::getpid()) << 40);
  }
  return n == 0 ? 1 : n;
}

// Locks a robust mutex; `repair` runs first if its last owner died holding it.
template <class Repair>
void lock_robust(pthread_mutex_t* m, Repair&& repair) {
  int rc = ::pthread_mutex_lock(m);
  if (rc == EOWNERDEAD) {
    repair();
    ::pthread_mutex_consistent(m);
    return;
  }
  if (rc != 0) {
    // Only a mutex unlocked without being made consistent gets here; every
    // path above makes it consistent.
    std::fprintf(stderr, "optimist::durable: a coordination mutex is unusable (%s)\n",
                 std::strerror(rc));
    std::abort();
  }
}

void raise_to(std::atomic<std::uint64_t>& value, std::uint64_t to) noexcept {
  std::uint64_t now = value.load(std::memory_order_acquire);
  while (now < to && !value.compare_exchange_weak(now, to, std::memory_order_acq_rel)) {
  }
}

// INVARIANT (sync-wakeup): a committer waiting for its record (A3) reads
// sync_bell, then `durable`, then tries sync_mutex, then sleeps on sync_bell
// unless it moved. `durable` is raised, and sync_mutex unlocked, before the
// bell is rung (all seq_cst): so the committer either sees the new state or
// its FUTEX_WAIT finds the bell moved (or is woken). Its 5 ms timeout is only
// for a dead leader, which rings nothing.
void ring_sync_bell(shared_header& h) noexcept {
  h.sync_bell.fetch_add(1, std::memory_order_seq_cst);
  futex(&h.sync_bell, FUTEX_WAKE, INT_MAX, nullptr);
}

// Raises the durable position and wakes the committers waiting for it.
void raise_durable(shared_header& h, std::uint64_t to) noexcept {
  raise_to(h.durable, to);
  ring_sync_bell(h);
}

[[noreturn]] void stall_forever() {
  if (const int fd = g_faults.stall_notify_fd.load(std::memory_order_relaxed); fd >= 0) {
    const char stalled = 's';
    if (::write(fd, &stalled, 1) != 1) std::abort();
  }
  for (;;) ::pause();
}

// Test seams (g_faults): appended records not yet durable, in every slot.
std::uint64_t uncovered_records(const shared_header& h) noexcept {
  const std::uint64_t durable = h.durable.load(std::memory_order_acquire);
  std::uint64_t n = 0;
  for (const process_slot& slot : h.slots) {
    for (const inflight_record& r : slot.records) {
      if (r.state.load(std::memory_order_acquire) != record_appended) continue;
      const std::uint64_t end = log_position(
          r.epoch.load(std::memory_order_relaxed),
          r.offset.load(std::memory_order_relaxed) + r.size.load(std::memory_order_relaxed));
      n += end > durable ? 1 : 0;
    }
  }
  return n;
}

// Whether no other slot has a commit between its append and its write-back.
bool others_written_back(const shared_header& h, unsigned mine) noexcept {
  for (unsigned i = 0; i < max_processes; ++i) {
    if (i == mine) continue;
    for (const inflight_record& r : h.slots[i].records) {
      if (r.state.load(std::memory_order_acquire) != record_free) return false;
    }
  }
  return true;
}

template <class Done>
bool wait_for_test(int seconds, Done&& done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return true;
}

// The log position after everything appended so far (a consistent pair of
// epoch and tail: a checkpoint resets the tail before it moves the epoch).
std::uint64_t appended_position(const shared_header& h) noexcept {
  for (;;) {
    const std::uint64_t e1 = h.epoch.load(std::memory_order_acquire);
    const std::uint64_t t = h.tail.load(std::memory_order_acquire);
    const std::uint64_t e2 = h.epoch.load(std::memory_order_acquire);
    if (e1 == e2) return log_position(e1, tail_offset(t));
  }
}

// A sync failure leaves a record that may or may not be durable, holding orec
// locks: the others can sort that out only by recovering this process.
[[noreturn]] void die_for_recovery(const std::string& path, int error) {
  std::fprintf(stderr,
               "optimist::durable: %s: cannot sync the shared log (%s); this process stops so "
               "that the others recover its commit\n",
               path.c_str(), std::strerror(error));
  std::abort();
}

// log_mutex's EOWNERDEAD repair: finish what its dead holder left half done.
void repair_log_state(store_impl& s) noexcept {
  shared_header& h = *s.shared;
  // A checkpoint past its commit point (the new epoch's header is written).
  log_header lh{};
  if (io().read_at(s.files.log_fd, &lh, sizeof lh, 0) == 0 && lh.checksum == header_checksum(lh) &&
      lh.epoch > h.epoch.load(std::memory_order_relaxed)) {
    h.tail.store(make_tail(0, page_size), std::memory_order_release);
    h.epoch.store(lh.epoch, std::memory_order_release);
    raise_durable(h, log_position(lh.epoch, page_size));
    s.files.log = lh;
  }
  // An append: it happened if its tail was published (INVARIANT one-log).
  const std::uint64_t epoch = h.epoch.load(std::memory_order_relaxed);
  const std::uint64_t end = tail_offset(h.tail.load(std::memory_order_relaxed));
  for (process_slot& slot : h.slots) {
    for (inflight_record& r : slot.records) {
      if (r.state.load(std::memory_order_acquire) != record_appending) continue;
      const bool published =
          r.epoch.load(std::memory_order_relaxed) == epoch &&
          r.offset.load(std::memory_order_relaxed) + r.size.load(std::memory_order_relaxed) <= end;
      r.state.store(published ? record_appended : record_free, std::memory_order_release);
    }
  }
}

// Holds log_mutex for a scope; its repair runs first if a dead process held it.
class log_lock {
 public:
  explicit log_lock(store_impl& s) : mutex_(&s.shared->log_mutex) {
    lock_robust(mutex_, [&] { repair_log_state(s); });
  }
  ~log_lock() { ::pthread_mutex_unlock(mutex_); }
  log_lock(const log_lock&) = delete;
  log_lock& operator=(const log_lock&) = delete;

 private:
  pthread_mutex_t* mutex_;
};

void ring_commit_bell(shared_header& h) noexcept {
  // INVARIANT no-lost-wakeup across processes.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  h.commit_bell.fetch_add(1, std::memory_order_seq_cst);
  futex(&h.commit_bell, FUTEX_WAKE, INT_MAX, nullptr);
}

// Applies one record read back from the log to the heap: only words whose
// orec the dead process still holds (all of them, for an appended record).
bool roll_forward(store_impl& s, const inflight_record& r, std::uint64_t tag) {
  const std::uint64_t offset = r.offset.load(std::memory_order_relaxed);
  const std::uint64_t size = r.size.load(std::memory_order_relaxed);
  const std::uint64_t log_size = s.files.header.log_size;
  // (Without wrapping: a damaged size near 2^64 made offset + size small.)
  if (size < sizeof(record_header) || size > log_size || offset > log_size - size) return false;
  std::vector<unsigned char> bytes;
  try {
    bytes.resize(size);
  } catch (const std::bad_alloc&) {
    // Called under noexcept (recover_dead_slot): say why this process stops.
    std::fprintf(stderr,
                 "optimist::durable: %s: no memory to roll a dead process's logged commit "
                 "forward (%llu bytes); this process stops (reopen the store to recover)\n",
                 s.path.c_str(), static_cast<unsigned long long>(size));
    std::abort();
  }
  if (io().read_at(s.files.log_fd, bytes.data(), size, offset) != 0) return false;
  record_header rh;
  std::memcpy(&rh, bytes.data(), sizeof rh);
  if (rh.magic != record_magic || record_bytes(rh.count) != size) return false;
  std::memset(bytes.data() + offsetof(record_header, checksum), 0, sizeof rh.checksum);
  if (checksum64(bytes.data(), size) != rh.checksum) return false;
  const auto base = reinterpret_cast<std::uintptr_t>(s.base);
  for (std::uint32_t i = 0; i < rh.count; ++i) {
    record_entry e;
    std::memcpy(&e, bytes.data() + sizeof rh + i * sizeof e, sizeof e);
    if (e.offset % 8 != 0 || e.offset < page_size || e.offset + 8 > s.size) continue;
    const std::uint64_t v =
        s.shared_orecs[(e.offset >> 3) & (shared_orec_count - 1)].load(std::memory_order_acquire);
    if (!orec_is_locked(v) || (v & orec_process_tag_mask) != tag) continue;
    optimist::detail::store_word(base + e.offset, e.value, e.mask);
  }
  return true;
}

// With the dead slot's `alive` mutex owned (EOWNERDEAD): INVARIANT dead-owner.
void recover_dead_slot(store_impl& s, unsigned dead, bool holding_log) noexcept {
  shared_header& h = *s.shared;
  process_slot& slot = h.slots[dead];
  if (!holding_log) {
    // (1) no append of the dead half done. A process's threads die one by
    // one: its `alive` holder may be gone while its committing thread, dying
    // too, still holds log_mutex without it showing EOWNERDEAD yet. So the
    // trylock is retried until the mutex is ours or no append of the dead is
    // left (a live holder repaired it when it took the mutex).
    for (;;) {
      const int rc = ::pthread_mutex_trylock(&h.log_mutex);
      if (rc == EOWNERDEAD) {
        repair_log_state(s);
        ::pthread_mutex_consistent(&h.log_mutex);
        ::pthread_mutex_unlock(&h.log_mutex);
        break;
      }
      if (rc == 0) {
        ::pthread_mutex_unlock(&h.log_mutex);  // free: the dead holds it no more
        break;
      }
      bool appending = false;
      for (const inflight_record& r : slot.records) {
        appending = appending || r.state.load(std::memory_order_acquire) == record_appending;
      }
      if (!appending) break;
      ::sched_yield();
    }
  }
  // (2) roll the appended records forward, in log order, once durable. (A
  // fixed array: this runs under noexcept, in a survivor, and must not fail.)
  std::array<inflight_record*, records_per_process> appended{};
  std::size_t count = 0;
  for (inflight_record& r : slot.records) {
    if (r.state.load(std::memory_order_acquire) == record_appended) appended[count++] = &r;
  }
  const std::uint64_t tag = process_tag(dead);
  if (g_faults.skip_roll_forward.load(std::memory_order_relaxed)) count = 0;
  if (count != 0) {
    std::sort(appended.begin(), appended.begin() + count,
              [](inflight_record* a, inflight_record* b) {
                return log_position(a->epoch.load(std::memory_order_relaxed),
                                    a->offset.load(std::memory_order_relaxed)) <
                       log_position(b->epoch.load(std::memory_order_relaxed),
                                    b->offset.load(std::memory_order_relaxed));
              });
    const std::uint64_t target = appended_position(h);
    if (h.durable.load(std::memory_order_acquire) < target) {
      if (int e = io().sync(s.files.log_fd); e != 0) die_for_recovery(s.path, e);
      raise_durable(h, target);
    }
    for (std::size_t i = 0; i < count; ++i) {
      if (!roll_forward(s, *appended[i], tag)) {
        std::fprintf(stderr,
                     "optimist::durable: %s: a dead process's logged commit cannot be read back "
                     "from the log; this process stops (reopen the store to recover)\n",
                     s.path.c_str());
        std::abort();
      }
    }
  }
  // (3) unlock its orecs at a fresh tick, after the writes (release).
  const std::uint64_t fresh = h.clock.fetch_add(1, std::memory_order_seq_cst) + 1;
  for (std::size_t i = 0; i < shared_orec_count; ++i) {
    std::atomic<std::uint64_t>& lock = s.shared_orecs[i];
    std::uint64_t v = lock.load(std::memory_order_acquire);
    while (orec_is_locked(v) && (v & orec_process_tag_mask) == tag &&
           !lock.compare_exchange_weak(v, orec_make_version(fresh), std::memory_order_release,
                                       std::memory_order_acquire)) {
    }
  }
  for (inflight_record& r : slot.records) r.state.store(record_free, std::memory_order_release);
  slot.pid.store(0, std::memory_order_release);
  h.recoveries.fetch_add(1, std::memory_order_relaxed);
  s.dead_recovered.fetch_add(1, std::memory_order_relaxed);
  ring_commit_bell(h);  // its released words may be what a retry() waits for
}

// Recovers slot `i` if its process is dead (returns true then).
bool check_slot(store_impl& s, unsigned i, bool holding_log) noexcept {
  if (g_faults.skip_dead_owner_recovery.load(std::memory_order_relaxed)) return false;
  pthread_mutex_t* alive = &s.shared->slots[i].alive;
  int rc = ::pthread_mutex_trylock(alive);
  if (rc == 0) {
    ::pthread_mutex_unlock(alive);  // a free slot
    return false;
  }
  if (rc != EOWNERDEAD) return false;  // alive (EBUSY)
  recover_dead_slot(s, i, holding_log);
  ::pthread_mutex_consistent(alive);
  ::pthread_mutex_unlock(alive);
  return true;
}

void clear_dead_reservations(store_impl& s) noexcept {
  for (std::size_t i = 0; i < shared_orec_count; ++i) {
    std::atomic<std::uint64_t>& lock = s.shared_orecs[i];
    std::uint64_t v = lock.load(std::memory_order_acquire);
    while (!orec_is_locked(v) && orec_is_reserved(v) &&
           !lock.compare_exchange_weak(v, v & ~orec_reserved_bit, std::memory_order_release,
                                       std::memory_order_acquire)) {
    }
  }
}

}  // namespace

// ---- opening and closing ---------------------------------------------------

void store_impl::open_shared() {
  if (opts.mode != durability::full) {
    throw_store_error(
        path,
        "durability::relaxed keeps a private heap per process; options::multi_process "
        "needs durability::full");
  }
  bool unclaimed = false;
  if (!g_shared_store_claimed.compare_exchange_strong(unclaimed, true, std::memory_order_acq_rel)) {
    throw_store_error(
        path, "another options::multi_process store is open in this process (one at a time)");
  }
  struct claim {
    bool kept = false;
    ~claim() {
      if (!kept) g_shared_store_claimed.store(false, std::memory_order_release);
    }
  } opening;
  const std::string sidecar = path + "-shm";
  sidecar_fd = ::open(sidecar.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (sidecar_fd < 0) throw_store_error(sidecar, "cannot be opened or created", errno);
  void* side = MAP_FAILED;
  bool alone = false;
  auto undo = [&] {
    if (side != MAP_FAILED) ::munmap(side, sidecar_size());
    if (base != nullptr) ::munmap(base, size);
    if (files.heap_fd >= 0) ::close(files.heap_fd);
    if (files.log_fd >= 0) ::close(files.log_fd);
    ::close(sidecar_fd);  // releases the sidecar's flock
    shared = nullptr;
    base = nullptr;
  };
  // Every record holds at least one entry: a log of more than max_shared_records of the
  // smallest could overflow an epoch's record count (shared_store.hpp).
  const std::uint64_t largest_log = max_shared_records * record_bytes(1);
  auto refuse_log_size = [&] {
    throw_store_error(path, "the log is too large for options::multi_process (at most " +
                                std::to_string(largest_log) + " bytes)");
  };
  try {
    while (::flock(sidecar_fd, LOCK_EX) != 0) {
      if (errno != EINTR) throw_store_error(sidecar, "cannot be locked", errno);
    }
    if (opts.log_size > largest_log) refuse_log_size();  // before creating a store that size
    files = open_store_files(path, opts.heap_size, opts.log_size, opts.create_if_missing, &alone);
    size = files.header.heap_size;
    if (files.header.log_size > largest_log) refuse_log_size();
    auto refuse_epoch = [&] {
      if (files.log.epoch >= max_shared_epoch) {
        throw_store_error(path, "the log has used all its epochs for options::multi_process (" +
                                    std::to_string(max_shared_epoch) +
                                    " checkpoints); copy the store to a new one");
      }
    };
    if (alone) {
      refuse_epoch();  // (a joiner's header is checked under the log lock: below)
      // INVARIANT first-opener.
      recover_and_map();
      if (::ftruncate(sidecar_fd, 0) != 0 ||
          ::ftruncate(sidecar_fd, static_cast<off_t>(sidecar_size())) != 0) {
        throw_store_error(sidecar, "cannot be sized", errno);
      }
      side = ::mmap(nullptr, sidecar_size(), PROT_READ | PROT_WRITE, MAP_SHARED, sidecar_fd, 0);
      if (side == MAP_FAILED) throw_store_error(sidecar, "cannot be mapped", errno);
      shared = static_cast<shared_header*>(side);
      std::memset(side, 0, sidecar_orecs_offset());  // the orecs are zero: ftruncate
      shared_header& h = *shared;
      init_robust(&h.log_mutex);
      init_robust(&h.sync_mutex);
      init_robust(&h.token_mutex);
      for (process_slot& s : h.slots) init_robust(&s.alive);
      h.epoch.store(epoch, std::memory_order_relaxed);
      h.tail.store(make_tail(0, page_size), std::memory_order_relaxed);
      h.durable.store(log_position(epoch, page_size), std::memory_order_relaxed);
      h.store_id = files.header.store_id;
      h.session = new_session();  // INVARIANT one-sidecar
      std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(base + session_offset))
          .store(h.session, std::memory_order_relaxed);
      h.layout = sidecar_layout;
      h.orec_count = shared_orec_count;
      std::atomic_ref<std::uint64_t>(h.magic).store(sidecar_magic, std::memory_order_release);
      if (::flock(files.heap_fd, LOCK_SH | LOCK_NB) != 0) {
        throw_store_error(path, "lost its lock while opening (a single-process opener?)", errno);
      }
    } else {
      struct stat st {};
      if (::fstat(sidecar_fd, &st) != 0 || static_cast<std::size_t>(st.st_size) != sidecar_size()) {
        throw_store_error(sidecar, "is not this store's coordination state (size)");
      }
      side = ::mmap(nullptr, sidecar_size(), PROT_READ | PROT_WRITE, MAP_SHARED, sidecar_fd, 0);
      if (side == MAP_FAILED) throw_store_error(sidecar, "cannot be mapped", errno);
      shared = static_cast<shared_header*>(side);
      if (std::atomic_ref<std::uint64_t>(shared->magic).load(std::memory_order_acquire) !=
              sidecar_magic ||
          shared->store_id != files.header.store_id || shared->layout != sidecar_layout ||
          shared->orec_count != shared_orec_count) {
        throw_store_error(sidecar, "is not this store's coordination state");
      }
      void* heap = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, files.heap_fd, 0);
      if (heap == MAP_FAILED) throw_store_error(path, "cannot map the heap", errno);
      base = static_cast<unsigned char*>(heap);
      if (std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(base + session_offset))
              .load(std::memory_order_relaxed) != shared->session) {
        // INVARIANT one-sidecar: the store is open through another name.
        throw_store_error(sidecar,
                          "is left from an earlier opening: the store is open under another "
                          "name (a symlink or hard link); every process must open it by the same "
                          "path");
      }
      // INVARIANT joiner-reads-header-locked: a checkpoint rewrites the log
      // header holding log_mutex (checkpoint_shared_locked), so only a read
      // under it sees one epoch's header whole; open_store_files read it
      // unlocked and left its checksum to this read. (Before, a joiner that
      // raced a checkpoint could refuse a live store as "corrupted".)
      log_header lh{};
      int read_error = 0;
      {
        log_lock locked(*this);  // (a throwing read must not keep it for ever)
        read_error = io().read_at(files.log_fd, &lh, sizeof lh, 0);
        epoch = shared->epoch.load(std::memory_order_acquire);
      }
      if (read_error != 0) {
        throw_store_error(log_path_for(path), "cannot read the log header", read_error);
      }
      if (lh.checksum != header_checksum(lh)) {
        throw_store_error(log_path_for(path), "log header is corrupted");
      }
      files.log = lh;
      refuse_epoch();
    }
    shared_orecs = reinterpret_cast<std::atomic<std::uint64_t>*>(static_cast<unsigned char*>(side) +
                                                                 sidecar_orecs_offset());
    // A slot: a free one, or a dead one (recovered first: INVARIANT dead-owner).
    bool found = false;
    for (unsigned i = 0; i < max_processes && !found; ++i) {
      pthread_mutex_t* alive = &shared->slots[i].alive;
      int rc = ::pthread_mutex_trylock(alive);
      if (rc == EOWNERDEAD && g_faults.skip_dead_owner_recovery.load(std::memory_order_relaxed)) {
        ::pthread_mutex_unlock(alive);  // negative control: left dead (not recoverable)
        continue;
      }
      if (rc == EOWNERDEAD) {
        recover_dead_slot(*this, i, false);
        ::pthread_mutex_consistent(alive);
      }
      if (rc == 0 || rc == EOWNERDEAD) {
        ::pthread_mutex_unlock(alive);
        slot = i;
        found = true;
      }
    }
    if (!found) {
      throw_store_error(path, "is open in " + std::to_string(max_processes) +
                                  " processes already (options::multi_process allows no more)");
    }
    std::atomic<int> started{0};
    holder = std::thread([this, &started] { run_holder(&started); });
    while (started.load(std::memory_order_acquire) == 0) std::this_thread::yield();
    if (started.load(std::memory_order_acquire) < 0) {
      holder.join();
      throw_store_error(path, "cannot hold its process slot");
    }
  } catch (...) {
    undo();
    throw;
  }
  // The engine's side (runtime/stm/orec_table.hpp).
  optimist::detail::shared_orec_map& m = optimist::detail::g_shared_orecs;
  m.heap_base = reinterpret_cast<std::uintptr_t>(base);
  m.heap_begin = m.heap_base + page_size;
  m.heap_end = m.heap_base + size;
  m.table = reinterpret_cast<orec*>(shared_orecs);
  m.mask = shared_orec_count - 1;
  m.clock = &shared->clock;
  m.tag = process_tag(slot);
  m.active.store(true, std::memory_order_release);
  g_shared_store.store(this, std::memory_order_release);
  opening.kept = true;  // close_shared gives it back
  try {
    register_store(this);
  } catch (...) {
    close_shared();
    throw;
  }
  ::flock(sidecar_fd, LOCK_UN);
}

void store_impl::run_holder(std::atomic<int>* started) {
  process_slot& mine = shared->slots[slot];
  int rc = ::pthread_mutex_lock(&mine.alive);
  if (rc == EOWNERDEAD) {
    // Died between our check and now: recover it again (nothing, normally).
    recover_dead_slot(*this, slot, false);
    ::pthread_mutex_consistent(&mine.alive);
  } else if (rc != 0) {
    started->store(-1, std::memory_order_release);
    return;
  }
  mine.pid.store(static_cast<std::int32_t>(::getpid()), std::memory_order_release);
  mine.commits.store(0, std::memory_order_relaxed);
  started->store(1, std::memory_order_release);
  // INVARIANT no-lost-wakeup across processes: the watcher half.
  std::uint32_t seen = shared->commit_bell.load(std::memory_order_seq_cst);
  const orec* first = reinterpret_cast<const orec*>(shared_orecs);
  const orec* last = first + shared_orec_count;
  while (!holder_stop.load(std::memory_order_acquire)) {
    if (!optimist::detail::waiters_present() ||
        g_faults.skip_cross_process_wakeup.load(std::memory_order_relaxed)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    const std::uint32_t bell = shared->commit_bell.load(std::memory_order_seq_cst);
    if (bell != seen) {
      seen = bell;
      optimist::detail::wake_waiters_in(first, last);
      continue;
    }
    timespec wait{0, 20 * 1000 * 1000};
    futex(&shared->commit_bell, FUTEX_WAIT, bell, &wait);
  }
  mine.pid.store(0, std::memory_order_release);
  ::pthread_mutex_unlock(&mine.alive);
}

void store_impl::close_shared() noexcept {
  try {
    // Leaves an empty log, as in one process (it waits for the commits other
    // processes have in flight, which are about to write back).
    if (failure.empty()) checkpoint_shared();
  } catch (...) {
  }
  optimist::detail::g_shared_orecs.active.store(false, std::memory_order_release);
  g_shared_store.store(nullptr, std::memory_order_release);
  unregister_store(this);
  g_shared_store_claimed.store(false, std::memory_order_release);  // INVARIANT one-shared-opener
  holder_stop.store(true, std::memory_order_release);
  if (holder.joinable()) holder.join();
  ::munmap(shared, sidecar_size());
  ::munmap(base, size);
  ::close(files.heap_fd);  // releases the shared flock
  ::close(files.log_fd);
  ::close(sidecar_fd);
}

// ---- commit -----------------------------------------------------------------

void store_impl::commit_shared(std::vector<unsigned char>& record) {
  shared_header& h = *shared;
  const std::uint64_t log_size = files.header.log_size;
  const std::uint64_t bytes = record.size();
  if (bytes > log_size - page_size) {
    throw store_error("optimist::durable: " + path + ": a transaction's redo record of " +
                      std::to_string(bytes) + " bytes does not fit in the log of " +
                      std::to_string(log_size) + " bytes (options::log_size)");
  }
  if (g_faults.shared_stall.load(std::memory_order_relaxed) ==
      durable_faults::stall_holding_locks) {
    stall_forever();
  }
  inflight_record* entry = nullptr;
  std::uint64_t mine = 0;
  for (;;) {
    log_lock locked(*this);
    {
      std::lock_guard<std::mutex> guard(mutex);
      check_failed();
    }
    std::uint64_t e = h.epoch.load(std::memory_order_acquire);
    std::uint64_t tail = h.tail.load(std::memory_order_acquire);
    if (tail_offset(tail) + bytes > log_size) {
      checkpoint_shared_locked();  // the log is full
      e = h.epoch.load(std::memory_order_acquire);
      tail = h.tail.load(std::memory_order_acquire);
    }
    for (inflight_record& r : h.slots[slot].records) {
      if (r.state.load(std::memory_order_acquire) == record_free) {
        entry = &r;
        break;
      }
    }
    if (entry == nullptr) {  // every entry busy: let a commit of ours finish
      std::this_thread::yield();
      continue;
    }
    const std::uint64_t at = tail_offset(tail);
    seal_record(record.data(), bytes, e, tail_records(tail) + 1);
    entry->epoch.store(e, std::memory_order_relaxed);
    entry->offset.store(at, std::memory_order_relaxed);
    entry->size.store(bytes, std::memory_order_relaxed);
    entry->state.store(record_appending, std::memory_order_release);
    if (int err = io().write_at(files.log_fd, record.data(), bytes, at); err != 0) {
      entry->state.store(record_free, std::memory_order_release);
      std::lock_guard<std::mutex> guard(mutex);
      if (failure.empty()) failure = "optimist::durable: " + path + ": cannot append to the log";
      throw_store_error(path, "cannot append to the log", err);
    }
    // The publication point (INVARIANT one-log).
    h.tail.store(make_tail(tail_records(tail) + 1, at + bytes), std::memory_order_release);
    entry->state.store(record_appended, std::memory_order_release);
    std::uint64_t slots = h.last_slots.load(std::memory_order_relaxed);
    h.last_slots.store((slots << 8) | (slot + 1), std::memory_order_relaxed);
    mine = log_position(e, at + bytes);
    break;
  }
  h.commits.fetch_add(1, std::memory_order_relaxed);
  h.slots[slot].commits.fetch_add(1, std::memory_order_relaxed);
  commits.fetch_add(1, std::memory_order_relaxed);
  tls_inflight = entry;
  // A leader gathering a batch waits for appends (INVARIANT gather-wakeup).
  h.append_bell.fetch_add(1, std::memory_order_seq_cst);
  if (h.gathering.load(std::memory_order_seq_cst) != 0) {
    futex(&h.append_bell, FUTEX_WAKE, INT_MAX, nullptr);
  }
  // Group commit (A3): one fdatasync serves every process that appended before it.
  for (;;) {
    const std::uint32_t bell = h.sync_bell.load(std::memory_order_seq_cst);
    if (h.durable.load(std::memory_order_acquire) >= mine) break;
    const int rc = ::pthread_mutex_trylock(&h.sync_mutex);
    if (rc == EBUSY) {
      // A leader is gathering or syncing: its sync covers this record if the
      // record was appended before it took its target. Wait for it (INVARIANT
      // sync-wakeup); the timeout only matters if the leader died (then the
      // trylock answers EOWNERDEAD).
      timespec wait{0, 5 * 1000 * 1000};
      futex(&h.sync_bell, FUTEX_WAIT, bell, &wait);
      continue;
    }
    if (rc == EOWNERDEAD) {
      // A dead leader's sync may not have happened: the durable position it
      // did not raise is raised by this process's sync below.
      ::pthread_mutex_consistent(&h.sync_mutex);
    } else if (rc != 0) {
      std::fprintf(stderr, "optimist::durable: the sync mutex is unusable (%s)\n",
                   std::strerror(rc));
      std::abort();
    }
    // Unlocked, then rung (INVARIANT sync-wakeup): a follower that found the
    // mutex taken is woken once it is free, covered or not.
    struct unlock_at_exit {
      shared_header& h;
      ~unlock_at_exit() {
        ::pthread_mutex_unlock(&h.sync_mutex);
        ring_sync_bell(h);
      }
    } unlock{h};
    if (h.durable.load(std::memory_order_acquire) >= mine) break;
    lead_sync_shared();
  }
  if (g_faults.shared_stall.load(std::memory_order_relaxed) ==
      durable_faults::stall_before_writeback) {
    stall_forever();
  }
}

// The group-commit leader (holding sync_mutex): gathers, syncs, raises `durable`.
void store_impl::lead_sync_shared() {
  shared_header& h = *shared;
  // Other processes committing lately: give them a moment to append to this
  // sync — until about one record per recent committer is waiting for it
  // (counted from where the last sync began), at most half a sync. The
  // followers do not queue on sync_mutex (they wait on sync_bell), so those
  // whose records the last sync covered are already on their next commit.
  const std::uint64_t recent = h.last_slots.load(std::memory_order_relaxed);
  unsigned distinct = 0;
  for (unsigned i = 0; i < 8; ++i) {
    const std::uint64_t b = (recent >> (8 * i)) & 0xFF;
    bool seen = b == 0;
    for (unsigned j = 0; j < i; ++j) seen = seen || ((recent >> (8 * j)) & 0xFF) == b;
    distinct += seen ? 0 : 1;
  }
  if (const std::uint64_t gather = g_faults.leader_gathers_records.load(std::memory_order_relaxed);
      gather != 0) {
    wait_for_test(10, [&] { return uncovered_records(h) >= gather; });
  } else if (distinct > 1) {
    const auto patience = std::chrono::duration<double>(std::min(sync_seconds / 2, 0.002));
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(patience);
    auto waiting = [&] {
      const std::uint64_t e = h.epoch.load(std::memory_order_acquire);
      if (e != h.sync_epoch.load(std::memory_order_relaxed)) return std::uint64_t{~0ull >> 1};
      return tail_records(h.tail.load(std::memory_order_acquire)) -
             tail_records(h.sync_began.load(std::memory_order_relaxed));
    };
    // INVARIANT (gather-wakeup): the leader sets `gathering`, then reads
    // append_bell, then the tail; an appender publishes the tail, bumps the
    // bell, then reads `gathering` (all seq_cst): either the appender sees
    // `gathering` and wakes the leader, or the leader's bell read sees the bump
    // and its tail read the record, or its FUTEX_WAIT finds the bell moved.
    h.gathering.store(1, std::memory_order_seq_cst);
    for (;;) {
      const std::uint32_t seen = h.append_bell.load(std::memory_order_seq_cst);
      if (waiting() >= distinct) break;
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) break;
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec wait{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
      futex(&h.append_bell, FUTEX_WAIT, seen, &wait);
    }
    h.gathering.store(0, std::memory_order_seq_cst);
  }
  if (g_faults.shared_stall.load(std::memory_order_relaxed) == durable_faults::stall_as_leader) {
    stall_forever();
  }
  const std::uint64_t target = appended_position(h);
  h.sync_epoch.store(target >> position_shift, std::memory_order_relaxed);  // under sync_mutex
  h.sync_began.store(h.tail.load(std::memory_order_acquire), std::memory_order_relaxed);
  auto start = std::chrono::steady_clock::now();
  if (int err = io().sync(files.log_fd); err != 0) die_for_recovery(path, err);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  sync_seconds = 0.8 * sync_seconds + 0.2 * took.count();  // under sync_mutex
  h.syncs.fetch_add(1, std::memory_order_relaxed);
  syncs.fetch_add(1, std::memory_order_relaxed);
  raise_durable(h, target);
  if (g_faults.leader_holds_until_followers_done.load(std::memory_order_relaxed)) {
    const bool done = wait_for_test(10, [&] { return others_written_back(h, slot); });
    g_faults.followers_done_while_leading.store(done ? 1 : -1, std::memory_order_relaxed);
  }
}

void store_impl::written_back_shared() noexcept {
  if (tls_inflight != nullptr) {
    tls_inflight->state.store(record_free, std::memory_order_release);
    tls_inflight = nullptr;
  }
}

// ---- checkpoints --------------------------------------------------------------

void store_impl::checkpoint_shared() {
  log_lock locked(*this);
  checkpoint_shared_locked();
}

void store_impl::checkpoint_shared_locked() {
  // INVARIANT checkpoint-quiescent (checkpoint.cpp), across processes: no
  // append while log_mutex is held; wait until every appended record is
  // written back (recovering dead processes), then flush and move the epoch.
  shared_header& h = *shared;
  {
    std::lock_guard<std::mutex> guard(mutex);
    check_failed();
  }
  const std::uint64_t target = appended_position(h);
  if (h.durable.load(std::memory_order_acquire) < target) {
    if (int e = io().sync(files.log_fd); e != 0) die_for_recovery(path, e);
    raise_durable(h, target);
  }
  for (;;) {
    bool busy = false;
    for (unsigned i = 0; i < max_processes; ++i) {
      for (const inflight_record& r : h.slots[i].records) {
        if (r.state.load(std::memory_order_acquire) != record_appended) continue;
        busy = true;
        if (i != slot) check_slot(*this, i, true);
        break;
      }
    }
    if (!busy) break;
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  auto give_up = [&](const std::string& what, int error, bool header_touched) {
    // The new epoch's header may be in the log file: the other processes would go on appending
    // records of the old epoch, which a later sync of the log makes stale (recovery would skip
    // them). So this process stops holding log_mutex, and the next one to take it finishes the
    // checkpoint (repair_log_state adopts the new epoch: the heap is synced, every appended
    // record was written back) or finds the header unchanged.
    if (header_touched) die_for_recovery(path, error);
    std::lock_guard<std::mutex> guard(mutex);
    if (failure.empty()) failure = "optimist::durable: " + path + ": " + what;
    throw_store_error(path, what, error);
  };
  const log_header next = write_next_epoch(h.epoch.load(std::memory_order_acquire), give_up);
  // After the commit point; log_mutex's repair finishes these if we die here.
  h.tail.store(make_tail(0, page_size), std::memory_order_release);
  h.epoch.store(next.epoch, std::memory_order_release);
  raise_durable(h, log_position(next.epoch, page_size));
  files.log = next;
  epoch = next.epoch;
  checkpoints.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace optimist::durable::detail

// ---- the engine's hooks (commit_hook.hpp) -------------------------------------

namespace optimist::detail {

using durable::detail::g_shared_store;
using durable::detail::store_impl;

void durable_notice_stuck_lock(const std::atomic<std::uint64_t>& lock,
                               std::uint64_t value) noexcept {
  (void)lock;
  store_impl* s = g_shared_store.load(std::memory_order_acquire);
  if (s == nullptr) return;
  const std::uint64_t tag = value & orec_process_tag_mask;
  if (tag == 0) return;
  const unsigned owner = static_cast<unsigned>(tag >> 56) - 1;
  if (owner == s->slot || owner >= durable::detail::max_processes) return;
  durable::detail::check_slot(*s, owner, false);
}

void durable_shared_committed(const lock_entry*, const lock_entry*) noexcept {
  store_impl* s = g_shared_store.load(std::memory_order_acquire);
  if (s != nullptr) durable::detail::ring_commit_bell(*s->shared);
}

void durable_acquire_shared_token() noexcept {
  store_impl* s = g_shared_store.load(std::memory_order_acquire);
  if (s == nullptr) return;
  durable::detail::lock_robust(&s->shared->token_mutex,
                               [&] { durable::detail::clear_dead_reservations(*s); });
}

void durable_release_shared_token() noexcept {
  store_impl* s = g_shared_store.load(std::memory_order_acquire);
  if (s != nullptr) ::pthread_mutex_unlock(&s->shared->token_mutex);
}

}  // namespace optimist::detail
