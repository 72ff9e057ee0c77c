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
#pragma once

#include <atomic>
#include <iosfwd>

#include "stm/transaction.hpp"

namespace optimist::detail {

// Nonzero while a serial block holds the gate (it is also the serial lock).
// Read in every speculative start.
inline std::atomic<unsigned> g_serial_gate{0};

// True if this thread's outermost blocks run serially now (its run's mode, or
// the process mode); resolves OPTIMIST_MODE on first use.
bool thread_runs_serial();

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
