// Inevitable (irrevocable) transactions that do not stop the world.
//
// Protocol: the transaction takes the inevitability token (one holder at a
// time), then *reserves* the orec of every word it has read or written and of
// every word it touches afterwards: it sets the reserved bit, which readers
// ignore and committers respect (they may not lock a reserved orec). Nothing
// it has read can change until it commits, so it cannot fail; everyone else
// keeps running and committing as long as they do not write what it holds.
// At commit it locks its written orecs (all reserved by itself, so free),
// takes a timestamp, writes back and drops every reservation.
//
// INVARIANT (reserved-is-stable): a reserved orec's words do not change until
// the token holder releases the reservation.
// INVARIANT (single-reserver): only the token holder sets or clears reserved
// bits, so it may release them with plain stores.
//
// Becoming inevitable in the middle of an attempt checks, orec by orec, that
// what was read is still current. If not, the attempt restarts *keeping the
// token*, and runs irrevocably from its beginning — so become_inevitable()
// restarts at most once. (If the rollback runs destructors, the token is given
// back while they run and taken again for the re-run, which transactions they
// start cannot consume: INVARIANT rerun-kept, commit.cpp.)
#include <exception>

#include "durable/commit_hook.hpp"
#include "htm/abort_injection.hpp"
#include "htm/hardware_barriers.hpp"
#include "optimist/detail/engine.hpp"
#include "profile/recorder.hpp"
#include "stm/contention_manager.hpp"
#include "stm/serial_mode.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

void transaction::reserve(orec& lock) {
  if (reserved.size() == reserved.capacity()) {
    reserved.reserve(reserved.empty() ? 64 : 2 * reserved.size());  // may throw; orec untouched
  }
  for (unsigned round = 0;; ++round) {
    std::uint64_t v = lock.load(std::memory_order_acquire);
    if (orec_is_locked(v)) {
      // DURABLE HOOK: a committer of another process that died holding the lock
      // never unlocks it; its recovery does.
      if (round > 0 && round % 1024 == 0 && is_shared_orec(&lock)) {
        durable_notice_stuck_lock(lock, v);
      }
      wait_round(round);  // a committer is writing back; it never waits for us
      continue;
    }
    if (orec_is_reserved(v)) return;  // ours (single-reserver)
    if (lock.compare_exchange_weak(v, v | orec_reserved_bit, std::memory_order_acquire,
                                   std::memory_order_relaxed)) {
      reserved.push_back(&lock);
      return;
    }
  }
}

bool transaction::serial_become_inevitable(source_location site) noexcept {
  // INVARIANT give-way-exclusive: entered (phase 2) before the flag is set,
  // so a claimant either sees it with the release of serial_leave or the
  // attempt sees the claim first and diverts.
  if (!serial_enter(*this) && serial_divert(*this)) return false;
  if (!inevitable_requested) thread_counters::bump(counters.irrevocable);
  inevitable_requested = true;
  inevitable_site = site;
  serial_inevitable.store(true, std::memory_order_relaxed);  // never given way from here on
  serial_leave(*this);
  return true;
}

void transaction::become_irrevocable(source_location site) {
  if (mode == tx_mode::hardware) hardware_abort(abort_code_inevitable);  // I/O needs software
  if (mode == tx_mode::serial && serial_runs_group && before_irrevocable != nullptr &&
      !inevitable_requested && !unwinding()) {
    // A task group running serially (unordered, or ordered at its turn): an element's I/O must not
    // be repeated if a later element of the group rolls it back, so the group
    // splits first (the hook throws; the exception undoes the block). In auto
    // mode too, before the re-run below: the element then runs alone.
    before_irrevocable(before_irrevocable_context);
  }
  if (mode == tx_mode::serial && !inevitable_requested && !unwinding() && serial_is_auto()) {
    // Auto mode ran this block serially because its thread was alone. An
    // inevitable serial block can no longer give way (serial_mode.hpp), so a
    // thread arriving meanwhile would wait for it for as long as it runs, and
    // for ever if it waits for that thread — where stm mode lets both run.
    // So re-run it as stm does a failed become_inevitable(): irrevocably in
    // software, holding the token, beside everyone else. The rollback undoes
    // its in-place writes and opens the gate; the re-run takes the token
    // (start(): irrevocable_next), never while holding the gate, which a
    // token holder between attempts may be waiting to pass.
    irrevocable_next = true;
    serial_fallback_next = false;
    inevitable_site = site;       // what the re-run's report names (record_irrevocable)
    tls_serial_direct = nullptr;  // INVARIANT direct-serial
    doomed = true;
    doom_cause = abort_cause::explicit_restart;
    restart_given_way();  // (a C or GNU TM attempt jumps back: its rollback undoes the writes)
  }
  if (mode == tx_mode::serial) {  // serial_mode.cpp: nobody else runs, nothing to reserve
    if (!serial_become_inevitable(site)) {
      // Given way (serial_mode.hpp) before it became inevitable: like a failed
      // become_inevitable() below, keep the token and re-run irrevocably.
      if (c_restart_point == nullptr && unwinding()) return;
      if (!holds_token) {
        if (before_irrevocable != nullptr) before_irrevocable(before_irrevocable_context);
        acquire_inevitability_token(*this);
      }
      irrevocable_next = true;
      serial_fallback_next = false;
      inevitable_site = site;  // what the re-run's report names (record_irrevocable)
      restart_given_way();
    }
    return;
  }
  if (mode == tx_mode::irrevocable) {
    inevitable_requested = true;  // from here on a retry() cannot roll back (retry.cpp)
    inevitable_site = site;
    // A re-run that asks again, maybe from another line than the attempt
    // that asked first: the report names this one.
    if (recording) record_inevitable_site(*this);
    return;
  }
  if (doomed) {
    // (Not marked inevitable: the attempt is lost, and an or_else that
    // absorbs its retry must not refuse the next alternative's retry.)
    if (unwinding()) return;
    restart_lost();
  }
  inevitable_requested = true;  // from here on a retry() cannot roll back (retry.cpp)
  // Room for every reservation this call makes, before the token is taken:
  // after this point nothing allocates, so nothing can fail half-way.
  reserved.reserve(reserved.size() + reads.size() + writes.size());
  if (!holds_token) {
    if (before_irrevocable != nullptr) before_irrevocable(before_irrevocable_context);
    std::uint64_t waited = recording ? record_wait_begin() : 0;
    acquire_inevitability_token(*this);
    if (recording) record_wait_end(*this, waited, true);
  }
  inevitable_site = site;
  if (recording) announce_inevitable_site(*this);  // before the first reservation
  for (const read_entry& r : reads) {
    for (unsigned round = 0;; ++round) {
      std::uint64_t v = r.lock->load(std::memory_order_acquire);
      if (orec_is_locked(v)) {
        if (round > 0 && round % 1024 == 0 && is_shared_orec(r.lock)) {
          durable_notice_stuck_lock(*r.lock, v);  // DURABLE HOOK, as in reserve()
        }
        wait_round(round);
        continue;
      }
      if (orec_version(v) != r.version) {
        irrevocable_next = true;  // keep the token; run irrevocably from the start
        // A destructor while an exception unwinds cannot throw: the attempt
        // is marked lost and the block re-runs when the exception reaches it
        // (inevitable.hpp: the destructor goes on, so its I/O may run twice).
        abandon(abort_cause::read_invalidated, {r.site, r.lock});
        inevitable_requested = false;  // (as a doomed attempt's request, above)
        return;
      }
      if (orec_is_reserved(v)) break;
      if (r.lock->compare_exchange_weak(v, v | orec_reserved_bit, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
        reserved.push_back(r.lock);
        break;
      }
    }
  }
  for (const write_entry& w : writes) reserve(orec_for(w.word));
  mode = tx_mode::irrevocable;
  thread_counters::bump(counters.irrevocable);
  if (recording) record_irrevocable(*this, false);
}

void become_inevitable(source_location site) {
  if (transaction* tx = tls_current) tx->become_irrevocable(site);
}

}  // namespace optimist::detail
