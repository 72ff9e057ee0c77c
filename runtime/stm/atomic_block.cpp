// Atomic blocks: starting an attempt, closed nesting, and what happens when a
// block ends by restart or by exception.
//
// INVARIANT (nesting-marks): while depth > 1, nesting.back() records the log
// sizes at the start of the innermost open block, so rolling that block back
// restores exactly the state the enclosing block had when it opened it. Reads
// are never rolled back: what the enclosing block does after catching the
// exception depends on them, so they must stay valid until commit.
#include <cxxabi.h>

#include <cassert>
#include <cstdio>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>

#include "durable/commit_hook.hpp"
#include "htm/abort_injection.hpp"
#include "htm/hardware_barriers.hpp"
#include "memory/epoch_reclaimer.hpp"
#include "optimist/detail/engine.hpp"
#include "profile/recorder.hpp"
#include "stm/contention_manager.hpp"
#include "stm/doorbell.hpp"
#include "stm/global_clock.hpp"
#include "stm/serial_mode.hpp"
#include "stm/thread_census.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

void transaction::start(source_location site) {
  recording = reporting_on();
  bool starved = false;
  if (consecutive_aborts > 0) {
    std::uint64_t waited = recording ? record_wait_begin() : 0;
    backoff(*this);
    if (recording) record_wait_end(*this, waited, false);
  }
  if (!irrevocable_next && consecutive_aborts >= max_restarts) {
    // Progress guarantee: this transaction has lost too often; from now on it
    // cannot be aborted.
    irrevocable_next = true;
    starved = true;
    thread_counters::bump(counters.starved);
  }
  if (irrevocable_next && !holds_token) {
    // Starved, or re-run after a failed become_inevitable() whose token was
    // given back while cleanup code ran (INVARIANT rerun-kept, commit.cpp).
    if (before_irrevocable != nullptr) before_irrevocable(before_irrevocable_context);
    std::uint64_t waited = recording ? record_wait_begin() : 0;
    acquire_inevitability_token(*this);
    if (recording) record_wait_end(*this, waited, true);
  }
  block_site = site;
  forget_fresh_blocks();  // INVARIANT fresh-in-place: the last attempt's blocks are gone
  doomed = false;
  retry_pending = false;
  retry_deadline_ns = 0;
  inevitable_requested = false;
  unwinding_base = uncaught_exceptions_now();
  assert(unwinding_base == std::uncaught_exceptions());
  depth = 1;
  const std::uint64_t now = clock_now();
  snapshot = now;
  // INVARIANT two-clocks (orec_table.hpp): both snapshots before the first read.
  shared_snapshot = shared_orecs_active() ? shared_clock_now() : 0;
  // INVARIANT reclaim-safe: publish the start time before the first read
  // (release: the previous transaction's reads stay ordered before it).
  active_since.store(now, std::memory_order_release);
  start_fence();
  pass_gate(*this);                // serial mode: never overlap a serial block (serial_mode.hpp)
  census_at_start = census_now();  // INVARIANT sole-thread: before the first read
  if (recording) record_attempt_start(*this);
  if (irrevocable_next) {
    irrevocable_next = false;
    mode = tx_mode::irrevocable;
    thread_counters::bump(counters.irrevocable);
    if (recording) record_irrevocable(*this, starved);
  } else {
    mode = tx_mode::optimistic;
  }
  tls_current = this;
}

void transaction::open_nested(bool from_c) {
  if (nesting.size() == nesting.capacity()) {
    nesting.reserve(nesting.empty() ? 8 : 2 * nesting.size());  // may throw; nothing changed yet
  }
  nesting.push_back({writes.open_nested(), allocations.size(), deletions.size(), on_commit.size(),
                     undo.position(), from_c});
  ++depth;
  forget_fresh_blocks();  // INVARIANT fresh-in-place: a rollback of this level undoes its writes
}

void transaction::commit_nested() noexcept {
  writes.close_nested(nesting.back().writes);
  if (nesting.back().c_restart_point != nullptr) c_restart_point = nesting.back().c_restart_point;
  nesting.pop_back();
  --depth;
  forget_fresh_blocks();
}

void transaction::rollback_nested() noexcept {
  const nesting_level level = nesting.back();
  nesting.pop_back();
  --depth;
  if (level.c_restart_point != nullptr) c_restart_point = level.c_restart_point;
  forget_fresh_blocks();  // (the level's blocks are discarded below)
  writes.rollback_to(level.writes);
  // Serial mode: in-place writes of the level; none left if the attempt gave
  // way (serial_divert: the claimant undid them all).
  bool serial = mode == tx_mode::serial;
  if (serial && !serial_enter(*this)) serial = !serial_divert(*this);
  undo.rollback_to(level.undo);
  if (serial) serial_leave(*this);
  deletions.resize(level.deletions);
  on_commit.resize(level.on_commit);
  // The rolled-back block's objects are destroyed when the whole transaction
  // ends, not now: their destructors must not run inside it.
  try {
    discarded.insert(discarded.end(),
                     allocations.begin() + static_cast<std::ptrdiff_t>(level.allocations),
                     allocations.end());
  } catch (...) {
    // Out of memory: keeping them alive (a leak) is safe, destroying them here is not.
  }
  allocations.resize(level.allocations);
}

namespace {

// block_begin for everything but the common serial start.
[[gnu::noinline]] transaction& block_begin_general(source_location site) {
  if (transaction* tx = tls_current) {
    if (tx->doomed && !tx->unwinding()) tx->restart_lost();
    tx->open_nested();
    if (tx->c_restart_point != nullptr) {  // INVARIANT cxx-inside-c
      tx->nesting.back().c_restart_point = tx->c_restart_point;
      tx->c_restart_point = nullptr;
    }
    return *tx;
  }
  transaction& tx = this_thread_transaction();
  // Serial mode (serial_mode.cpp); an attempt after a serial retry() runs
  // speculatively, where retry() can wait.
  if (tx.serial_fallback_next) {
    tx.serial_fallback_next = false;
  } else if (thread_runs_serial(tx) && !durable_hook_active()) {
    // Not while a durable store is open: serial writes go in place, and a
    // durable heap word must be logged first (INVARIANT log-before-writeback).
    return tx.start_serial(site);
  }
  tx.start(site);
  return tx;
}

// A speculative start decided by block_begin (the frame is here, not there).
[[gnu::noinline]] transaction& start_speculative(transaction& tx, source_location site) {
  tx.start(site);
  return tx;
}

}  // namespace

// The common start of an outermost block of a registered thread (no durable
// store open), where thread_runs_serial's answer needs loads only
// (serial_answer_from_loads): handed on as a tail call, so that neither this
// nor start_serial needs a stack frame (serial_mode.cpp: at one thread a
// serial block costs about a cycle per store). The rest, and auto mode beside
// other threads (the controller ticks), go to block_begin_general, which
// decides afresh.
transaction& block_begin(source_location site) {
  transaction* const tx = tls_descriptor;
  if (tls_current != nullptr || tx == nullptr || tx->serial_fallback_next || durable_hook_active())
      [[unlikely]] {
    return block_begin_general(site);
  }
  switch (serial_answer_from_loads(*tx)) {
    case serial_answer::speculative:
      return start_speculative(*tx, site);
    case serial_answer::serial:
      return tx->start_serial(site);
    default:  // the controller's verdict or the mode: thread_runs_serial there
      break;
  }
  return block_begin_general(site);
}

namespace {

// INVARIANT (c-levels-unwound): a C level (OPTIMIST_TX_BEGIN inside a running
// block, runtime/capi/stm_c.cpp) that a C++ exception or restart unwinds ends
// with it: the C++ block the unwinding reaches first closes every C level
// above its own, so that the level it rolls back is its own. (It used to roll
// back the C level as if it were its own and leave itself open; the next
// block then crashed.)
void unwind_c_levels(transaction& tx) noexcept {
  while (tx.depth > 1 && !tx.nesting.empty() && tx.nesting.back().from_c) tx.rollback_nested();
}

// A C++ block ends normally with a C level above its own still open: the C
// code returned without optimist_tx_commit. Its accesses commit with the
// block (as a flattened nested transaction would have); the misuse is named.
[[gnu::noinline]] void close_unfinished_c_levels(transaction& tx) {
  while (tx.depth > 1 && !tx.nesting.empty() && tx.nesting.back().from_c) {
    std::fprintf(stderr,
                 "optimist: a C transaction begun (OPTIMIST_TX_BEGIN) inside the atomic block at "
                 "%s:%u was not committed before the block ended; its accesses commit with the "
                 "block. Call optimist_tx_commit() before returning.\n",
                 tx.block_site.file_name(), static_cast<unsigned>(tx.block_site.line()));
    tx.commit_nested();
  }
}

}  // namespace

void block_commit(transaction& tx) {
  if (tx.depth > 1) {
    if (!tx.nesting.empty() && tx.nesting.back().from_c) [[unlikely]] {
      close_unfinished_c_levels(tx);
      return block_commit(tx);
    }
    if (tx.doomed) {
      if (!tx.unwinding()) throw restart_signal{};
      tx.rollback_nested();  // a destructor's block inside a lost attempt
      return;
    }
    tx.commit_nested();
    return;
  }
  if (tx.mode == tx_mode::serial && !tx.doomed) {
    tx.commit_serial();  // what commit() would do, one call fewer (serial_mode.cpp)
    return;
  }
  tx.commit();
}

bool block_restart(transaction& tx) noexcept {
  unwind_c_levels(tx);  // INVARIANT c-levels-unwound
  if (tx.depth > 1) {
    // The enclosing block restarts the whole transaction; close ours so that
    // INVARIANT nesting-marks still holds on the way out.
    tx.rollback_nested();
    return false;
  }
  if (tx.retry_pending) return tx.finish_retry();  // optimist::retry(): wait, then run again
  tx.rollback();
  return true;
}

bool block_exception(transaction& tx) noexcept {
  // In place writes cannot be rolled back in part: the block runs again in
  // software, where the exception takes its usual course.
  if (tx.mode == tx_mode::hardware) hardware_abort(abort_code_exception);
  if (tx.depth == 0) return true;  // thrown after the commit (an on-commit action): nothing to undo
  unwind_c_levels(tx);             // INVARIANT c-levels-unwound
  if (tx.depth > 1) {
    tx.rollback_nested();
    return true;  // the enclosing block sees the exception (and a doomed state, if any)
  }
  if (tx.doomed) {
    tx.rollback();  // the exception came from an attempt that was already lost
    return false;
  }
  tx.counters.count_abort(abort_cause::user_exception);
  tx.consecutive_aborts = 0;
  tx.irrevocable_next = false;
  tx.discard_attempt();
  // The block ends here. A serial attempt taken over in user code (give-way)
  // has just seen the takeover in discard_attempt, which asks for a
  // speculative next attempt: there is none, so the thread's next block
  // decides its mode afresh (before, it ran speculatively, and so did the
  // first block of the next thread to reuse this descriptor).
  tx.serial_fallback_next = false;
  // INVARIANT doorbell-duty: the block leaves without taking the item a ring
  // woke it for.
  settle_doorbell_duty(tx, nullptr, nullptr);
  return true;
}

bool restarts_c_transaction(transaction& tx, bool restart) noexcept {
  // The block just closed was the outermost C++ level inside a C or GNU TM
  // transaction exactly when the restart point is back (INVARIANT cxx-inside-c).
  if (tx.depth == 0 || tx.c_restart_point == nullptr) return false;
  if (restart) return true;
  // A C++ exception out of the block goes on through the C++ frames around
  // it, which must catch it before it reaches C (as before the block): the
  // block's level is rolled back, the C transaction goes on. Unless it came
  // from a lost attempt: then the C transaction runs again. A forced unwind
  // (pthread_exit, cancellation) always goes on.
  try {
    throw;
  } catch (const abi::__forced_unwind&) {
    return false;
  } catch (...) {
  }
  return tx.doomed;
}

[[noreturn]] void leave_to_c(transaction& tx) noexcept {
  sigjmp_buf* target = tx.c_restart_point;
  if (tx.retry_pending) {
    tx.finish_retry();  // optimist::retry() or optimist_tx_retry(): wait, then run again
  } else {
    tx.rollback();
  }
  siglongjmp(*target, 1);
}

bool runs_directly_in_c() noexcept {
  const transaction* tx = tls_current;
  return tx != nullptr && tx->c_restart_point != nullptr;
}

void log_allocation(void* object, void (*destroy)(void*)) {
  if (transaction* tx = tls_current) tx->allocations.push_back({object, destroy, {}});
}

void log_unique_deletion(void* object, void (*destroy)(void*), source_location site,
                         std::size_t bytes) {
  if (transaction* tx = tls_current) {
    tx->deletions.push_back({object, destroy, site, bytes});
    return;
  }
  transaction& self = this_thread_transaction();
  retire(self, object, destroy, commit_stamp({.deleted = true}), bytes);
}

void log_deletion(void* object, void (*destroy)(void*), source_location site, std::size_t bytes) {
  if (transaction* tx = tls_current) {
    for (const allocation_entry& d : tx->deletions) {
      if (d.object == object) {
        throw std::logic_error(
            "optimist::tx_delete: the same object was deleted twice in one transaction (first at " +
            std::string(d.site.file_name()) + ":" + std::to_string(d.site.line()) + ", again at " +
            std::string(site.file_name()) + ":" + std::to_string(site.line()) + ")");
      }
    }
  }
  log_unique_deletion(object, destroy, site, bytes);
}

}  // namespace optimist::detail
