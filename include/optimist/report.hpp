// optimist/report.hpp — where transactions conflict, and what it costs.
//
// With reporting on, optimist records every conflict with both source lines
// (the access in the aborted transaction, the write in the other one), its
// kind and the time it lost, plus each inevitable transaction and how long it
// held others back. A profile aggregates them, largest loss first. Where
// atomic blocks run as hardware transactions first (optimist/mode.hpp), it
// also lists, per block, how often hardware was tried, committed and aborted
// and why.
//
// Switch it on without touching code: OPTIMIST_REPORT=stderr (or empty) prints
// the text report at exit; OPTIMIST_REPORT=out.json writes JSON;
// OPTIMIST_REPORT=out.trace.json writes a Chrome trace (open it in Perfetto or
// chrome://tracing); any other path gets the text report. Or from code:
//
//   optimist::report::enable();
//   run_my_loop();
//   optimist::report::profile p = optimist::report::snapshot();
//   optimist::report::write_text(std::cout, p);
//
// A text report reads (samples/conflict_report prints a real one; the lines
// here are illustrative):
//   0.007 s lost in 1879 aborts (write-read)
//     aborted read:  samples/conflict_report.cpp:47 in ...   long invoice = next_invoice.get();
//     by write:      samples/conflict_report.cpp:48 in ...   next_invoice.set(invoice + 1);
// where auto mode's controller switched between speculative and serial
// execution (two or more threads):
//   Auto mode (two or more threads)
//   0.812 s speculative (40000 blocks), 0.188 s serial (9000 blocks), 3 samples, 1 switch
//     at 0.012 s: speculative -> serial (sampled): serial 4100000 blocks/s, speculative
//       2000000 blocks/s, 1.30 aborts per commit, 2 threads
// and, where atomic blocks tried hardware transactions:
//   1200 blocks, 1000 committed in hardware (83.3%), 1500 attempts, 200 skipped by the policy
//     atomic block:  app.cpp:31 in transfer   optimist::atomically([&] {
//     aborts:        300 conflict, 0 capacity, 200 explicit, 0 other
//     policy:        hardware off on 1 of 2 threads
//
// Cost: with reporting off, nothing beyond the always-on counters of
// optimist::stats(). With it on, two timestamps per transaction and one
// relaxed store per written word at commit.
//
// Limit: a site is kept as a pointer to its std::source_location, which lives
// in the code that ran the block. A shared library that ran transactions must
// stay loaded (no dlclose) while reports are taken, the one at exit included.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <limits>
#include <string>
#include <vector>

#include "optimist/mode.hpp"
#include "optimist/stats.hpp"

namespace optimist::report {

enum class conflict_kind {
  write_write,  // two transactions wrote the same word; the later committer aborted
  write_read,   // a word this transaction read was written by a committed transaction
  inevitable,   // this transaction needed a word the inevitable transaction holds
};

// "write-write", "write-read", "inevitable".
const char* to_string(conflict_kind kind) noexcept;

// A place in the user's source.
struct site {
  std::string file;
  unsigned line = 0;
  std::string function;
  // True when the exact access is unknown and this is the atomic block (or
  // task) that contained it; reports say so.
  bool block_only = false;

  friend bool operator==(const site&, const site&) = default;
};

// One group of conflicts: same kind, same aborted site, same other site.
struct conflict {
  conflict_kind kind = conflict_kind::write_read;
  site aborted_site;  // the access in the transaction that aborted
  site other_site;    // the write (or inevitable point) in the other transaction
  std::uint64_t count = 0;
  // From the start of each aborted attempt to its abort, less what the attempt
  // spent waiting (for the inevitability token or its turn): that is waiting_s.
  double time_lost_s = 0;
};

// One group of inevitable transactions, by the place they became inevitable.
struct inevitable {
  site where;
  std::uint64_t count = 0;
  double inevitable_s = 0;      // time spent inevitable
  double blocked_others_s = 0;  // time others waited for it or lost to aborts it caused
  // True when the transaction did not ask to be inevitable: it had restarted
  // too often and ran irrevocably (optimist's progress guarantee); `where` is
  // then the access of its last conflict, the hot spot that starved it.
  bool starved = false;
};

// One atomic block (by its source location) that reached the hardware path:
// what its hardware transactions did there, summed over threads. Counters are
// those of optimist::stats().hardware, per block.
struct hardware_block {
  site where;                  // the atomic block; block_only is true
  std::uint64_t blocks = 0;    // outermost blocks run here in a hardware-first mode
  std::uint64_t attempts = 0;  // hardware transactions begun (retries included)
  std::uint64_t commits = 0;   // blocks that committed in hardware
  std::uint64_t skipped = 0;   // blocks the per-site policy sent straight to software
  // Aborted hardware attempts, indexed by optimist::hardware_abort_cause:
  // conflict, capacity, explicit, other. Use aborts_for(cause).
  std::array<std::uint64_t, hardware_abort_cause_count> aborts_by_cause{};
  unsigned threads = 0;              // threads that ran the block (since reset(), see snapshot())
  unsigned threads_in_software = 0;  // of which the policy skips hardware here now

  std::uint64_t aborts_for(hardware_abort_cause cause) const noexcept {
    return aborts_by_cause[static_cast<std::size_t>(cause)];
  }
};

// Auto mode's controller with two or more threads (optimist/mode.hpp): how
// long blocks ran speculatively and serially, and each switch between them
// with the figures that caused it. Empty when the controller never ran (one
// thread, or another mode).
struct auto_mode_summary {
  double speculative_s = 0;
  double serial_s = 0;
  std::uint64_t speculative_blocks = 0;  // committed outermost blocks
  std::uint64_t serial_blocks = 0;
  std::uint64_t samples = 0;  // epochs run in the mode not chosen, to measure it
  // Oldest first; at_s counts from the start of reporting (enable or reset).
  std::vector<mode_switch> switches;
  bool empty() const noexcept {
    return speculative_s == 0 && serial_s == 0 && speculative_blocks == 0 && serial_blocks == 0 &&
           samples == 0 && switches.empty();
  }
};

struct thread_times {
  unsigned thread = 0;  // index in order of first transaction
  double committed_s = 0;
  double aborted_s = 0;
  double waiting_s = 0;  // waiting for the inevitability token, a commit turn or backoff
  double outside_s = 0;  // between transactions
};

struct totals {
  std::uint64_t commits = 0;
  std::uint64_t aborts = 0;
  double wall_s = 0;  // since reporting was enabled or last reset
  double committed_s = 0;
  double aborted_s = 0;
  double waiting_s = 0;
  // Tasks of a task run that committed in the transaction of the task before
  // them (optimist/tasks.hpp: runs commit consecutive tiny tasks as one
  // group). commits counts each group once; commits + grouped_tasks is the
  // atomic blocks that committed, the figure the auto mode section counts.
  std::uint64_t grouped_tasks = 0;
};

struct profile {
  report::totals totals;
  std::vector<conflict> conflicts;      // sorted by time lost, largest first
  std::vector<inevitable> inevitables;  // sorted by blocked_others_s, largest first
  std::vector<thread_times> threads;
  // Sorted by attempts, largest first. Filled by snapshot() whether or not
  // reporting is enabled (the counters are always on); empty in software-only
  // runs.
  std::vector<hardware_block> hardware;
  // Counted from the last reset() or the enable() that switched reporting on,
  // whether or not reporting is enabled (the controller's counters are always on).
  auto_mode_summary auto_mode;
};

// enable(on)
//   Starts (or stops) recording. Switching it on starts afresh, as reset()
//   does: what an earlier period recorded is forgotten. OPTIMIST_REPORT set in
//   the environment enables it at the first transaction.
void enable(bool on = true);
bool enabled() noexcept;

// snapshot()
//   Everything recorded since enable() or the last reset(). The hardware
//   blocks count from the last reset() or the enable() that switched
//   reporting on (from the start of the program if neither was called);
//   blocks with nothing since are left out.
profile snapshot();
// reset()
//   Forgets what was recorded; the wall clock restarts, and the hardware
//   counters seen now become the baseline that later snapshots subtract.
//   Attempts running while it runs are counted whole (their time before the
//   reset included), and a count they add at that moment may survive it:
//   reset between phases of a program, not in the middle of one.
void reset();

// write_text(out, p, top)
//   The report a person reads: header, then at most `top` conflict groups,
//   `top` inevitable groups and, when hardware was tried, `top` hardware
//   blocks. Source lines are quoted when the file can be read.
void write_text(std::ostream& out, const profile& p,
                std::size_t top = std::numeric_limits<std::size_t>::max());
// write_json(out, p) / read_json(in)
//   A machine-readable form; read_json accepts what write_json wrote and
//   throws std::runtime_error naming the problem otherwise.
void write_json(std::ostream& out, const profile& p);
profile read_json(std::istream& in);
// merge(profiles)
//   Adds up several profiles (e.g. one per process) into one, regrouped;
//   hardware blocks by site, their thread counts added up too.
profile merge(const std::vector<profile>& profiles);

// write_trace(out)
//   A Chrome trace-event file of what was recorded while tracing: one row per
//   thread, commits and aborts as slices, each abort linked by a flow arrow
//   to the commit that caused it. Tracing is on when OPTIMIST_REPORT names a
//   .trace.json file, or after enable_trace().
void enable_trace(bool on = true);
void write_trace(std::ostream& out);

}  // namespace optimist::report
