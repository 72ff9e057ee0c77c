// optimist::retry() and what the atomic blocks do with it.
//
//   retry()         checks that the attempt can be rolled back and can be
//                   woken, marks it (retry_pending, doomed) and throws
//                   retry_signal.
//   nested blocks   roll back their level and let the signal pass, as for any
//                   restart (block_restart). Reads are never rolled back
//                   (INVARIANT nesting-marks), so the read set keeps what every
//                   alternative read.
//   or_else         catches the signal after its first alternative and, if the
//                   retry is still pending, clears it and runs the second
//                   (retry_absorbed).
//   outermost block rolls back, keeping the read set (finish_retry), waits in
//                   the wait table until a commit changes one of those orecs
//                   (retry_wait.cpp), then runs the block again. Inside a task
//                   it does not wait: retry_signal leaves the block and the
//                   task runtime sets the task aside.
//
// retry_until(deadline) is retry() while the deadline lies ahead, with the
// deadline noted in the attempt (retry_deadline_ns: the earliest of the calls
// that retried, an or_else's absorbed ones included, since at that deadline
// their alternative answers instead of retrying); the wait then ends at that
// deadline at the latest (park_until; a task: parked_tasks::wake_due). From
// the deadline on the call returns and the block goes on. A timed wait may
// have read nothing: it sleeps until its deadline.
//
// INVARIANT (retry-is-consistent): a retry only waits on a read set that was a
// consistent snapshot (opacity); an attempt that meets a conflict while
// unwinding or after a swallowed signal restarts instead (restart() clears
// retry_pending), so it never waits on values it should not have seen. Waiting
// on a stale read set would be harmless anyway: registration finds the change
// and runs the block again at once.
//
// Hardware transactions (runtime/htm/) cannot keep a read set to wait on:
// retry() aborts them with abort_code_retry and the block runs in software;
// and a hardware writer that sees a registered waiter aborts to software, where
// the commit wakes it (INVARIANT no-lost-wakeup).
//
// Irrevocable attempts: one that called become_inevitable() may already have
// done I/O and cannot roll back, so retry() is a std::logic_error there. One
// the engine made irrevocable (starved, or re-run after becoming inevitable,
// before it calls become_inevitable() again) has done nothing irreversible:
// its writes are still buffered. It reads through reservations instead of the
// read set, so its wait set is the orecs it reserved, whose versions cannot
// have changed while reserved (INVARIANT reserved-is-stable). The rollback
// releases the reservations and the inevitability token.
#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>

#include "htm/abort_injection.hpp"
#include "htm/hardware_barriers.hpp"
#include "memory/epoch_reclaimer.hpp"
#include "optimist/detail/engine.hpp"
#include "optimist/retry.hpp"
#include "profile/recorder.hpp"
#include "stm/doorbell.hpp"
#include "stm/global_clock.hpp"
#include "stm/transaction.hpp"

namespace optimist {

namespace {

std::string where(source_location site) {
  return std::string(site.file_name()) + ":" + std::to_string(site.line());
}

}  // namespace

namespace detail {

// retry() and, before its deadline, retry_until(): `deadline_ns` 0 is none.
[[noreturn]] void retry_waiting(transaction& tx, std::uint64_t deadline_ns, source_location site,
                                const char* name) {
  // A lost attempt (its signal swallowed, or a destructor while it unwinds)
  // restarts; it must not wait on what it read (INVARIANT retry-is-consistent).
  if (tx.doomed) tx.restart_lost();
  if (tx.c_restart_point != nullptr) {
    throw std::logic_error(std::string(name) + " at " + where(site) +
                           " called inside a C transaction: use optimist_tx_retry()");
  }
  switch (tx.prepare_retry(site, deadline_ns)) {
    case retry_refusal::none:
      break;
    case retry_refusal::inevitable:
      throw std::logic_error(std::string(name) + " at " + where(site) +
                             " called after become_inevitable() at " + where(tx.inevitable_site) +
                             ": an inevitable transaction cannot be rolled back");
    case retry_refusal::nothing_read:
      throw std::logic_error(std::string(name) + " at " + where(site) +
                             ": the transaction has read no transactional memory, so no commit "
                             "could ever wake it (it would wait for ever)");
  }
  throw retry_signal{};
}

std::uint64_t deadline_ns_of(std::chrono::steady_clock::time_point deadline) noexcept {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
  return ns > 0 ? static_cast<std::uint64_t>(ns) : 1;
}

transaction& retry_entry(source_location site, const char* name) {
  transaction* tx = tls_current;
  if (tx == nullptr) {
    throw std::logic_error(std::string(name) + " at " + where(site) +
                           " called outside an atomic block: there is no transaction to roll "
                           "back and nothing to wait on");
  }
  // The hardware path cannot wait: the block runs again in software (which
  // also reads a deadline's clock there).
  if (tx->mode == tx_mode::hardware) hardware_abort(abort_code_retry);
  return *tx;
}

}  // namespace detail

void retry(source_location site) {
  detail::retry_waiting(detail::retry_entry(site, "optimist::retry()"), 0, site,
                        "optimist::retry()");
}

void retry_until(std::chrono::steady_clock::time_point deadline, source_location site) {
  detail::transaction& tx = detail::retry_entry(site, "optimist::retry_until()");
  if (std::chrono::steady_clock::now() >= deadline) return;  // timed out: the block goes on
  detail::retry_waiting(tx, detail::deadline_ns_of(deadline), site, "optimist::retry_until()");
}

namespace detail {

retry_refusal transaction::prepare_retry(source_location site, std::uint64_t deadline_ns) {
  if (inevitable_requested) return retry_refusal::inevitable;
  // The attempt's earliest deadline, an or_else's absorbed ones included; noted
  // below, once nothing can refuse or throw any more.
  const std::uint64_t deadline =
      deadline_ns != 0 && (retry_deadline_ns == 0 || deadline_ns < retry_deadline_ns)
          ? deadline_ns
          : retry_deadline_ns;
  if (mode == tx_mode::serial) {
    // No read set to check or wait on: finish_retry() runs the next attempt
    // speculatively, which calls retry() again with one (serial_mode.cpp).
    retry_pending = true;
    retry_site = site;
    retry_deadline_ns = deadline;
    tls_serial_direct = nullptr;  // INVARIANT direct-serial
    doomed = true;
    doom_cause = abort_cause::explicit_restart;
    return retry_refusal::none;
  }
  if (mode == tx_mode::irrevocable) {
    // Made irrevocable by the engine: what it read is what it reserved
    // (INVARIANT reserved-is-stable: the versions are those it read). It read
    // without raising the clock, so a version may be one above it — a lazy
    // stamp nobody has raised the clock to — and the first commit after the
    // rollback could stamp that very version again: the waiter would see no
    // change and sleep through it. So raise the clock to each version first
    // (INVARIANT recorded-below-clock, global_clock.hpp), while the
    // reservations still keep every committer out: a commit that locks the
    // orec once the rollback releases it synchronises with that release,
    // reads the raised clock and stamps above the recorded version
    // (INVARIANT no-lost-wakeup, retry_wait.cpp).
    for (orec* lock : reserved) {
      const std::uint64_t version = orec_version(lock->load(std::memory_order_acquire));
      if (is_shared_orec(lock)) {
        shared_clock_raise_to(version);  // INVARIANT two-clocks
      } else {
        clock_raise_to(version);
      }
      reads.add(lock, version, site);
    }
  }
  // A timed wait (retry_until) may have read nothing: it sleeps until its
  // deadline. In an or_else's first alternative the second one runs instead
  // of a wait (if it retries too, with nothing read, it is refused there), as
  // in serial mode above.
  if (reads.empty() && deadline == 0 && or_else_first_depth == 0) {
    return retry_refusal::nothing_read;
  }
  retry_waiter.reserve(reads.size(), doorbell_marks.size());  // may throw: nothing is marked yet
  retry_pending = true;
  retry_site = site;
  retry_deadline_ns = deadline;
  doomed = true;  // a nested block that swallows the signal cannot go on
  doom_cause = abort_cause::explicit_restart;
  return retry_refusal::none;
}

void or_else_first_enter() noexcept {
  if (transaction* tx = tls_current) ++tx->or_else_first_depth;
}

void or_else_first_leave() noexcept {
  if (transaction* tx = tls_current; tx != nullptr && tx->or_else_first_depth > 0) {
    --tx->or_else_first_depth;
  }
}

bool retry_absorbed() noexcept {
  transaction* tx = tls_current;
  if (tx == nullptr || !tx->retry_pending) return false;
  tx->retry_pending = false;
  tx->doomed = false;
  return true;
}

bool transaction::finish_retry() noexcept {
  if (mode == tx_mode::serial) {
    // serial_mode.cpp: undo, open the gate, run again speculatively.
    retry_pending = false;
    consecutive_aborts = 0;
    rollback_for_retry = true;
    discard_attempt();
    serial_fallback_next = true;
    return true;
  }
  thread_counters::bump(counters.retries);
  retry_pending = false;
  consecutive_aborts = 0;  // waiting for a state is not losing to contention
  irrevocable_next = false;
  retry_reads.clear();
  std::swap(reads, retry_reads);  // keep the read set: it is what to wait on
  retry_marks.clear();
  std::swap(doorbell_marks, retry_marks);  // and where it gave up at a doorbell
  rollback_for_retry = true;
  discard_attempt();  // also releases reservations and the token
  // INVARIANT doorbell-duty: settled if it waits at the same doorbell again.
  settle_doorbell_duty(*this, retry_marks.data(), retry_marks.data() + retry_marks.size());
  if (retry_propagates) return false;  // the task runtime waits with retry_reads, retry_marks
  // INVARIANT (reclaimed-before-sleep): a thread about to sleep first destroys
  // what it retired and nobody can read any more. Reclamation otherwise runs
  // only from retire() once a batch has gathered: a consumer that popped a
  // few hundred items and then waited on an empty tqueue kept every popped
  // item (the old head nodes hold them) alive for as long as it waited.
  if (!retired.empty()) reclaim(*this);
  std::uint64_t waited = recording ? record_wait_begin() : 0;
  wait_for_change(retry_waiter, retry_reads, retry_marks, retry_deadline_ns);
  doorbell_duty = retry_waiter.take_rung();  // a ring woke it: owed until settled
  if (waited != 0) record_wait_end(*this, waited, false);
  retry_reads.clear();
  std::swap(reads, retry_reads);  // both empty; the read set keeps the larger buffer
  retry_marks.clear();
  return true;
}

}  // namespace detail

}  // namespace optimist
