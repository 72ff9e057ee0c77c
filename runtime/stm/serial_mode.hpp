// Serial mode and the gate between serial and speculative execution
// (runtime/stm/serial_mode.cpp).
//
// A serial block runs alone: it takes the serial lock, closes the gate, waits
// until no speculative attempt (software transaction or standalone access) is
// running, then reads and writes memory in place, keeping an undo log
// (undo_log.hpp) so that an exception or a nested block that throws still
// rolls back exactly. Speculative attempts pass the gate with one load of
// g_serial_gate after publishing their start time (active_since); a serial
// holder waits for every published start time to be withdrawn.
//
// INVARIANT (gate-exclusive): while g_serial_gate is closed, no other thread
// runs a software attempt or a standalone access past its gate check, and no
// hardware transaction that read the gate open commits (it read the gate in
// its read set). Proof sketch (Dekker): a speculator stores active_since, then
// (start_fence) loads the gate; the serial holder stores the gate, then (a
// seq_cst fence, or membarrier when it revokes some thread's right to run
// with the asymmetric start_fence, may_speculate) loads every active_since.
// One of the two sees the other's store.
// INVARIANT (permits-counted): g_speculation_permits is at least the number of
// descriptors whose may_speculate is not permit_none (a permit is counted
// before it is granted and uncounted after it is cleared), and a permit is
// cleared only by its owner (closing the gate, or at thread exit) or by a
// gate holder that revoked it, fenced (heavy_fence), and then saw the thread
// inactive. A serial holder whose count load after closing the gate reads 0
// skips the registry walks: every speculator passed its gate check with a
// granted permit, and a thread whose permit is none or revoked enters through
// pass_gate_slow, which counts or re-grants it (a seq_cst RMW) before its
// seq_cst gate load; so it either sees the gate closed or is counted by the
// load. A revoked permit's owner saw the revocation in every attempt it began
// after the heavy fence; so an attempt running past its gate check while the
// count reads 0 would have had to begin before that fence and still be
// running when the thread was seen inactive: impossible. With every thread
// serial (serial mode, or auto mode's serial verdict), serial blocks then
// never read another thread's descriptor.
// INVARIANT (gate-census, serial_mode.cpp): a serial holder whose census load
// after closing the gate counts only itself skips the registry walks; one
// whose census load at commit counts only itself opens the gate with a
// release store instead of a full barrier. Threads counted out register
// later, so their first gate check sees the gate closed, or open from that
// release store.
#pragma once

#include <atomic>
#include <cstdint>
#include <iosfwd>

#include "stm/mode_controller.hpp"
#include "stm/thread_census.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

// An atomic alone on its cache line: alignas makes the size 64 too, so the
// linker places nothing beside it.
template <class T>
struct alignas(64) line_atomic : std::atomic<T> {
  using std::atomic<T>::atomic;
};

// Nonzero while a serial block holds the gate (it is also the serial lock):
// the holder's descriptor address (give-way, below). Read in every
// speculative start. On a line of its own: serial blocks write it twice each
// and waiters spin on it, so a flag read beside it (g_reporting, the shared
// orec map, both read in every block) would miss in every block too; at two
// threads that tripled a serial bank transfer (bench_bank).
inline line_atomic<std::uintptr_t> g_serial_gate{0};
static_assert(sizeof(g_serial_gate) == 64);

// may_speculate values (transaction.hpp).
inline constexpr std::uint8_t permit_none = 0;
inline constexpr std::uint8_t permit_granted = 1;
inline constexpr std::uint8_t permit_revoked = 2;

// How many descriptors hold a granted or revoked permit (INVARIANT
// permits-counted). Written when a thread starts speculating after running
// serially, and when a gate holder revokes: rarely in a steady state.
inline line_atomic<std::uint64_t> g_speculation_permits{0};

// Clears the calling owner's permit (closing the gate, thread exit).
inline void clear_speculation_permit(std::atomic<std::uint8_t>& permit) noexcept {
  if (permit.load(std::memory_order_relaxed) != permit_none &&
      permit.exchange(permit_none, std::memory_order_seq_cst) != permit_none) {
    g_speculation_permits.fetch_sub(1, std::memory_order_seq_cst);
  }
}

// Which outermost blocks run serially: the process's choice (set with the
// execution mode, runtime/htm/execution_mode.cpp) and a thread's own while a
// scoped_execution_mode (a run's mode) is alive.
enum class serial_choice : int {
  unresolved = -1,  // OPTIMIST_MODE not read yet (process), no override (thread)
  never = 0,        // stm, htm
  always = 1,       // serial
  when_alone = 2,   // auto: serially while no other thread holds a descriptor
};
inline std::atomic<int> g_serial_choice{static_cast<int>(serial_choice::unresolved)};
[[gnu::tls_model("initial-exec")]] inline thread_local int tls_serial_choice =
    static_cast<int>(serial_choice::unresolved);

// thread_runs_serial() the first time: reads OPTIMIST_MODE (may throw
// std::invalid_argument naming a bad value).
bool thread_runs_serial_unresolved(const transaction& tx);

// True if the next outermost block of `tx` (this thread's descriptor, between
// attempts) runs serially: its run's mode, or the process mode. Inline: a few
// loads on the path of every outermost block.
//
// Auto mode (when_alone), the controller: serially while the thread census
// (thread_census.hpp) counts this thread alone, since then nothing could run
// beside the block anyway and serial is the cheapest way to run it;
// speculatively (hardware first where RTM exists) as soon as a second thread
// holds a descriptor. It is decided per outermost attempt and needs no
// hysteresis: a thread that arrives while a serial block runs waits at the
// gate (its first speculative start or standalone access), briefly: then the
// block gives way (below); the next block of the serial thread sees it
// counted and speculates. Except:
//   - a pending irrevocable re-run (irrevocable_next: it holds or takes the
//     inevitability token, and its attempt must be the irrevocable one), and
//   - ordered tasks that wait for their turn inside their block
//     (before_irrevocable), where a serial earlier task would wait for them;
// both run speculatively. A group that waits for nobody (serial_runs_group,
// also with before_irrevocable: its hook splits the group) runs serially, as
// in serial mode: an unordered element group, or an ordered group that
// already holds its turn (task_queue_state.hpp, INVARIANT serial-turn-first).
//
// serial_answer: the part decided with loads alone (block_begin's fast path
// uses it too); ask_controller and ask_mode are left to thread_runs_serial.
enum class serial_answer { speculative, serial, ask_controller, ask_mode };
inline serial_answer serial_answer_from_loads(const transaction& tx) noexcept {
  int choice = tls_serial_choice;
  if (choice == static_cast<int>(serial_choice::unresolved))
    choice = g_serial_choice.load(std::memory_order_relaxed);
  if (choice == static_cast<int>(serial_choice::when_alone)) {
    if (tx.irrevocable_next || (tx.before_irrevocable != nullptr && !tx.serial_runs_group))
      return serial_answer::speculative;
    // Beside other threads, the controller's verdict (mode_controller.hpp).
    return (census_now() & census_count_mask) == 1 ? serial_answer::serial
                                                   : serial_answer::ask_controller;
  }
  if (choice == static_cast<int>(serial_choice::unresolved)) [[unlikely]]
    return serial_answer::ask_mode;
  return choice == static_cast<int>(serial_choice::always) ? serial_answer::serial
                                                           : serial_answer::speculative;
}

inline bool thread_runs_serial(const transaction& tx) {
  switch (serial_answer_from_loads(tx)) {
    case serial_answer::speculative:
      return false;
    case serial_answer::serial:
      return true;
    case serial_answer::ask_controller:
      return controller_says_serial();
    case serial_answer::ask_mode:
      break;
  }
  return thread_runs_serial_unresolved(tx);
}

// True if this thread's serial blocks are auto mode's (serial_choice::when_alone),
// not serial mode's: such a block that calls become_inevitable() re-runs as an
// irrevocable software transaction instead (inevitability.cpp).
inline bool serial_is_auto() noexcept {
  int choice = tls_serial_choice;
  if (choice == static_cast<int>(serial_choice::unresolved))
    choice = g_serial_choice.load(std::memory_order_relaxed);
  return choice == static_cast<int>(serial_choice::when_alone);
}

// Give-way: a thread that waits at the gate for longer than a short serial
// block takes (give_way_after_ns in serial_mode.cpp) claims the holder (its
// descriptor's serial_claimed, 0 -> 1, one CAS: one claimant per holder) and
// the serial attempt gives way: its in-place writes are undone through its
// undo log, the gate opens, and the attempt, now a doomed speculative one,
// restarts at its next barrier, commit, retry or rollback and runs again
// speculatively. This is what keeps a lone thread's serial block (auto mode)
// from waiting for ever for a thread that arrives while it runs.
//
// Who undoes: the serial attempt is in one of two places (serial_phase):
//   1 (user code)  its own code between barriers: the claimant undoes the
//                  writes itself (undo_log::replay_all), marks the attempt
//                  taken over (serial_taken_over, release) and opens the
//                  gate. So a block that waits outside the STM — spins on a
//                  std::atomic, joins a thread, blocks on a mutex or condition
//                  variable — for the arriving thread's transaction does not
//                  hang: that thread's transaction runs before it, and the
//                  block restarts at its next barrier or at its commit.
//   2 (runtime)    inside a barrier, commit or rollback of the attempt: the
//                  claimant waits (these never block), and the attempt sees
//                  the claim at its next entry.
// A claim can arrive after the attempt's last runtime entry: the attempt
// ends (opens the gate) without seeing it. The claim is then stale, and the
// claimant drops it (clears serial_claimed) when it sees the gate no longer
// names the holder, or when the owner's next serial attempt, which checks
// serial_claimed once the gate is closed, stores serial_phase 3 and waits
// for the drop before it enters user code. INVARIANT (claim-current): a
// claimant takes over only an attempt in user code that will see its claim;
// a stale claim never reaches the owner's next attempt (before: a claimant
// that read the gate before one attempt ended and serial_phase after the
// next began undid the wrong attempt, and left a stale serial_taken_over
// for a later claim to misread). Proof: the next attempt's check follows its
// gate CAS, the claimant's gate load follows its claim CAS (both seq_cst):
// either the check sees the claim (phase 3: the claimant drops it), or the
// claimant's gate load sees the new attempt holding the gate, and the claim
// is on that attempt, whose entries see it (below).
// Every runtime entry of a serial attempt (serial_enter) stores 2, then loads
// serial_claimed; the claimant CASes it, then (heavy_fence: membarrier) loads
// serial_phase. INVARIANT (give-way-exclusive): the claimant touches the
// attempt's memory only while it is in user code, and the attempt touches it
// again only after it has seen the takeover. Proof (Dekker, asymmetric like
// the gate): either the claimant's phase load sees the entry's 2 (it waits
// for the 1 stored when the entry leaves, release, and the next entry sees
// the claim), or the entry's load sees the claim and the entry diverts
// (serial_divert): it stores 1 and waits for serial_taken_over (acquire)
// without touching memory. The claimant's writes, and the gate opening, are
// ordered before the attempt's next step by that release/acquire pair; the
// owner clears serial_claimed after it, when the claimant is done.
// The inline read barrier (optimist/detail/serial_access.hpp) is the one
// access that does not enter the runtime: the claimant may undo writes while
// it runs. INVARIANT (read-then-claim): a direct serial read returns a value
// to user code only if its claim load, after the word's load and an acquire
// fence, saw no claim; and no value it returns was written by an undo. Proof:
// the claimant's undo stores follow its claim CAS and heavy_fence. If the
// word's load read an undo store, then (fence to fence: the claimant's seq_cst
// fence before that store, our acquire fence after the load; with membarrier,
// the owner's load ran after the barrier's IPI, and x86 keeps our two loads
// in order) the claim load happens after the CAS and sees the claim, which
// only the owner clears, after the takeover. So user code sees the attempt's
// memory as it was before the claimant touched it, or restarts.
// Not given way (the claimant waits, as before give-way existed):
//   - an attempt that called become_inevitable() (serial_inevitable): it has
//     done what cannot be undone; the claim lasts until it commits (and is
//     then stale). Only in serial mode: auto mode re-runs such a block
//     irrevocably in software instead (serial_is_auto, inevitability.cpp),
//     where it cannot make an arriving thread wait at the gate;
//   - a serial block waiting for another serial block (serial mode: blocks
//     are serial by choice there; only speculative waiters claim).
// Without membarrier (g_start_needs_fence, OPTIMIST_SYMMETRIC_FENCES) both
// sides fence in full (start_fence, heavy_fence): slower serial accesses,
// same protocol.

// INVARIANT (taken-over-counted): how many attempts have been taken over
// (give-way) and not yet ended. The claimant adds one before it marks the
// attempt taken over and opens the gate; the attempt's owner takes it away
// (release) when the attempt ends (discard_attempt), after the attempt's
// last read: its direct reads until its next barrier diverts it, and the
// doomed ones after that while it unwinds (what runs after discard_attempt,
// destructors of objects it allocated, is outside the attempt, as for epoch
// reclamation). Such an attempt runs beside later serial ones; a serial
// commit that reads 0 here with the gate closed (acquire) knows that every
// taken-over attempt it could race has ended, and that their reads happened
// before (serial-deletes-now, commit.cpp). Proof: the increment precedes the
// claimant's gate store, and every later gate owner took the gate by a CAS
// that read a chain of such stores, so the load reads that increment or a
// later change. Each attempt's decrement follows its increment in the
// counter's order (serial_taken_over, release/acquire), so a sum of 0 means
// every attempt counted before the load has taken itself away; every change
// is a read-modify-write, so the load synchronizes with each decrement.
inline std::atomic<std::uint32_t> g_taken_over_running{0};

// Entering the runtime from a serial attempt (its owner only): true while
// the attempt is unclaimed; false: call serial_divert.
// serial_enter(tx) / serial_leave(tx): in optimist/detail/serial_access.hpp,
// where the inline barriers use them too.

// serial_enter returned false: the attempt is claimed. Returns false if the
// attempt goes on (it is inevitable; serial_leave when done); true if it was
// taken over: its writes are undone, the gate is open, and it is now a doomed
// speculative attempt (mode optimistic, doomed, the next attempt runs
// speculatively). The caller throws restart_signal or, while unwinding,
// answers as a doomed attempt does.
bool serial_divert(transaction& tx) noexcept;

// Test seam: called by a claimant each time round its wait for the holder
// (give-way), between its gate load and its serial_phase load, and with
// take_over_test_taking just before it takes the attempt over; nullptr (the
// default) in use.
inline void (*g_take_over_test_hook)(unsigned round) = nullptr;
inline constexpr unsigned take_over_test_taking = ~0u;

// Called by a speculative attempt after publishing active_since and
// start_fence(): returns at once while the gate is open and this thread is
// known to the gate; otherwise withdraws the start time, waits, publishes a
// fresh one (snapshot too) and looks again.
void pass_gate_slow(transaction& tx);
inline void pass_gate(transaction& tx) {
  if (tx.may_speculate.load(std::memory_order_relaxed) != permit_granted ||
      g_serial_gate.load(std::memory_order_seq_cst) != 0) [[unlikely]] {
    pass_gate_slow(tx);
  }
}

// A standalone access (outside any transaction) passes the gate for its
// duration: it must not see a serial block's uncommitted in-place writes, nor
// change a word a serial block reads.
class standalone_gate {
 public:
  standalone_gate();
  ~standalone_gate();
  standalone_gate(const standalone_gate&) = delete;
  standalone_gate& operator=(const standalone_gate&) = delete;
  transaction& self() noexcept { return tx_; }

 private:
  transaction& tx_;
  std::uint64_t previous_;
};

// The report's serial section (OPTIMIST_REPORT text output): per block, how
// often it ran serially and how long it waited for the lock. Nothing if no
// block ran serially while reporting was on.
void write_serial_lock_waits(std::ostream& out);

}  // namespace optimist::detail
