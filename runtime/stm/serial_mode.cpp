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

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <ostream>
#include <thread>
#include <unordered_map>
#include <vector>

#include "memory/epoch_reclaimer.hpp"
#include "optimist/mode.hpp"
#include "profile/orec_sites.hpp"
#include "profile/recorder.hpp"
#include "profile/site_key.hpp"
#include "stm/contention_manager.hpp"
#include "stm/global_clock.hpp"
#include "stm/orec_table.hpp"
#include "stm/retry_wait.hpp"
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
  if (!g_start_needs_fence.load(std::memory_order_relaxed) &&
      syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) {
    return;
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

// Per-site time spent waiting for the serial lock (only while reporting).
struct site_wait {
  std::uint64_t blocks = 0;
  std::uint64_t waited_ns = 0;
};
std::mutex& waits_mutex() {
  static std::mutex m;
  return m;
}
std::unordered_map<site_key, site_wait>& waits() {
  static std::unordered_map<site_key, site_wait> table;
  return table;
}

std::uint64_t steady_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

void close_gate(transaction& self) {
  // The gate is also the serial lock (test-and-test-and-set): closing it
  // excludes other serial blocks and new speculative attempts at once. The
  // seq_cst exchange, then seq_cst loads: the serial side of the Dekker
  // pattern (the speculator's side: its store, start_fence(), the gate load).
  for (unsigned round = 0; g_serial_gate.load(std::memory_order_relaxed) != 0 ||
                           g_serial_gate.exchange(1, std::memory_order_seq_cst) != 0;
       ++round) {
    pause_round(round);
  }
  self.may_speculate.store(false, std::memory_order_relaxed);
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
    if (&t != &self && t.may_speculate.load(std::memory_order_seq_cst)) {
      t.may_speculate.store(false, std::memory_order_seq_cst);
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
  // is seen here; wait for those to finish (they never wait for us: a
  // speculative attempt waits only for committers and the token, and gives
  // the token up while it waits at the gate).
  for_each_registered([&](transaction& t) {
    if (&t == &self) return;
    for (unsigned round = 0; t.active_since.load(std::memory_order_acquire) != not_active;
         ++round) {
      pause_round(round);
    }
  });
}

void open_gate() noexcept {
  g_serial_gate.store(0, std::memory_order_release);
}

// Opens the gate with a seq_cst exchange: also the full barrier that orders
// the orec stores before the waiter-count load (INVARIANT no-lost-wakeup).
void open_gate_seq_cst() noexcept {
  g_serial_gate.exchange(0, std::memory_order_seq_cst);
}

}  // namespace

void pass_gate_slow(transaction& tx) {
  for (;;) {
    if (!tx.may_speculate.load(std::memory_order_relaxed)) {
      // First speculation since this thread last ran serially: a full fence
      // this once, so that a serial holder that missed the flag is seen by
      // our gate load (and one that sees it uses the heavy fence from then on).
      tx.may_speculate.store(true, std::memory_order_seq_cst);
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
    if (g_serial_gate.load(std::memory_order_seq_cst) == 0) return;
    // Closed: withdraw, wait for the serial block, publish afresh.
    const bool had_token = tx.holds_token;
    if (had_token) release_inevitability_token(tx);  // the serial holder may wait on its user
    tx.active_since.store(not_active, std::memory_order_release);
    for (unsigned round = 0; g_serial_gate.load(std::memory_order_acquire) != 0; ++round) {
      pause_round(round);
    }
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

void transaction::start_serial(source_location site) {
  recording = reporting_on();
  const std::uint64_t waited = recording ? record_wait_begin() : 0;
  const std::uint64_t wait_start = recording ? steady_ns() : 0;
  // Ordered task runs: wait for the task's turn before taking the lock (the
  // task would otherwise wait for its turn while holding it, and the earlier
  // task it waits for could not run).
  if (before_irrevocable != nullptr) before_irrevocable(before_irrevocable_context);
  close_gate(*this);
  if (recording) {
    record_wait_end(*this, waited, false);
    const std::uint64_t ns = steady_ns() - wait_start;
    try {
      std::lock_guard<std::mutex> lock(waits_mutex());
      site_wait& w = waits()[pack_site(site)];
      ++w.blocks;
      w.waited_ns += ns;
    } catch (...) {
      // Out of memory: the report misses this wait; the block still runs.
    }
  }
  block_site = site;
  doomed = false;
  retry_pending = false;
  inevitable_requested = false;
  unwinding_base = std::uncaught_exceptions();
  depth = 1;
  const std::uint64_t now = clock_now();
  snapshot = now;
  // INVARIANT reclaim-safe: standalone deletions by threads outside the gate
  // may still retire objects this block reads.
  active_since.store(now, std::memory_order_release);
  if (recording) record_attempt_start(*this);
  mode = tx_mode::serial;
  tls_current = this;
}

void transaction::commit_serial() noexcept {
  if (undo.empty()) {
    snapshot = commit_stamp({.deleted = !deletions.empty()});
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
    // INVARIANT no-lost-wakeup (retry_wait.cpp): the orec stores, a full
    // barrier (the gate's exchange), then the one seq_cst load of the waiter
    // count. Waking after the gate opens is fine: waiters are woken outside
    // any transaction and re-check their read sets themselves.
    open_gate_seq_cst();
    if (waiters_present()) {
      for (const undo_entry& e : undo) wake_waiters_on(orec_for(e.word));
    }
    undo.clear();
    return;
  }
  open_gate();
}

void transaction::undo_serial() noexcept {
  undo.rollback_to(0);  // INVARIANT undo-exact: memory as before the block
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
