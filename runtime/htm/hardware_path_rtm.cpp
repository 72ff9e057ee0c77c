// The hybrid protocol: hardware (RTM) transactions that respect the software
// path's metadata — the orec table and the global clock — so that both kinds
// run at the same time and stay consistent, without a global lock.
//
// Design: the TinySTM-style hybrid (hardware transactions read the orecs of
// what they touch) rather than Hybrid NOrec's single sequence lock, which
// every software commit bumps and so aborts every running hardware
// transaction; and rather than libitm's serial fallback, which stops every
// thread when one transaction overflows the cache. Here a software commit
// aborts only the hardware transactions that touch its orecs.
//
//   hardware read w   load orec(w) (it joins the hardware read set); locked:
//                     abort with code `locked`; else load w.
//   hardware write w  load orec(w); locked: abort(`locked`); reserved:
//                     abort(`reserved`); store w in place and orec(w) := stamp,
//                     stamp = (clock + 1) read at the first write (the clock
//                     joins the read set).
//   commit            XEND; then, outside the transaction, the bookkeeping a
//                     software commit does (retire deletions at a fresh tick,
//                     run on-commit actions).
//
// INVARIANT (hw-sees-locks): a software committer locks every orec it will
// write before writing any word back, and changes words only while they are
// locked (orec-seqlock). A hardware transaction loads the orec before the
// word: either it sees the lock and aborts, or the committer's lock CAS later
// writes a line in its read set and the CPU aborts it. So a hardware
// transaction never observes part of a software commit (nor of a standalone
// write, which locks the same way).
// INVARIANT (sw-sees-hw): a hardware commit changes its words and their orecs
// in one atomic step, and each new orec value differs from every version a
// software transaction may have recorded for it: the stamp is clock + 1 with
// the clock read inside the hardware transaction, and a software reader that
// accepted a version v first raised the clock to >= v (global_clock.hpp) —
// if that raise came after our clock read it aborted us. So clock-order holds
// with the hardware commit in place of "all locks held", and software
// readers' seqlock checks and validation see hardware writes exactly as they
// see software commits.
// INVARIANT (reservations): the inevitable transaction must never abort, so a
// hardware writer treats a reserved orec like a locked one. Readers ignore
// reservations, as software readers do: the inevitable transaction writes only
// at its commit, under locks.
// Reclamation: a hardware transaction publishes no start time. An object is
// freed only after the commit that unlinked it, and that commit's write to the
// link aborts every hardware transaction that had read the link before it can
// follow it further. Objects a hardware transaction deletes are retired after
// XEND at a fresh clock tick.
// What runs in software instead: whatever the hardware cannot do or optimist
// cannot undo in place — capacity overflow, a nested block that throws (no
// partial rollback of in-place writes), become_inevitable, retry, exceptions,
// a write while someone waits in retry() (software commits wake waiters) —
// aborts with an explicit code, and the block runs in software.
//
// Retry policy: a block retries in hardware only while the status says a
// retry may succeed (the CPU's retry bit, or our `locked` code: a software
// committer is about to unlock), at most max_attempts times; capacity and
// the other explicit codes go to software at once. Per-site learning decides
// whether to try at all (site_policy.hpp).
#include <immintrin.h>
#include <atomic>
#include <csetjmp>
#include <csignal>
#include <mutex>

#include "durable/commit_hook.hpp"
#include "htm/abort_injection.hpp"
#include "htm/hardware_barriers.hpp"
#include "htm/hardware_mode.hpp"
#include "htm/site_policy.hpp"
#include "optimist/detail/engine.hpp"
#include "profile/orec_sites.hpp"
#include "profile/recorder.hpp"
#include "stm/global_clock.hpp"
#include "stm/orec_table.hpp"
#include "stm/serial_mode.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"
#include "stm/word_memory.hpp"
#include "tasks/tsan_handoff.hpp"  // OPTIMIST_TSAN

namespace optimist::detail {

namespace {

constexpr unsigned max_attempts = 4;
constexpr unsigned locked_wait_pauses = 64;

static_assert(rtm_abort_explicit == _XABORT_EXPLICIT && rtm_abort_retry == _XABORT_RETRY &&
                  rtm_abort_conflict == _XABORT_CONFLICT && rtm_abort_capacity == _XABORT_CAPACITY,
              "abort_injection.hpp must use the CPU's status bits");

[[gnu::tls_model("initial-exec")]] thread_local abort_source tls_abort_source = nullptr;
[[gnu::tls_model("initial-exec")]] thread_local void* tls_abort_context = nullptr;

// ---- probing XBEGIN --------------------------------------------------------
sigjmp_buf probe_jump;
void on_probe_sigill(int) {
  siglongjmp(probe_jump, 1);
}

[[maybe_unused]] bool probe_rtm_instruction() noexcept {
  struct sigaction handler {};
  struct sigaction previous {};
  handler.sa_handler = on_probe_sigill;
  sigemptyset(&handler.sa_mask);
  if (sigaction(SIGILL, &handler, &previous) != 0) return false;
  volatile bool executes = false;
  if (sigsetjmp(probe_jump, 1) == 0) {
    if (_xbegin() == _XBEGIN_STARTED) _xend();
    executes = true;
  }
  sigaction(SIGILL, &previous, nullptr);
  return executes;
}

hardware_abort_cause classify(unsigned status) noexcept {
  if ((status & _XABORT_EXPLICIT) != 0) return hardware_abort_cause::explicit_abort;
  if ((status & _XABORT_CAPACITY) != 0) return hardware_abort_cause::capacity;
  if ((status & _XABORT_CONFLICT) != 0) return hardware_abort_cause::conflict;
  return hardware_abort_cause::other;
}

bool worth_retrying(unsigned status) noexcept {
  if ((status & _XABORT_CAPACITY) != 0) return false;
  if ((status & _XABORT_EXPLICIT) != 0) return rtm_abort_code(status) == abort_code_locked;
  return (status & _XABORT_RETRY) != 0;
}

hardware_site_table& sites_of(transaction& tx) {
  hardware_site_table* table = tx.hardware_sites.load(std::memory_order_relaxed);
  if (table == nullptr) {
    table = new hardware_site_table();  // never freed: reports read it (like the descriptor)
    tx.hardware_sites.store(table, std::memory_order_release);
  }
  return *table;
}

// One hardware attempt of body(context). Returns _XBEGIN_STARTED if it
// committed, else the abort status. Kept out of line and small: everything
// between XBEGIN and XEND counts against the hardware's buffers.
[[gnu::noinline]] unsigned run_once(transaction& tx, hardware_kind kind, void (*body)(void*),
                                    void* context, const source_location& site) {
  if (tls_abort_source != nullptr) return tls_abort_source(tls_abort_context);
  if (kind != hardware_kind::real) return 0;  // simulated: TSX absent or disabled
  // The descriptor fields of a running hardware block are set before XBEGIN
  // and put back after it ends, either way, rather than written inside the
  // transaction: stores inside it join its write set, and every line there
  // costs at XEND. Nothing another thread reads is written here (owner-only
  // fields, a thread-local).
  tx.depth = 1;
  tx.mode = tx_mode::hardware;
  tx.hardware_stamp = 0;
  tx.block_site = site;
  tls_current = &tx;
  unsigned status = _xbegin();
  if (status == _XBEGIN_STARTED) {
    // INVARIANT gate-exclusive (serial_mode.hpp): the gate joins the read
    // set, so a serial block that closes it aborts us.
    if (g_serial_gate.load(std::memory_order_relaxed) != 0) _xabort(abort_code_locked);
    body(context);
    _xend();
  }
  // Committed or aborted (an abort resumes at XBEGIN with the status; the
  // block's stores, hardware_stamp's included, are undone).
  tls_current = nullptr;
  tx.mode = tx_mode::optimistic;
  if (status != _XBEGIN_STARTED) tx.depth = 0;
  return status;
}

}  // namespace

bool rtm_instruction_executes() noexcept {
#if defined(OPTIMIST_TSAN)
  // ThreadSanitizer cannot see what a hardware transaction guarantees: the
  // plain accesses inside one (a block's fresh objects, written in place) and
  // XEND, which publishes them at once, look like data races with whoever
  // reads them next (tmap and the bench tests reported races on a CPU whose
  // RTM transactions commit). Under TSan the hardware path is the one of a
  // CPU with TSX disabled: htm mode's attempts abort at once, auto mode uses
  // no hardware. TSan checks the software protocol; the hardware's atomicity
  // is the CPU's.
  return false;
#else
  static bool executes = [] { return probe_rtm_instruction(); }();
  return executes;
#endif
}

void set_abort_injection(abort_source source, void* context) noexcept {
  tls_abort_source = source;
  tls_abort_context = context;
}

std::uint64_t hardware_read(std::uintptr_t word, std::uint64_t mask) noexcept {
  const orec& lock = orec_for(word);
  // DURABLE HOOK: a process-shared store's words carry another clock's
  // versions; they are read in software (INVARIANT two-clocks).
  if (is_shared_orec(&lock)) _xabort(abort_code_inevitable);
  std::uint64_t v = lock.load(std::memory_order_relaxed);
  if (orec_is_locked(v)) _xabort(abort_code_locked);  // INVARIANT hw-sees-locks
  return load_word(word, mask);
}

void hardware_write(transaction& tx, std::uintptr_t word, std::uint64_t value, std::uint64_t mask,
                    const source_location& site) noexcept {
  orec& lock = orec_for(word);
  std::uint64_t v = lock.load(std::memory_order_relaxed);
  if (orec_is_locked(v)) _xabort(abort_code_locked);      // INVARIANT hw-sees-locks
  if (orec_is_reserved(v)) _xabort(abort_code_reserved);  // INVARIANT reservations
  if (tx.hardware_stamp == 0) {
    // INVARIANT no-lost-wakeup (retry_wait.cpp): only a software commit wakes
    // threads and tasks waiting in retry(), so a writer that sees one runs in
    // software. The counter joins the read set: a waiter that registers before
    // XEND aborts us; one that registers later sees our orecs in its check.
    if (waiters_present()) _xabort(abort_code_waiters);
    // INVARIANT sw-sees-hw; the clock joins the read set (a raise aborts us).
    tx.hardware_stamp = orec_make_version(commit_stamp({.wrote = true}));
  }
  // The orec may already carry our stamp (a lazy stamp the clock has not been
  // raised to): then nobody has recorded that version (INVARIANT
  // recorded-below-clock, global_clock.hpp — a waiter in retry() included), so
  // leaving it as it is hides our write from no one. A recorded version is at
  // most the clock we read, hence below our stamp, and the orec changes.
  if (v != tx.hardware_stamp) lock.store(tx.hardware_stamp, std::memory_order_relaxed);
  // The writer's site, as a software commit leaves it: a software reader this
  // write aborts names it as the other side of the conflict (the report's
  // promise: both source lines). Inside the hardware transaction, so it
  // appears with the write or not at all.
  if (tx.recording) site_of(lock).store(pack_site(site), std::memory_order_relaxed);
  store_word(word, value, mask);
}

void hardware_abort(unsigned code) noexcept {
  // _xabort needs an immediate code.
  switch (code) {
    case abort_code_inevitable:
      _xabort(abort_code_inevitable);
      break;
    case abort_code_retry:
      _xabort(abort_code_retry);
      break;
    default:
      _xabort(abort_code_exception);
      break;
  }
  __builtin_unreachable();  // only called inside a hardware transaction
}

void hardware_abort_for_exception() noexcept {
  if (_xtest()) _xabort(abort_code_exception);
}

bool hardware_attempt(void (*body)(void*), void* context, source_location site) {
  if (tls_current != nullptr) return false;  // nested: the enclosing block decided
  const hardware_kind kind = thread_hardware_kind();
  if (kind == hardware_kind::none) return false;
  transaction& tx = this_thread_transaction();
  // Auto mode with this thread alone (serial_mode.hpp): the block runs
  // serially, which costs less than a hardware transaction and never aborts.
  if (!tx.serial_fallback_next && thread_runs_serial(tx) && !durable_hook_active()) return false;
  // The block is to run irrevocably (starved, or a become_inevitable() that
  // had to restart): that attempt is a software one, and it clears the flag.
  // A hardware commit here left the flag set for the thread's next block,
  // which then ran irrevocably for no reason — reserving what it read, so a
  // standalone write of another thread that it waited for waited for it in
  // turn (CommitValidation.AThreadThatWasThereAllAlong hung after
  // AutoMode.APendingIrrevocableRerun in one process, on a CPU with RTM).
  if (tx.irrevocable_next) return false;
  hardware_site& policy = sites_of(tx).at(site);
  if (!policy.should_try()) {
    thread_counters::bump(tx.counters.hardware_skipped);
    return false;
  }
  // Reporting: a block that commits in hardware is one of the report's
  // commits, its time committed time, as in software; hardware attempts that
  // all abort are aborted time (record_hardware_fallback). Decided once per
  // block, outside the hardware transaction (the recorder allocates).
  tx.recording = reporting_on();
  if (tx.recording) record_attempt_start(tx);
  for (unsigned attempt = 1;; ++attempt) {
    thread_counters::bump(tx.counters.hardware_attempts);
    thread_counters::bump(policy.attempts);
    unsigned status = run_once(tx, kind, body, context, site);
    if (status == _XBEGIN_STARTED) {
      thread_counters::bump(tx.counters.hardware_commits);
      thread_counters::bump(tx.counters.commits);
      // As a software commit that wrote nothing (stats(): read_only_commits).
      if (tx.hardware_stamp == 0) thread_counters::bump(tx.counters.read_only_commits);
      thread_counters::bump(policy.commits);
      policy.learn(true);
      // What a software commit does after its writeback (commit.cpp): the
      // deleting commit's objects wait for a tick after it.
      tx.snapshot = commit_stamp({.deleted = !tx.deletions.empty()});
      if (tx.recording)
        record_commit(tx, tx.hardware_stamp != 0 ? orec_version(tx.hardware_stamp) : 0);
      tx.finish_committed();  // may throw (an on-commit action): the block has committed
      return true;
    }
    const hardware_abort_cause cause = classify(status);
    thread_counters::bump(tx.counters.hardware_aborts_by_cause[static_cast<std::size_t>(cause)]);
    thread_counters::bump(policy.aborts_by_cause[static_cast<std::size_t>(cause)]);
    if (attempt >= max_attempts || !worth_retrying(status)) break;
    if ((status & _XABORT_EXPLICIT) != 0) {
      // A software committer held a word we needed: give it time to unlock.
      for (unsigned i = 0; i < locked_wait_pauses; ++i) _mm_pause();
    }
  }
  thread_counters::bump(tx.counters.hardware_fallbacks);
  policy.learn(false);
  if (tx.recording) record_hardware_fallback(tx);
  return false;
}

}  // namespace optimist::detail
