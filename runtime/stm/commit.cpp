// The commit protocol of optimist's word-based STM.
//
// Design: lazy (commit-time) locking with a redo log, a global version clock
// and snapshot extension — the TL2 / TinySTM-LSA family.
//
//   begin     snapshot := clock
//   read w    if w is in the redo log, answer from it; else read orec(w),
//             the word, fence, orec(w) again (orec-seqlock); a locked orec makes
//             the reader wait briefly, then abort. If the version v is newer
//             than the snapshot, try to extend: raise the clock to >= v,
//             validate every read, then snapshot := clock (a read need not
//             abort because an unrelated word changed).
//   write w   append to the redo log; shared memory is not touched.
//   commit    read-only: nothing to do. Otherwise lock the orec of every
//             written word (CAS; a lock held by another committer is waited for
//             briefly, then this transaction aborts; a reserved orec — held by
//             the inevitable transaction — aborts at once), t := clock + 1
//             (the clock is not incremented: global_clock.hpp), validate the
//             read set, write the log back, unlock every orec with version t.
//             Every commit path takes t from commit_stamp() (global_clock.hpp):
//             deleting commits tick the clock (INVARIANT reclaim-safe).
//
// Memory orders: the lock CAS, the clock accesses, the first orec load of a
// read and every validation load are sequentially consistent, through the
// named helpers of global_clock.hpp (orec_try_lock, clock_now /
// clock_raise_to / commit_stamp, orec_load_checked). The happens-before
// argument is there (INVARIANT clock-order, "Memory model"); acquire loads
// would let an extension or a commit-time validation miss a committer that had
// locked the word but read the old clock. tests/stm/litmus_test.cpp checks the
// shapes.
//
// INVARIANT (opacity): every value a transaction acts on belongs to one
// consistent snapshot: each read is checked against its orec (orec-seqlock,
// orec_table.hpp) and against the snapshot time; when the snapshot moves the
// whole read set is revalidated first (read-set-valid, read_set.hpp). So even
// an attempt that will abort never sees a state that no serial execution
// produces.
// INVARIANT (atomic-writeback): no reader accepts a word written back by a
// commit before that commit's orecs are unlocked with its timestamp; the
// release fence after locking keeps data stores behind the lock stores.
// INVARIANT (rerun-kept): what carries one attempt of a block to the next —
// the pending irrevocable re-run (irrevocable_next), the abort count that
// drives backoff and starvation, the last conflict — belongs to that block;
// so does the task runtime's retry_propagates (a retry() leaves a task's
// block instead of waiting in it), set aside in the same way while the
// destructors and on-commit actions of a committed block run (hand_on_committed).
// Code that runs between two attempts (destructors of the objects a lost
// attempt allocated) may start transactions on this same descriptor: they run
// with that state set aside and the token released, and the state is restored
// afterwards; start() takes the token again for an irrevocable re-run. So a
// cleanup transaction can neither consume the re-run nor end it early, and
// become_inevitable() still restarts at most once (inevitability.cpp).
// INVARIANT (no-wait-cycle): committers never wait for each other without
// bound, and the inevitable transaction waits only for committers, so there
// is no deadlock; the only transaction that waits unboundedly is the
// inevitable one, and only on committers that are about to unlock.
//
// Why lazy locking: a transaction holds locks only for the few hundred
// nanoseconds of its commit, so readers rarely meet a lock, doomed attempts
// never block others, and a read-only transaction commits without a single
// write to shared memory. The cost is the redo-log lookup on reads after
// writes, kept to one instruction by the log's Bloom filter.
#include <atomic>
#include <exception>
#include <utility>

#include "durable/commit_hook.hpp"
#include "memory/epoch_reclaimer.hpp"
#include "optimist/detail/engine.hpp"
#include "profile/orec_sites.hpp"
#include "profile/recorder.hpp"
#include "stm/contention_manager.hpp"
#include "stm/global_clock.hpp"
#include "stm/serial_mode.hpp"
#include "stm/thread_census.hpp"
#include "stm/transaction.hpp"
#include "stm/word_memory.hpp"

namespace optimist::detail {

namespace {
// How long a committer waits for another committer's lock before aborting.
constexpr unsigned commit_wait_rounds = 18;
}  // namespace

const read_entry* transaction::first_invalid() const noexcept {
  for (const read_entry& r : reads) {
    // After a clock raise (extension) or the stamp read (commit): INVARIANT clock-order.
    std::uint64_t v = orec_load_checked(*r.lock);
    if (orec_is_locked(v)) {
      if (!orec_owned_by(v, this)) return &r;
      if (stale_lock_taken) {
        // We locked it ourselves at commit; it is valid only if nobody
        // committed to it between our read and our lock.
        for (const lock_entry& l : locks) {
          if (l.lock == r.lock) {
            if (orec_version(l.previous) != r.version) return &r;
            break;
          }
        }
      }
      continue;
    }
    if (orec_version(v) != r.version) return &r;
  }
  return nullptr;
}

const read_entry* transaction::try_extend(std::uint64_t version, bool shared) noexcept {
  if (shared_orecs_active()) [[unlikely]] {
    // INVARIANT two-clocks (orec_table.hpp): both clocks, then validation.
    std::uint64_t shared_now = shared ? shared_clock_raise_to(version) : shared_clock_now();
    std::uint64_t now = shared ? clock_now() : clock_raise_to(version);
    if (const read_entry* invalid = first_invalid()) return invalid;
    snapshot = now;
    shared_snapshot = shared_now;
    return nullptr;
  }
  std::uint64_t now = clock_raise_to(version);  // INVARIANT clock-order
  if (const read_entry* invalid = first_invalid()) return invalid;
  snapshot = now;
  return nullptr;
}

void transaction::revalidate() {
  if (mode == tx_mode::irrevocable) return;  // nothing it read can change
  if (const read_entry* invalid = try_extend(0)) {
    restart(abort_cause::read_invalidated, {invalid->site, invalid->lock});
  }
}

void transaction::wake_waiters_of_locks() noexcept {
  // INVARIANT no-lost-wakeup (retry_wait.cpp): after the seq_cst lock CASes,
  // one seq_cst load; the loop runs only while someone waits in retry().
  if (!waiters_present()) return;
  for (const lock_entry& l : locks) wake_waiters_on(*l.lock);
}

void transaction::release_locks() noexcept {
  for (const lock_entry& l : locks) l.lock->store(l.previous, std::memory_order_release);
  locks.clear();
}

void transaction::release_reservations() noexcept {
  // Only the token holder sets or clears the reserved bit, and committers
  // never change a reserved orec, so a plain store cannot lose an update.
  for (orec* lock : reserved) {
    std::uint64_t v = lock->load(std::memory_order_relaxed);
    if (!orec_is_locked(v) && orec_is_reserved(v)) {
      lock->store(v & ~orec_reserved_bit, std::memory_order_release);
    }
  }
  reserved.clear();
}

namespace {

// Commit-time locking: takes the orec of every word in the write log (the
// attempt restarts if one stays locked by another committer or is reserved
// by the inevitable transaction), and says whether any was a shared durable
// store's. MayBeShared false: no shared store is open (the caller looked);
// words of a store's heap were written only while it was open, so every
// orec is in the local table and the tests for shared ones drop out.
template <bool MayBeShared>
[[gnu::always_inline]] inline bool lock_write_set(transaction& tx) {
  bool wrote_shared = false;
  for (const write_entry& e : tx.writes) {
    orec& lock = MayBeShared ? orec_for(e.word) : local_orec_for(e.word);
    const bool shared = MayBeShared && is_shared_orec(&lock);
    wrote_shared = wrote_shared || shared;
    for (unsigned round = 0;; ++round) {
      std::uint64_t v = lock.load(std::memory_order_relaxed);
      if (orec_is_locked(v)) {
        if (orec_owned_by(v, &tx)) break;  // another word of ours maps to the same orec
        if (round < commit_wait_rounds) {
          wait_round(round);
          continue;
        }
        tx.release_locks();
        // DURABLE HOOK: a lock held this long may belong to a dead process.
        if (shared) durable_notice_stuck_lock(lock, v);
        tx.restart(abort_cause::commit_locked, {e.site, &lock});
      }
      if (orec_is_reserved(v)) {
        tx.release_locks();
        tx.restart(abort_cause::inevitable, {e.site, &lock});
      }
      const std::uint64_t locked =
          MayBeShared ? orec_locked_value(lock, &tx) : orec_make_locked(&tx);
      if (orec_try_lock(lock, v, locked)) {
        tx.locks.push_back({&lock, v});
        // A shared version is not comparable with `snapshot`: check it at validation.
        if (shared || orec_version(v) > tx.snapshot) tx.stale_lock_taken = true;
        break;
      }
    }
  }
  return wrote_shared;
}

}  // namespace

void transaction::commit_writer() {
  locks.reserve(writes.size());                          // may throw: nothing is locked yet
  if (recording) replaced_sites.reserve(writes.size());  // the same
  stale_lock_taken = false;
  // A shared durable store's orecs (INVARIANT two-clocks). While none is open
  // (one load here), every written word's orec is in the local table: no
  // test per entry.
  const bool wrote_shared =
      shared_orecs_active() ? lock_write_set<true>(*this) : lock_write_set<false>(*this);
  if (recording) {
    // INVARIANT sites-of-commits: published while the orecs are locked (a
    // reader that meets the lock is told this write), put back if the commit
    // fails validation below.
    replaced_sites.clear();
    for (const write_entry& e : writes) {
      std::atomic<site_key>& entry = site_of(orec_for(e.word));
      replaced_sites.push_back(entry.load(std::memory_order_relaxed));  // room reserved
      entry.store(pack_site(e.site), std::memory_order_relaxed);
    }
  }
  // INVARIANT atomic-writeback: the lock stores above become visible before
  // any data store below.
  std::atomic_thread_fence(std::memory_order_release);
  // Deleting commits and traced ones take a stamp of their own (reclamation
  // needs the clock to move; trace arrows need unique commits).
  const std::uint64_t timestamp =
      commit_stamp({.wrote = true,
                    .deleted = !deletions.empty(),
                    .unique = g_tracing.load(std::memory_order_relaxed)});
  // INVARIANT two-clocks: the shared stamp, too, is read after every lock.
  const std::uint64_t shared_timestamp = wrote_shared ? shared_commit_stamp() : 0;
  // Stamps are shared between commits, so TL2's "nobody committed since my
  // snapshot" test on the clock does not apply; the thread census gives it
  // for the case of one thread (INVARIANT sole-thread, thread_census.hpp).
  // Otherwise validate whenever something was read. (The census counts this
  // process only: while a shared store is open, other processes commit too.)
  if (census_alone_since(census_at_start, census_now()) && !shared_orecs_active()) {
    // no other thread can have committed: the read set is valid
  } else if (const read_entry* invalid = first_invalid()) {
    if (recording) put_back_sites();  // INVARIANT sites-of-commits
    release_locks();
    restart(abort_cause::commit_invalidated, {invalid->site, invalid->lock});
  }
  if (recording) replaced_sites.clear();  // the commit stands: its sites stay
  // DURABLE HOOK (runtime/durable/commit_hook.hpp, INVARIANT log-before-writeback).
  void* durable = durable_hook_active() ? durable_before_writeback(writes) : nullptr;
  for (const write_entry& e : writes) store_word(e.word, e.value, e.mask);
  if (durable != nullptr) durable_after_writeback(durable);  // DURABLE HOOK
  const std::uint64_t unlocked = orec_make_version(timestamp);
  if (wrote_shared) [[unlikely]] {
    const std::uint64_t shared_unlocked = orec_make_version(shared_timestamp);
    for (const lock_entry& l : locks)
      l.lock->store(is_shared_orec(l.lock) ? shared_unlocked : unlocked, orec_unlock_order);
  } else {
    for (const lock_entry& l : locks) l.lock->store(unlocked, orec_unlock_order);
  }
  wake_waiters_of_locks();
  // DURABLE HOOK: waiters in other processes (retry) learn of the commit.
  if (wrote_shared) durable_shared_committed(locks.data(), locks.data() + locks.size());
  locks.clear();
  snapshot = timestamp;
}

void transaction::put_back_sites() noexcept {
  // In reverse: two written words may share an orec, whose first replaced
  // site is the one from before this commit. The orecs are still locked by
  // this commit, so no other committer has written their sites since.
  const write_entry* e = writes.end();
  for (std::size_t i = replaced_sites.size(); i > 0; --i) {
    --e;
    site_of(orec_for(e->word)).store(replaced_sites[i - 1], std::memory_order_relaxed);
  }
  replaced_sites.clear();
}

void transaction::commit_irrevocable() {
  locks.reserve(writes.size());
  // Every written orec is reserved by us, so no committer holds or can take
  // it: these CASes cannot fail for long.
  bool wrote_shared = false;
  for (const write_entry& e : writes) {
    orec& lock = orec_for(e.word);
    wrote_shared = wrote_shared || is_shared_orec(&lock);
    for (;;) {
      std::uint64_t v = lock.load(std::memory_order_relaxed);
      if (orec_is_locked(v)) break;  // ours: several words share the orec
      if (orec_try_lock(lock, v, orec_locked_value(lock, this))) {
        locks.push_back({&lock, v & ~orec_reserved_bit});
        break;
      }
    }
  }
  if (recording) {
    for (const write_entry& e : writes)
      site_of(orec_for(e.word)).store(pack_site(e.site), std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_release);
  // A deleting commit ticks even when it wrote nothing: a reader that started
  // at the current time may still hold what it deletes (INVARIANT reclaim-safe).
  const std::uint64_t timestamp =
      commit_stamp({.wrote = !writes.empty(),
                    .deleted = !deletions.empty(),
                    .unique = !writes.empty() && g_tracing.load(std::memory_order_relaxed)});
  const std::uint64_t shared_timestamp = wrote_shared ? shared_commit_stamp() : 0;
  // DURABLE HOOK (runtime/durable/commit_hook.hpp, INVARIANT log-before-writeback).
  void* durable = durable_hook_active() ? durable_before_writeback(writes) : nullptr;
  for (const write_entry& e : writes) store_word(e.word, e.value, e.mask);
  if (durable != nullptr) durable_after_writeback(durable);  // DURABLE HOOK
  const std::uint64_t unlocked = orec_make_version(timestamp);
  const std::uint64_t shared_unlocked = orec_make_version(shared_timestamp);
  for (const lock_entry& l : locks)
    l.lock->store(wrote_shared && is_shared_orec(l.lock) ? shared_unlocked : unlocked,
                  orec_unlock_order);
  wake_waiters_of_locks();
  if (wrote_shared) durable_shared_committed(locks.data(), locks.data() + locks.size());
  locks.clear();
  release_reservations();
  snapshot = timestamp;
}

void transaction::commit() {
  if (doomed) restart_lost();
  if (mode == tx_mode::serial) {
    commit_serial();  // serial_mode.cpp: the whole commit, its ending included
    return;
  }
  bool read_only = writes.empty();
  if (mode == tx_mode::irrevocable) {
    commit_irrevocable();
  } else if (!read_only) {
    commit_writer();
  } else if (!deletions.empty()) {
    snapshot = commit_stamp({.deleted = true});  // a stamp after everything read
  }
  thread_counters::bump(counters.commits);
  if (read_only) thread_counters::bump(counters.read_only_commits);
  if (recording) record_commit(*this, read_only ? 0 : snapshot);
  finish_committed();
}

namespace {

// Runs destroy on each object of `list`, newest first. The list is moved out
// first: a destructor may run transactions on this same descriptor
// (INVARIANT cleanup-reentrant: no cleanup loop iterates a descriptor field).
void destroy_all(std::vector<allocation_entry>& list) noexcept {
  if (list.empty()) return;
  std::vector<allocation_entry> local = std::move(list);
  list.clear();
  for (std::size_t i = local.size(); i > 0; --i) local[i - 1].destroy(local[i - 1].object);
}

// The part of finish_committed() that runs code (doorbell, destructors,
// retirement, on-commit actions); only when there is any.
//
// INVARIANT (serial-deletes-now): the objects a serial attempt deleted are
// destroyed here, at once, not retired, when its commit saw no taken-over
// attempt running (commit_serial_general, with the gate still closed). Epoch
// reclamation waits for the transactions that may still hold a pointer read
// before the unlinking commit; such a serial attempt has none to wait for: it
// ran with the gate closed (gate-exclusive, serial_mode.hpp), after every
// speculative attempt and standalone access that began before it had ended,
// and every attempt that begins after its commit reads the memory that commit
// left, without the unlinked object. A committed serial attempt can no longer
// be taken over (give-way: its commit left user code first), so nothing
// relinks the object. The exception is an attempt taken over in user code
// that has not yet seen its claim (give-way): it runs beside later serial
// attempts, reading memory directly until its next barrier diverts it and
// doomed after that until it ends; a serial block that commits while one is
// counted (INVARIANT taken-over-counted, serial_mode.hpp) retires its
// deletions (before, it destroyed them: the taken-over block read a freed
// node, found by ThreadSanitizer in the bench suite's sorted list;
// GiveWay.ASerialDeleteWaitsForATakenOverBlockThatMayStillReadIt).
// Destroying at once returns the memory at once, as a lock's delete does (no
// throughput change measured: bench_intset and bench_vacation at 1 thread).
// While the thread still has retired objects (from speculative attempts:
// auto mode switches), its deletions are retired as before: each retire()
// may scan, and that is what drains the list (without it, a thread whose
// last blocks all ran serially kept thousands of retired objects alive:
// MemoryTest.RetiredObjectsDoNotPileUp at 4 threads, auto mode).
[[gnu::noinline]] void hand_on_committed(transaction& tx, const void* pass_on,
                                         std::uint64_t committed_at, bool destroy_deleted_now) {
  // From here on the transaction is over; what follows may run code that
  // starts new transactions on this descriptor (INVARIANT cleanup-reentrant).
  // So every list is moved out before the first destructor or action runs: a
  // block run by a destructor ends (finish_committed) or rolls back
  // (discard_attempt) on these same fields, and would otherwise run or drop
  // this block's actions (a task published by an on-commit action was lost).
  // Those blocks are outermost blocks of their own: a retry() in one waits
  // there, even when the committed block was a task's (INVARIANT rerun-kept:
  // retry_propagates set aside; before, the retry left the destructor:
  // std::terminate).
  struct propagation_set_aside {
    transaction& tx;
    bool saved = std::exchange(tx.retry_propagates, false);
    ~propagation_set_aside() { tx.retry_propagates = saved; }
  } set_aside{tx};
  if (pass_on != nullptr) ring_doorbell(pass_on);
  std::vector<allocation_entry> discarded = std::move(tx.discarded);
  tx.discarded.clear();
  std::vector<allocation_entry> deleted = std::move(tx.deletions);
  tx.deletions.clear();
  std::vector<std::function<void()>> actions = std::move(tx.on_commit);
  tx.on_commit.clear();
  destroy_all(discarded);
  // INVARIANT serial-deletes-now. A block run by the destructor of a deleted
  // object (destroying_deleted) hands what it deletes to the loop below,
  // which destroys it after the current round: destroying it in that block's
  // own ending would recurse once per object of a chain (a list whose nodes
  // delete their successors overflowed the stack at 50 000 nodes).
  const bool destroy_now = destroy_deleted_now && tx.retired.empty();
  bool handed_to_loop = false;
  if (destroy_now && tx.destroying_deleted) {
    try {
      tx.deleted_later.insert(tx.deleted_later.end(), deleted.begin(), deleted.end());
      handed_to_loop = true;
    } catch (...) {
      // Out of memory for the hand-over: retired below instead.
    }
  }
  // Every action runs even if one throws; the first exception then reaches
  // the caller of the committed block. The actions run before the deleted
  // objects are destroyed or retired (a retire() may scan and destroy them at
  // once): every action sees them still alive, on every path.
  std::exception_ptr first_error;
  for (auto& action : actions) {
    try {
      action();
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
  }
  if (!destroy_now || (tx.destroying_deleted && !handed_to_loop)) {
    for (const allocation_entry& d : deleted)
      retire(tx, d.object, d.destroy, committed_at, d.bytes);
  }
  if (destroy_now && !tx.destroying_deleted && !deleted.empty()) {
    tx.destroying_deleted = true;
    while (!deleted.empty()) {
      for (const allocation_entry& d : deleted) d.destroy(d.object);
      deleted.clear();
      deleted.swap(tx.deleted_later);  // what the destructors' blocks deleted
    }
    tx.destroying_deleted = false;
    // INVARIANT orphans-drained: a thread that only ever destroys at once
    // never calls retire(), which is where the orphan list is drained.
    drain_orphans_if_due(tx);
  }
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace

void transaction::finish_committed() {
  const std::uint64_t committed_at = snapshot;
  // INVARIANT serial-deletes-now: only a serial attempt that saw no
  // taken-over attempt running (commit_serial_general).
  const bool serial = mode == tx_mode::serial && deletions_unreachable;
  deletions_unreachable = false;
  // INVARIANT doorbell-duty (doorbell.cpp): a block woken by a ring has settled
  // it if it took an item (wrote the doorbell word); else it rings once it is
  // over. (A serial or hardware commit logs no writes here: it rings, which at
  // worst wakes a consumer that finds the container empty.)
  const void* pass_on = doorbell_duty;
  if (pass_on != nullptr && writes.find(reinterpret_cast<std::uintptr_t>(pass_on)) != nullptr) {
    pass_on = nullptr;
  }
  doorbell_duty = nullptr;
  doorbell_marks.clear();
  if (!reserved.empty()) release_reservations();
  if (holds_token) release_inevitability_token(*this);
  // A committed block owes no irrevocable re-run (serial mode re-runs a block
  // taken over at become_inevitable() serially, not irrevocably).
  irrevocable_next = false;
  allocations.clear();  // now owned by the program
  reads.clear();
  writes.clear();
  nesting.clear();
  leave_committed();
  trim_logs_if_due();  // INVARIANT logs-bounded
  // The common commit hands nothing on: no call, no frame for the rest.
  if (pass_on == nullptr && discarded.empty() && deletions.empty() && on_commit.empty()) return;
  hand_on_committed(*this, pass_on, committed_at, serial);
}

void transaction::trim_logs() noexcept {
  // INVARIANT logs-bounded: called between blocks, every log empty.
  commits_until_trim = log_trim_period;
  reads.release_above(log_trim_entries);
  writes.release_above(log_trim_entries);
  undo.release_above(log_trim_entries);
  if (locks.capacity() > log_trim_entries && locks.empty()) std::vector<lock_entry>().swap(locks);
  if (replaced_sites.capacity() > log_trim_entries && replaced_sites.empty()) {
    std::vector<site_key>().swap(replaced_sites);
  }
  // The wait set of the largest retry() and the read set kept for it.
  retry_waiter.release_above(log_trim_entries);
  retry_reads.release_above(log_trim_entries);
}

void transaction::discard_attempt() noexcept {
  or_else_first_depth = 0;
  // INVARIANT c-point-order: every restart of a C transaction discards its
  // attempt and then jumps to the restart point taken for it, before
  // OPTIMIST_TX_BEGIN's begin (or past a TinySTM-order one, where the next
  // call resumes the attempt and clears this).
  if (c_restart_point == &c_jump_buffer) c_point_given = true;
  if (mode == tx_mode::serial) undo_serial();  // serial_mode.cpp: undo in place, open the gate
  if (recording) record_rollback(*this);
  rollback_for_retry = false;
  release_locks();
  release_reservations();
  if (holds_token && !irrevocable_next) release_inevitability_token(*this);
  reads.clear();
  writes.clear();
  nesting.clear();
  deletions.clear();
  on_commit.clear();
  doorbell_marks.clear();  // finish_retry has taken them (retry_marks) if it needs them
  depth = 0;
  doomed = false;
  mode = tx_mode::optimistic;
  c_restart_point = nullptr;
  tls_current = nullptr;
  tls_serial_direct = nullptr;  // INVARIANT direct-serial
  active_since.store(not_active, std::memory_order_release);
  if (counted_taken_over) {  // INVARIANT taken-over-counted: after the attempt's last read
    counted_taken_over = false;
    g_taken_over_running.fetch_sub(1, std::memory_order_release);
  }
  // Objects allocated by the attempt were never published: free them now,
  // outside any transaction (INVARIANT cleanup-reentrant).
  destroy_lost_objects();
}

void transaction::destroy_lost_objects() noexcept {
  if (discarded.empty() && allocations.empty()) return;
  // INVARIANT rerun-kept: set the block's state aside while destructors run.
  const bool rerun_irrevocable = irrevocable_next;
  const unsigned aborts = consecutive_aborts;
  const site_key conflict_site = last_conflict_site;
  const bool conflict_block_only = last_conflict_block_only;
  const bool propagates = retry_propagates;
  // A retry's wait comes after this (finish_retry): its deadline and what it
  // waits on, which a destructor's block would reset (start()) or take over
  // (its own retry), or a timed wait would sleep without its deadline.
  const std::uint64_t deadline = retry_deadline_ns;
  read_set wait_reads(std::move(retry_reads));
  std::vector<doorbell_mark> wait_marks;
  wait_marks.swap(retry_marks);
  if (holds_token) release_inevitability_token(*this);  // start() takes it again
  irrevocable_next = false;
  consecutive_aborts = 0;
  last_conflict_site = 0;
  last_conflict_block_only = false;
  retry_propagates = false;
  destroy_all(discarded);
  destroy_all(allocations);
  retry_propagates = propagates;
  retry_deadline_ns = deadline;
  retry_reads = std::move(wait_reads);
  retry_marks.swap(wait_marks);
  irrevocable_next = rerun_irrevocable;
  consecutive_aborts = aborts;
  last_conflict_site = conflict_site;
  last_conflict_block_only = conflict_block_only;
}

void transaction::rollback() noexcept {
  counters.count_abort(doom_cause);
  thread_counters::bump(counters.restarts);
  ++consecutive_aborts;
  discard_attempt();
}

void transaction::abandon(abort_cause cause, const conflict_point& where) {
  if (c_restart_point != nullptr || !unwinding()) restart(cause, where);
  if (doomed) return;
  if (recording) record_conflict(*this, cause, where);
  tls_serial_direct = nullptr;  // INVARIANT direct-serial
  doomed = true;
  doom_cause = cause;
}

[[noreturn]] void transaction::restart_given_way() {
  if (c_restart_point != nullptr) {
    sigjmp_buf* target = c_restart_point;
    rollback();  // doom_cause was set with the doom
    siglongjmp(*target, 1);
  }
  throw restart_signal{};
}

[[noreturn]] void transaction::restart(abort_cause cause, const conflict_point& where) {
  if (recording) record_conflict(*this, cause, where);
  if (c_restart_point != nullptr) {
    // C API: no unwinding; roll back here and jump to the restart point in the
    // caller's frame.
    sigjmp_buf* target = c_restart_point;
    doom_cause = cause;
    rollback();
    siglongjmp(*target, 1);
  }
  tls_serial_direct = nullptr;  // INVARIANT direct-serial
  doomed = true;
  doom_cause = cause;
  retry_pending = false;  // INVARIANT retry-is-consistent: a conflict restarts, it never waits
  throw restart_signal{};
}

}  // namespace optimist::detail
