// Serial mode: an atomic block runs alone under a global lock and touches
// memory in place, with an undo log for rollback; and the gate that lets
// serial blocks and speculative ones (software, hardware, standalone accesses)
// run in one process without ever overlapping (serial_mode.hpp).
//
// A serial attempt:
//   start     close the gate (g_serial_gate: 0 -> 1; it is the serial lock),
//             fence (heavy, once, when it revokes threads' right to speculate
//             with the asymmetric start_fence), wait until every other
//             descriptor's active_since
//             is not_active; publish our own start time (reclamation).
//   read      a plain (atomic_ref relaxed) load: nobody else runs.
//   write     record the old bytes in the undo log, store in place.
//             Both are inlined into the caller for aligned words
//             (optimist/detail/serial_access.hpp: tls_serial_direct, set in
//             enter_serial, INVARIANT direct-serial); barriers.cpp has the rest.
//   commit    stamp the orec of every written word with a fresh version and
//             wake retry() waiters on them, then open the gate.
//             The new versions are what lets waiters, and speculative
//             attempts that start later, see that the words changed exactly
//             as after a software commit.
//   rollback  (exception, restart) replay the undo log newest first
//             (INVARIANT undo-exact), open the gate. Nested blocks
//             roll back to their mark (nesting_level::undo).
//   retry()   rolls back and runs the block's next attempt speculatively,
//             where retry() keeps a read set and waits on it; serial blocks
//             keep no read set (that is what makes them cheap).
//
// INVARIANT (serial-writes-stamped): every word a committed serial block wrote
// has an orec version newer than any version recorded before the block
// started, so no wait set and no read set taken before it stays valid across
// it.
#include "stm/serial_mode.hpp"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <ostream>
#include <thread>
#include <unordered_map>
#include <vector>

#include "memory/epoch_reclaimer.hpp"
#include "optimist/detail/engine.hpp"
#include "optimist/mode.hpp"
#include "profile/orec_sites.hpp"
#include "profile/recorder.hpp"
#include "profile/site_key.hpp"
#include "stm/contention_manager.hpp"
#include "stm/global_clock.hpp"
#include "stm/orec_table.hpp"
#include "stm/retry_wait.hpp"
#include "stm/thread_census.hpp"
#include "stm/thread_registry.hpp"
#include "stm/word_memory.hpp"

namespace optimist::detail {

namespace {

void pause_round(unsigned round) noexcept {
  if (round < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    std::this_thread::yield();
  }
}

// The other half of start_fence(): where speculators fence only for the
// compiler, a process-wide membarrier orders their active_since stores
// before our loads (the reclaimer does the same, epoch_reclaimer.cpp).
void heavy_fence() noexcept {
  process_fence();
}

// Per-site time spent waiting for the serial lock (only while reporting).
// Never destroyed: the report at exit (an atexit handler registered when
// reporting starts, recorder.cpp) reads them, and a function-local static
// first used after that registration is destroyed before the handler runs
// (the exit report had no serial section).
struct site_wait {
  std::uint64_t blocks = 0;
  std::uint64_t waited_ns = 0;
};
std::mutex& waits_mutex() {
  static auto* m = new std::mutex();
  return *m;
}
std::unordered_map<site_key, site_wait>& waits() {
  static auto* table = new std::unordered_map<site_key, site_wait>();
  return *table;
}

std::uint64_t steady_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// How long speculative waiters wait before they claim the gate (give-way,
// below), and serial blocks before they give up waiting for it (auto mode's:
// take_gate_contended) or for speculators (wait_out_speculators): longer,
// since a serial waiter that gives up makes the next serial block revoke its
// right to speculate (a membarrier), and a lock holder preempted for a
// scheduler slice (milliseconds on a loaded machine) should not cause that;
// short against a block that waits for another thread.
constexpr std::uint64_t give_way_after_ns = 50'000;
constexpr std::uint64_t give_up_serial_after_ns = 2'000'000;

void open_gate_seq_cst() noexcept;

// close_gate, past the census check: other threads may be speculating.
// Returns false if a speculator stayed active for give_up_serial_after_ns:
// the caller opens the gate again and runs the block speculatively. An
// attempt's user code may wait for another thread (joins it) whose standalone
// access waits at our closed gate; waiting for that attempt would then wait
// for ever. Serial mode too: its speculative attempts (the re-runs after a
// give-way or a retry) may be that attempt; a lock would not have waited for
// them, since they hold nothing.
[[gnu::noinline]] bool wait_out_speculators(transaction& self) {
  // Threads that may speculate with only a compiler fence after publishing
  // their start time: revoke that (their next speculative start fences in
  // full, pass_gate_slow) and order their stores before our loads once, with
  // the heavy fence. Revoking keeps idle speculators (pool workers that ran
  // software blocks earlier) from costing a membarrier per serial block.
  // Without any, a full fence, which also orders the gate store before the
  // registry walk below (a descriptor registered after it sees the gate
  // closed).
  bool asymmetric = false;
  for_each_registered([&](transaction& t) {
    std::uint8_t granted = permit_granted;
    if (&t != &self && t.may_speculate.load(std::memory_order_seq_cst) == permit_granted &&
        t.may_speculate.compare_exchange_strong(granted, permit_revoked,
                                                std::memory_order_seq_cst)) {
      asymmetric = true;
    }
  });
  if (asymmetric) {
    heavy_fence();
  } else {
#if defined(__x86_64__) || defined(__i386__)
    // The locked exchange above is already a full barrier on x86.
    std::atomic_signal_fence(std::memory_order_seq_cst);
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
  }
  // INVARIANT gate-exclusive: every speculator either saw the gate closed or
  // is seen here; wait for those to finish. Through the STM they never wait
  // for us (a speculative attempt waits only for committers and the token,
  // and gives the token up while it waits at the gate); their user code may,
  // through another thread: hence the give-up.
  std::uint64_t since = 0;
  bool gave_up = false;
  for_each_registered([&](transaction& t) {
    if (&t == &self || gave_up) return;
    for (unsigned round = 0; t.active_since.load(std::memory_order_acquire) != not_active;
         ++round) {
      if (round >= 64) {
        const std::uint64_t now = steady_ns();
        if (since == 0) {
          since = now;
        } else if (now - since >= give_up_serial_after_ns) {
          gave_up = true;
          return;
        }
      }
      pause_round(round);
    }
    // Seen inactive after its revocation and our fence (INVARIANT
    // permits-counted): its next attempt re-counts itself, so the permit may
    // be cleared; unless its owner re-granted it meanwhile (the CAS fails).
    // After a give-up, the permits not reached stay revoked and counted.
    std::uint8_t revoked = permit_revoked;
    if (t.may_speculate.load(std::memory_order_relaxed) == permit_revoked &&
        t.may_speculate.compare_exchange_strong(revoked, permit_none, std::memory_order_seq_cst)) {
      g_speculation_permits.fetch_sub(1, std::memory_order_seq_cst);
    }
  });
  return !gave_up;
}

// Test and test-and-set, the set a CAS from open: the gate names its holder
// (give-way), so a losing attempt must leave it as it is.
inline bool try_take_gate(std::uintptr_t self) noexcept {
  std::uintptr_t open = 0;
  return g_serial_gate.load(std::memory_order_relaxed) == 0 &&
         g_serial_gate.compare_exchange_strong(open, self, std::memory_order_seq_cst);
}

// The gate is also the serial lock (test-and-test-and-set), taken here when
// the first look found it closed or the exchange lost. Returns false if this
// is one of auto mode's serial blocks (chosen by the controller beside other
// threads, mode_controller.hpp) and the holder kept the gate for
// give_up_serial_after_ns: the block then runs speculatively instead, and waits at
// the gate as speculative attempts do (claiming the holder: give-way). So a
// block that waits for another thread's block cannot wait for ever because
// both were told to run serially; and the protocol is give-way's, unchanged
// (a serial claimant would wait for the taken-over attempt's start time).
[[gnu::noinline]] bool take_gate_contended(std::uintptr_t self) noexcept {
  const bool may_give_up = serial_is_auto();
  std::uint64_t since = 0;
  for (unsigned round = 0; !try_take_gate(self); ++round) {
    if (may_give_up && round >= 64) {
      const std::uint64_t now = steady_ns();
      if (since == 0) {
        since = now;
      } else if (now - since >= give_up_serial_after_ns) {
        return false;
      }
    }
    pause_round(round);
  }
  return true;
}

// The rest of closing the gate, once this thread holds it. False: gave up
// (wait_out_speculators); the gate is open again, not ours. `waited`, if
// given, is set when speculative attempts had to be waited out.
inline bool finish_closing_gate(transaction& self, bool* waited = nullptr) {
  clear_speculation_permit(self.may_speculate);
  // INVARIANT (gate-census): if the census, loaded after the gate exchange
  // (both seq_cst), counts only this thread, nobody else can be past a gate
  // check, and the registry walks (wait_out_speculators) are skipped (the whole cost of the
  // gate for one thread: the exchange and this load). Proof: every thread
  // registers (a seq_cst RMW of g_thread_census, thread_registry.cpp) before
  // its first speculative attempt or standalone access, and deregisters after
  // its last. A thread counted out by our load either deregistered before it
  // (its accesses happen before ours: the RMW releases, our load acquires) or
  // registers after it in the single total order, so its seq_cst gate load
  // comes after our exchange there and sees the gate closed. Its descriptor's
  // permit is none (cleared at thread exit, before the descriptor is freed),
  // so its first gate check also fences in full (pass_gate_slow), as after a
  // revocation.
  // INVARIANT (permits-counted): no permit, no speculator past its gate check.
  if ((census_now() & census_count_mask) != 1 &&
      g_speculation_permits.load(std::memory_order_seq_cst) != 0) [[unlikely]] {
    if (waited != nullptr) *waited = true;
    if (!wait_out_speculators(self)) {
      // Gave up: nothing of ours ran; speculators' waits at the gate end, and
      // a claimant of ours drops its claim (take_over: the gate is not ours).
      open_gate_seq_cst();
      return false;
    }
  }
  return true;
}

// False: gave up (take_gate_contended, wait_out_speculators); the gate is not ours.
// `waited`, if given, is set when closing the gate was not immediate: the
// first look found it closed or the exchange lost, or speculators were
// waited out.
inline bool close_gate(transaction& self, bool* waited = nullptr) {
  // The gate is also the serial lock (test-and-test-and-set): closing it
  // excludes other serial blocks and new speculative attempts at once. The
  // seq_cst exchange, then seq_cst loads: the serial side of the Dekker
  // pattern (the speculator's side: its store, start_fence(), the gate load).
  const auto holder = reinterpret_cast<std::uintptr_t>(&self);
  if (!try_take_gate(holder)) [[unlikely]] {
    if (waited != nullptr) *waited = true;
    if (!take_gate_contended(holder)) return false;
  }
  return finish_closing_gate(self, waited);
}

void open_gate() noexcept {
  g_serial_gate.store(0, std::memory_order_release);
}

// Opens the gate with a seq_cst exchange: also the full barrier that orders
// the orec stores before the waiter-count load (INVARIANT no-lost-wakeup).
void open_gate_seq_cst() noexcept {
  g_serial_gate.exchange(0, std::memory_order_seq_cst);
}

// give_way_after_ns (above): how long a speculative waiter waits at the gate
// before it claims it (give-way, serial_mode.hpp). Far longer than a short
// serial block (tens to hundreds of nanoseconds), short against one that
// waits for other threads.

// The claimant's half of give-way (serial_mode.hpp), once our CAS set
// holder.serial_claimed.
void take_over(transaction& holder) noexcept {
  const auto held = reinterpret_cast<std::uintptr_t>(&holder);
  heavy_fence();  // INVARIANT give-way-exclusive: the serial_enter stores are seen, or see us
  for (unsigned round = 0;; ++round) {
    // INVARIANT claim-current: the attempt we claimed ended unseen, and none
    // of the holder's holds the gate now; or the holder's next attempt waits
    // for us to drop the claim (3).
    if (g_serial_gate.load(std::memory_order_seq_cst) != held) break;
    if (g_take_over_test_hook != nullptr) [[unlikely]]
      g_take_over_test_hook(round);
    const std::uint8_t phase = holder.serial_phase.load(std::memory_order_acquire);
    if (phase == 3) break;
    if (phase == 1 && !holder.serial_inevitable.load(std::memory_order_relaxed)) {
      // In user code, and it stays out of memory until it sees serial_taken_over.
      if (g_take_over_test_hook != nullptr) [[unlikely]]
        g_take_over_test_hook(take_over_test_taking);
      holder.undo.replay_all();  // INVARIANT undo-exact: memory as before the block
      g_taken_over_running.fetch_add(1, std::memory_order_relaxed);  // INVARIANT taken-over-counted
      holder.serial_taken_over.store(true, std::memory_order_release);
      g_serial_gate.store(0, std::memory_order_seq_cst);
      return;  // the holder clears serial_claimed once it has seen the takeover
    }
    pause_round(round);
  }
  holder.serial_claimed.store(0, std::memory_order_release);  // stale: dropped
}

// A speculative waiter: until the gate is open, claiming its holder once the
// holder has had it for give_way_after_ns.
void wait_for_open_gate() noexcept {
  std::uint64_t since = 0;
  std::uintptr_t seen = 0;
  for (unsigned round = 0;; ++round) {
    const std::uintptr_t gate = g_serial_gate.load(std::memory_order_acquire);
    if (gate == 0) return;
    if (round >= 64) {
      const std::uint64_t now = steady_ns();
      if (gate != seen) {  // another holder (or the first look): start timing it
        seen = gate;
        since = now;
      } else if (now - since >= give_way_after_ns) {
        // Descriptors are never freed (thread_registry.cpp): the holder's
        // stays valid though its thread may have moved on.
        transaction& holder = *reinterpret_cast<transaction*>(gate);
        std::uint8_t unclaimed = 0;
        if (holder.serial_claimed.load(std::memory_order_relaxed) == 0 &&
            holder.serial_claimed.compare_exchange_strong(unclaimed, 1,
                                                          std::memory_order_seq_cst)) {
          take_over(holder);
        }
        seen = 0;  // the holder's next attempt gets its full time, though the gate reads the same
        continue;
      }
    }
    pause_round(round);
  }
}

// The start of a serial attempt found a stale claim (INVARIANT claim-current):
// its claimant drops it once it sees phase 3; user code waits till then.
[[gnu::noinline]] void wait_out_stale_claim(transaction& tx) noexcept {
  tx.serial_phase.store(3, std::memory_order_release);
  for (unsigned round = 0; tx.serial_claimed.load(std::memory_order_acquire) != 0; ++round) {
    pause_round(round);
  }
}

}  // namespace

bool serial_divert(transaction& tx) noexcept {
  if (tx.inevitable_requested) return false;  // never given way; the claim waits for the commit
  tls_serial_direct = nullptr;                // INVARIANT direct-serial: about to be doomed
  // INVARIANT give-way-exclusive: out of memory from here until the takeover.
  tx.serial_phase.store(1, std::memory_order_release);
  for (unsigned round = 0; !tx.serial_taken_over.load(std::memory_order_acquire); ++round) {
    pause_round(round);
  }
  tx.serial_taken_over.store(false, std::memory_order_relaxed);
  tx.counted_taken_over = true;  // INVARIANT taken-over-counted: uncounted by discard_attempt
  tx.serial_claimed.store(0, std::memory_order_release);  // the claimant is done with us
  tx.serial_phase.store(0, std::memory_order_relaxed);
  tx.undo.clear();  // undone by the claimant
  tx.mode = tx_mode::optimistic;
  tx.doomed = true;
  tx.doom_cause = abort_cause::read_invalidated;  // the arriving thread may change what it read
  tx.serial_fallback_next = true;                 // run again speculatively, beside it
  // A retry() under way becomes a plain restart: or_else must not absorb it
  // (the attempt would go on without its undone writes), and a serial retry
  // has no read set to wait on; the speculative re-run calls retry() again.
  tx.retry_pending = false;
  thread_counters::bump(tx.counters.serial_give_ways);
  return true;
}

void pass_gate_slow(transaction& tx) {
  for (;;) {
    if (tx.may_speculate.load(std::memory_order_relaxed) != permit_granted) {
      // First speculation since this thread last ran serially, or since a
      // holder revoked the permit: a full fence this once, so that a serial
      // holder that missed the permit is seen by our gate load (and one that
      // sees it uses the heavy fence from then on). INVARIANT
      // permits-counted: counted (a seq_cst RMW) before the gate load; a
      // revoked permit is still counted unless a holder cleared it meanwhile.
      std::uint8_t revoked = permit_revoked;
      if (!tx.may_speculate.compare_exchange_strong(revoked, permit_granted,
                                                    std::memory_order_seq_cst)) {
        g_speculation_permits.fetch_add(1, std::memory_order_seq_cst);  // it was none
        tx.may_speculate.store(permit_granted, std::memory_order_seq_cst);
      }
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
    if (g_serial_gate.load(std::memory_order_seq_cst) == 0) return;
    // Closed: withdraw, wait for the serial block, publish afresh.
    const bool had_token = tx.holds_token;
    if (had_token) release_inevitability_token(tx);  // the serial holder may wait on its user
    tx.active_since.store(not_active, std::memory_order_release);
    wait_for_open_gate();
    if (had_token) acquire_inevitability_token(tx);
    const std::uint64_t now = clock_now();
    tx.snapshot = now;
    tx.active_since.store(now, std::memory_order_release);
    start_fence();
  }
}

standalone_gate::standalone_gate() : tx_(this_thread_transaction()) {
  previous_ = tx_.active_since.load(std::memory_order_relaxed);
  if (previous_ != not_active) return;  // already inside the gate (a start time is published)
  const std::uint64_t now = clock_now();
  const std::uint64_t saved_snapshot = tx_.snapshot;
  tx_.active_since.store(now, std::memory_order_release);
  start_fence();
  pass_gate(tx_);
  tx_.snapshot = saved_snapshot;
}

standalone_gate::~standalone_gate() {
  if (previous_ == not_active) tx_.active_since.store(not_active, std::memory_order_release);
}

// Stores `value` into the owner-only field `field` unless it holds it
// already: in a serial block's start most such fields are unchanged, and at
// one thread a serial block costs about a cycle per store (commit_serial).
template <class T>
inline void set_field(T& field, const T& value) noexcept {
  if (field != value) field = value;
}

// The start of a serial attempt once the gate is closed, up to user code:
// enter_serial_fields, then (after record_attempt_start, if recording)
// enter_serial_user_code.
inline void transaction::enter_serial_fields(source_location site, int uncaught) {
  // (Same bytes, same site; padding that differs costs a store, no more.)
  if (std::memcmp(&block_site, &site, sizeof site) != 0) block_site = site;
  set_field(doomed, false);
  set_field(retry_pending, false);
  set_field(retry_deadline_ns, std::uint64_t{0});
  set_field(inevitable_requested, false);
  set_field(unwinding_base, uncaught);
  depth = 1;
  const std::uint64_t now = clock_now();
  snapshot = now;
  // INVARIANT reclaim-safe: standalone deletions by threads outside the gate
  // may still retire objects this block reads.
  active_since.store(now, std::memory_order_release);
}

// False: a stale claim is pending (enter_serial_after_stale_claim finishes).
inline bool transaction::enter_serial_user_code() {
  mode = tx_mode::serial;
  tls_current = this;
  if (serial_inevitable.load(std::memory_order_relaxed))
    serial_inevitable.store(false, std::memory_order_relaxed);
  // Only ever true -> false: a stale true costs a fence, never soundness.
  set_field(serial_full_fence, g_start_needs_fence.load(std::memory_order_relaxed));
  // INVARIANT claim-current: after the gate CAS (close_gate), seq_cst.
  if (serial_claimed.load(std::memory_order_seq_cst) != 0) [[unlikely]]
    return false;
  serial_phase.store(1, std::memory_order_release);  // in user code: a claimant may take over
  tls_serial_direct = this;                          // INVARIANT direct-serial
  return true;
}

// enter_serial_user_code found a stale claim (INVARIANT claim-current).
[[gnu::noinline]] transaction& transaction::enter_serial_after_stale_claim() noexcept {
  wait_out_stale_claim(*this);
  serial_phase.store(1, std::memory_order_release);  // in user code: a claimant may take over
  tls_serial_direct = this;                          // INVARIANT direct-serial
  return *this;
}

inline void transaction::enter_serial(source_location site) {
  enter_serial_fields(site, uncaught_exceptions_now());
  if (recording) record_attempt_start(*this);
  if (!enter_serial_user_code()) enter_serial_after_stale_claim();
}

// start_serial with reporting on or in an ordered task run (out of line: the
// common start needs no stack frame).
[[gnu::noinline]] void transaction::start_serial_observed(source_location site) {
  recording = reporting_on();
  const std::uint64_t wait_start = recording ? steady_ns() : 0;
  // Ordered task runs: wait for the task's turn before taking the lock (the
  // task would otherwise wait for its turn while holding it, and the earlier
  // task it waits for could not run). Not an unordered element group: it runs
  // serially as one block (inevitability.cpp calls its hook).
  const bool waited_for_turn = before_irrevocable != nullptr && !serial_runs_group;
  if (waited_for_turn) before_irrevocable(before_irrevocable_context);
  // The thread's waiting time for the lock begins after the turn: the hook
  // charges the turn itself (task_queue.cpp, wait_for_turn), and a wait begun
  // before it charged the turn twice (more waiting than wall time).
  const std::uint64_t waited = recording ? record_wait_begin() : 0;
  bool waited_for_gate = false;
  const bool closed = close_gate(*this, &waited_for_gate);
  if (recording) {
    // Only a wait is waiting time: a gate taken at the first look, with no
    // speculator to wait out, is not (at one thread every serial block was
    // charged the few tens of nanoseconds of the timing itself, and the
    // report showed a lone thread waiting for the lock).
    if (waited_for_gate) record_wait_end(*this, waited, false);
    // The block's wait at its site (serial_lock_waits) includes a turn waited
    // for, as before (the hook does not say whether it waited).
    const bool waited_at_all = waited_for_gate || waited_for_turn;
    const std::uint64_t ns = waited_at_all ? steady_ns() - wait_start : 0;
    try {
      std::lock_guard<std::mutex> lock(waits_mutex());
      site_wait& w = waits()[pack_site(site)];
      ++w.blocks;
      w.waited_ns += ns;
    } catch (...) {
      // Out of memory: the report misses this wait; the block still runs.
    }
  }
  if (!closed) {
    start(site);  // gave up waiting (close_gate): speculatively
    return;
  }
  enter_serial(site);
}

// The general start: reporting, ordered runs, a contended gate.
[[gnu::noinline]] transaction& transaction::start_serial_general(source_location site) {
  if (reporting_on() || before_irrevocable != nullptr) {
    start_serial_observed(site);
    return *this;
  }
  recording = false;
  if (!close_gate(*this)) [[unlikely]] {
    start(site);  // gave up waiting (close_gate): speculatively
    return *this;
  }
  enter_serial(site);
  return *this;
}

// start_serial holds the gate and must wait out speculators.
[[gnu::noinline]] transaction& transaction::start_serial_walk(source_location site) {
  recording = false;
  if (!finish_closing_gate(*this)) {
    start(site);  // gave up waiting (close_gate): speculatively
    return *this;
  }
  enter_serial(site);
  return *this;
}

// The common start: a leaf but for tail calls, like commit_serial (the
// stores it saves are the next gate exchange's wait); anything else goes to
// the general start before the gate is taken, or to start_serial_walk after.
transaction& transaction::start_serial(source_location site) {
  if (reporting_on() || before_irrevocable != nullptr || uncaught_count == nullptr) [[unlikely]]
    return start_serial_general(site);
  if (!try_take_gate(reinterpret_cast<std::uintptr_t>(this))) [[unlikely]]
    return start_serial_general(site);
  // finish_closing_gate, its common case inline.
  clear_speculation_permit(may_speculate);
  if ((census_now() & census_count_mask) != 1 &&
      g_speculation_permits.load(std::memory_order_seq_cst) != 0) [[unlikely]] {
    return start_serial_walk(site);
  }
  set_field(recording, false);
  enter_serial_fields(site, static_cast<int>(*uncaught_count));
  if (!enter_serial_user_code()) [[unlikely]]
    return enter_serial_after_stale_claim();
  return *this;
}

namespace {

// The slow end of a writing serial commit: someone waits in retry().
[[gnu::noinline]] void wake_waiters_on_undo(const undo_log& undo) noexcept {
  for (const undo_entry& e : undo) wake_waiters_on(orec_for(e.word));
}

// The end of a writing serial commit, after its orec stores: opens the gate.
// INVARIANT no-lost-wakeup (retry_wait.cpp): the orec stores, a full
// barrier, then the one seq_cst load of the waiter count. Where waiters
// fence every thread after registering (waiters_fence_committers: W2 is
// followed by membarrier), that barrier is the waiters' and ours is only
// the compiler's: the gate opens with a plain release store, whose line
// the next holder is waiting for (an exchange would stall this thread
// until the line and every store before it were its own: two threads
// taking turns then spend a third of each block there). Else the gate's
// exchange is the barrier. Waking after the gate opens is fine: waiters
// are woken outside any transaction and re-check their read sets
// themselves.
// Alone (INVARIANT gate-census, at commit): no full barrier. A waiter
// registered in this thread (a parked task) is seen in program order;
// one registered by a thread that has deregistered since, through the
// census (its deregistration releases, the census load acquires); and a
// thread counted out registers later in the total order, so it has not
// passed the gate yet: its attempts read the gate open from the release
// store here, which makes the new values and versions visible to them.
inline void open_gate_after_writes() noexcept {
  if ((census_now() & census_count_mask) == 1) {
    open_gate();
  } else if (waiters_fence_committers()) {
    open_gate();
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    open_gate_seq_cst();
  }
}

// Wakes the waiters on the orecs of `n` undo entries from `first` (the
// entries of a commit that has already cleared its log: the buffer still
// holds them).
[[gnu::noinline]] void wake_waiters_on_entries(const undo_entry* first, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) wake_waiters_on(orec_for(first[i].word));
}

}  // namespace

// The common serial commit: no reporting or tracing, nothing to hand on
// (objects, actions, the token, a doorbell), no shared durable store, not
// claimed. The same steps as commit_serial_general, in a function that
// makes no call but its last (a tail call): it needs no stack frame, and
// every store it saves is one the next block's gate exchange would wait for
// (a locked instruction waits until every earlier store has left the store
// buffer; at one thread a serial block costs about a cycle per store).
// Everything else goes to commit_serial_general, which starts over (its
// serial_enter repeats ours: the same stores, the same answer).
void transaction::commit_serial() {
  if (recording || !allocations.empty() || !deletions.empty() || !on_commit.empty() ||
      !discarded.empty() || holds_token || doorbell_duty != nullptr || !doorbell_marks.empty() ||
      g_tracing.load(std::memory_order_relaxed) || shared_orecs_active()) [[unlikely]] {
    return commit_serial_general();
  }
  // Give-way (serial_mode.hpp): a claimed attempt restarts instead.
  if (!serial_enter(*this)) [[unlikely]]
    return commit_serial_general();
  serial_phase.store(0, std::memory_order_relaxed);  // ends with the gate (opened below)
  const std::size_t written = undo.size();
  if (written == 0) {
    snapshot = commit_stamp({});
    open_gate();
    thread_counters::bump(counters.read_only_commits);
  } else {
    // INVARIANT serial-writes-stamped; INVARIANT no-lost-wakeup as in
    // open_gate_after_writes, the wake-up last.
    const std::uint64_t timestamp = commit_stamp({.wrote = true});
    const std::uint64_t version = orec_make_version(timestamp);
    // (No shared store is open, checked above: words written in this block
    // lie outside any store opened since.)
    for (const undo_entry& e : undo) local_orec_for(e.word).store(version, orec_unlock_order);
    snapshot = timestamp;
    open_gate_after_writes();
    undo.clear();  // the entries stay in the buffer for the wake-up below
  }
  thread_counters::bump(counters.serial_commits);  // commits: statistics.cpp adds them
  assert(reads.empty() && writes.empty() && locks.empty() && reserved.empty() && nesting.empty());
  leave_committed();
  // Waking after the block has ended is fine: waiters are woken outside any
  // transaction and re-check their read sets themselves.
  // INVARIANT logs-bounded: a serial attempt uses no other log, so no
  // countdown unless this one is large (out of line: the common ending below
  // stays a tail call with no frame).
  if (undo.capacity() > log_trim_entries) [[unlikely]]
    return wake_then_trim_logs(written);
  if (written != 0 && waiters_present()) [[unlikely]]
    wake_waiters_on_entries(undo.begin(), written);
}

void transaction::wake_then_trim_logs(std::size_t written) noexcept {
  if (written != 0 && waiters_present()) wake_waiters_on_entries(undo.begin(), written);
  trim_logs_if_due();  // after the wake-up, which reads the undo buffer
}

void transaction::commit_serial_general() {
  // Give-way (serial_mode.hpp): a claimed attempt restarts instead.
  if (!serial_enter(*this) && serial_divert(*this)) restart_given_way();
  serial_phase.store(0, std::memory_order_relaxed);  // ends with the gate (opened below)
  // INVARIANT serial-deletes-now (commit.cpp), with the gate still closed:
  // no taken-over attempt runs that could still read what we unlinked
  // (INVARIANT taken-over-counted, serial_mode.hpp).
  if (!deletions.empty())
    deletions_unreachable = g_taken_over_running.load(std::memory_order_acquire) == 0;
  const bool read_only = undo.empty();
  if (read_only) {
    snapshot = commit_stamp({.deleted = !deletions.empty()});
    open_gate();
  } else {
    // INVARIANT serial-writes-stamped.
    const std::uint64_t timestamp =
        commit_stamp({.wrote = true,
                      .deleted = !deletions.empty(),
                      .unique = g_tracing.load(std::memory_order_relaxed)});
    const std::uint64_t version = orec_make_version(timestamp);
    for (const undo_entry& e : undo) orec_for(e.word).store(version, orec_unlock_order);
    if (recording) {
      for (const undo_entry& e : undo)
        site_of(orec_for(e.word)).store(pack_site(block_site), std::memory_order_relaxed);
    }
    snapshot = timestamp;
    open_gate_after_writes();
    if (waiters_present()) [[unlikely]]
      wake_waiters_on_undo(undo);
    undo.clear();
  }
  thread_counters::bump(counters.serial_commits);  // commits: statistics.cpp adds them
  if (read_only) thread_counters::bump(counters.read_only_commits);
  if (recording) record_commit(*this, read_only ? 0 : snapshot);
  // A serial attempt keeps no read set, redo log, locks or reservations, and
  // at depth 1 no nesting level (INVARIANT nesting-marks); the usual ending
  // (finish_committed) only when it has objects or actions to hand on.
  assert(reads.empty() && writes.empty() && locks.empty() && reserved.empty() && nesting.empty());
  // (A doorbell duty, doorbell.cpp, is handed on too: a serial block woken
  // by a ring that took no item rings on.)
  if (!allocations.empty() || !deletions.empty() || !on_commit.empty() || !discarded.empty() ||
      holds_token || doorbell_duty != nullptr || !doorbell_marks.empty()) [[unlikely]] {
    finish_committed();  // (trims the logs when due)
    return;
  }
  leave_committed();
  trim_logs_if_due();  // INVARIANT logs-bounded
}

void transaction::undo_serial() noexcept {
  tls_serial_direct = nullptr;  // INVARIANT direct-serial: the attempt ends here
  // Taken over (give-way): the claimant has undone the writes and opened the gate.
  if (!serial_enter(*this) && serial_divert(*this)) return;
  undo.rollback_to(0);  // INVARIANT undo-exact: memory as before the block
  serial_phase.store(0, std::memory_order_relaxed);
  open_gate();
}

void write_serial_lock_waits(std::ostream& out) {
  const std::vector<serial_wait> waits = serial_lock_waits();
  if (waits.empty()) return;
  double total = 0;
  std::uint64_t blocks = 0;
  for (const serial_wait& w : waits) {
    total += w.waiting_s;
    blocks += w.blocks;
  }
  char line[160];
  std::snprintf(line, sizeof line,
                "\nSerial mode: %llu blocks ran serially, %.6f s waiting for the lock\n",
                static_cast<unsigned long long>(blocks), total);
  out << line;
  for (const serial_wait& w : waits) {
    std::snprintf(line, sizeof line, "  %10.6f s  %8llu blocks  at: ", w.waiting_s,
                  static_cast<unsigned long long>(w.blocks));
    out << line << w.site.file_name() << ':' << w.site.line() << " in " << w.site.function_name()
        << '\n';
  }
}

}  // namespace optimist::detail

namespace optimist {

std::vector<serial_wait> serial_lock_waits() {
  // INVARIANT deferred-site-resolved (recorder.hpp): liboptimist_itm's block
  // sites are symbolized only now.
  detail::resolve_deferred_sites();
  std::vector<serial_wait> out;
  std::lock_guard<std::mutex> lock(detail::waits_mutex());
  out.reserve(detail::waits().size());
  for (const auto& [key, w] : detail::waits()) {
    out.push_back({detail::unpack_site(key), w.blocks, static_cast<double>(w.waited_ns) * 1e-9});
  }
  std::sort(out.begin(), out.end(),
            [](const serial_wait& a, const serial_wait& b) { return a.waiting_s > b.waiting_s; });
  return out;
}

void reset_serial_lock_waits() {
  std::lock_guard<std::mutex> lock(detail::waits_mutex());
  detail::waits().clear();
}

}  // namespace optimist
