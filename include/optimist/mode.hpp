// optimist/mode.hpp — software only, or hardware transactions first.
//
// Where the CPU has Intel RTM, an atomic block can first run as a hardware
// transaction and fall back to the software path (STM) when that fails. Both
// kinds run at the same time and stay consistent with each other: no thread
// ever stops because another one fell back.
//
//   optimist::set_execution_mode(optimist::execution_mode::stm);  // software only
//   if (optimist::htm_available()) { ... }
//
// execution_mode
//   stm        software transactions only.
//   htm        hardware first, even where CPUID does not report RTM (for
//              testing). Where the XBEGIN instruction cannot execute at all
//              (it raises SIGILL on CPUs without TSX), hardware attempts are
//              simulated as aborts with status 0 — what a CPU with TSX
//              disabled in firmware answers — so the fallback path and the
//              policy run as they would there.
//   automatic  the default: while the calling thread is the only one that
//              has run transactions (and is still alive), its blocks run
//              serially, as in serial mode: the cost of a lock, no aborts.
//              (Threads keep their descriptor until they end, and oneTBB's
//              workers outlive a task run: after a run on two workers or
//              more the calling thread is no longer alone.)
//              As soon as a second thread runs one, a controller decides
//              (runtime/stm/mode_controller.hpp): it starts speculatively
//              (hardware first where CPUID reports RTM, else stm), measures
//              committed blocks per second of CPU time of the threads
//              that run transactions in epochs of about 1 ms, now and then
//              runs epochs serially (at once under heavy conflict), and
//              switches only when the other mode was more than 15 % faster
//              twice in a row (a run pays for its first ~10 ms
//              speculatively while it learns). What it learns is kept per
//              line that starts a task run (and once for blocks outside
//              task runs): a loop run again starts from its own verdict;
//              stats().automatic and mode_switches() (and the
//              report) say how long each mode ran and why it switched.
//              Decided per outermost block (stats().serial_commits counts
//              the serial ones). A serial block beside other threads that
//              waits long for the lock runs speculatively instead. A
//              thread that arrives while a serial block runs waits briefly,
//              then the serial block gives way: its writes are undone and it
//              restarts, speculatively, at its next access or commit
//              (stats().serial_give_ways). So a block that waits for a
//              thread it started (joins it, spins on a flag it sets) works
//              as in stm mode. A serial block that calls
//              become_inevitable() could no longer give way, so it re-runs
//              there as stm's inevitable blocks run (irrevocable, beside
//              the others): the code before become_inevitable() runs twice.
//   serial     each atomic block runs alone under one global lock and reads
//              and writes memory in place (no read set, no redo log): the
//              cost of a lock, for one thread or heavy conflict. Writes keep
//              an undo log, so an exception (also from a nested block) still
//              rolls back exactly; retry() runs the block's next attempt in
//              software, where it waits for a change; or_else works as
//              usual. Serial blocks and speculative ones may run in one
//              process (a run_options::mode, a change of mode): a serial
//              block waits until no speculative attempt runs (for at most
//              2 ms: then it runs speculatively itself, since such an
//              attempt may wait for it through a thread it joined), and
//              none starts while it runs. serial_lock_waits() (and the report)
//              give the time spent waiting for the lock, per block.
//              Like any lock: a serial block must not wait for another
//              thread's atomic block or transactional access (it would wait
//              for ever). In an ordered task run a serial task or group
//              waits for its turn first and then runs; a speculative later
//              task that waits for its turn inside its block rolls back
//              while a serial block runs, so the two never wait for each
//              other.
//
// Hardware first means: an outermost atomic block runs as an RTM transaction;
// if that aborts, it is retried in hardware only while the abort status says
// a retry may succeed (never after a capacity abort), then runs in software.
// Software and hardware transactions run side by side and stay consistent
// (runtime/htm/hardware_path_rtm.cpp). Each thread learns per atomic block
// (its source location) how often hardware succeeds there, and stops trying
// where it does not (re-trying now and then, less often each time). Blocks
// that throw, call become_inevitable() or retry() end up in software, where
// those have their usual meaning. optimist::stats().hardware counts attempts,
// commits and aborts by cause; the report lists them per block.
//
// The mode starts from the OPTIMIST_MODE environment variable (stm, htm,
// serial or auto, also spelt automatic; anything else makes every atomic block
// throw std::invalid_argument naming the value, until the program sets a mode;
// single accesses outside blocks need no mode and are not refused, since they
// also run in destructors, which cannot throw) and can be changed with
// set_execution_mode() or for one run of tasks with run_options::mode. Each
// outermost block takes the mode current at its start; switching between stm
// and serial while other blocks run is safe (the serial gate). Change it to or
// from htm while no transaction runs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "optimist/source_location.hpp"
#include "optimist/stats.hpp"

namespace optimist {

enum class execution_mode { stm, htm, automatic, serial };

// set_execution_mode(mode) / execution_mode_now()
//   Sets or reads the process-wide mode.
void set_execution_mode(execution_mode mode);
execution_mode execution_mode_now();

// htm_available()
//   True if CPUID says this CPU has RTM (leaf 7, EBX bit 11).
bool htm_available() noexcept;

// to_string(mode) / parse_execution_mode(text)
//   "stm", "htm", "auto", "serial"; parsing anything else throws
//   std::invalid_argument.
std::string_view to_string(execution_mode mode) noexcept;
execution_mode parse_execution_mode(std::string_view text);

// serial_lock_waits() / reset_serial_lock_waits()
//   Per atomic block (its source location), how often it ran serially and how
//   long its threads waited for the serial lock, largest wait first. Recorded
//   only while reporting is on (OPTIMIST_REPORT or optimist::report::enable).
struct serial_wait {
  source_location site;
  std::uint64_t blocks = 0;  // serial attempts started here
  double waiting_s = 0;      // time spent waiting for the lock and the gate (0 for a block
                             // that found the lock free and nothing to wait out)
};
std::vector<serial_wait> serial_lock_waits();
void reset_serial_lock_waits();

// mode_switches()
//   Auto mode's controller (above): its switches between speculative and
//   serial execution since the last reset_stats() (at most the last 256),
//   oldest first, each with the figures that made it switch.
//   stats().automatic counts them and the time spent in each mode.
struct mode_switch {
  double at_s = 0;         // seconds since the last reset_stats() (or the first measurement)
  bool to_serial = false;  // speculative -> serial; else serial -> speculative
  mode_switch_reason reason = mode_switch_reason::sampled;
  double speculative_per_s = 0;  // committed blocks, all threads, per second of CPU time of
  double serial_per_s = 0;       // the threads running transactions, measured in each mode
  double aborts_per_commit = 0;  // in the speculative measurement
  unsigned threads = 0;          // threads holding a transaction descriptor
  // The task run whose verdict switched: the controller keeps one per line
  // that calls run_all_tasks() / task_queue::run(), and this is that line
  // (run_file empty: blocks outside task runs, which share one verdict).
  std::string run_file;
  unsigned run_line = 0;
  std::string run_function;
  friend bool operator==(const mode_switch&, const mode_switch&) = default;
};
std::vector<mode_switch> mode_switches();

}  // namespace optimist
