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
// INVARIANT (gate-census, serial_mode.cpp): a serial holder whose census load
// after closing the gate counts only itself skips the registry walks; one
// whose census load at commit counts only itself opens the gate with a
// release store instead of a full barrier. Threads counted out register
// later, so their first gate check sees the gate closed, or open from that
// release store.
#pragma once

#include <atomic>
#include <iosfwd>

#include "stm/thread_census.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

// Nonzero while a serial block holds the gate (it is also the serial lock).
// Read in every speculative start.
inline std::atomic<unsigned> g_serial_gate{0};

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
// gate (its first speculative start or standalone access), and the next
// block of the serial thread sees it counted and speculates. Except:
//   - a pending irrevocable re-run (irrevocable_next: it holds or takes the
//     inevitability token, and its attempt must be the irrevocable one), and
//   - ordered task runs (before_irrevocable): a later task waits for its turn
//     inside its block, where a serial earlier task would wait for it
//     (optimist/mode.hpp);
// both run speculatively.
inline bool thread_runs_serial(const transaction& tx) {
  int choice = tls_serial_choice;
  if (choice == static_cast<int>(serial_choice::unresolved))
    choice = g_serial_choice.load(std::memory_order_relaxed);
  if (choice == static_cast<int>(serial_choice::when_alone)) {
    return (census_now() & census_count_mask) == 1 && !tx.irrevocable_next &&
           tx.before_irrevocable == nullptr;
  }
  if (choice == static_cast<int>(serial_choice::unresolved)) [[unlikely]]
    return thread_runs_serial_unresolved(tx);
  return choice == static_cast<int>(serial_choice::always);
}

// Called by a speculative attempt after publishing active_since and
// start_fence(): returns at once while the gate is open and this thread is
// known to the gate; otherwise withdraws the start time, waits, publishes a
// fresh one (snapshot too) and looks again.
void pass_gate_slow(transaction& tx);
inline void pass_gate(transaction& tx) {
  if (!tx.may_speculate.load(std::memory_order_relaxed) ||
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
