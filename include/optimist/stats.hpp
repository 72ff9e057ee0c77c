// optimist/stats.hpp — counters of the STM.
//
// optimist::stats() sums the per-thread counters of every thread that has run
// a transaction (threads that have ended included) since the last
// reset_stats(). Counting costs one relaxed store per event on the thread's
// own cache line; reading sums all threads.
//
//   optimist::reset_stats();
//   run_my_workload();
//   auto s = optimist::stats();
//   std::printf("%" PRIu64 " commits, %" PRIu64 " aborts (%" PRIu64 " write-write)\n",
//               s.commits, s.aborts, s.aborts_for(optimist::abort_cause::commit_locked));
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace optimist {

// Why an attempt was rolled back.
enum class abort_cause : unsigned {
  read_locked,         // a read found the word locked by a committing writer
  read_invalidated,    // a read needed a newer snapshot and something read earlier had changed
  commit_locked,       // commit found a written word locked by another committer (write-write)
  commit_invalidated,  // commit-time validation: something read had changed (write-read)
  inevitable,          // commit needed a word that the inevitable transaction holds
  user_exception,      // an exception escaped the atomic block (rolled back, not re-run)
  explicit_restart,    // the program asked for a restart (C API optimist_tx_restart)
  count_
};
inline constexpr std::size_t abort_cause_count = static_cast<std::size_t>(abort_cause::count_);

// A short name, e.g. "commit_locked".
std::string_view to_string(abort_cause cause) noexcept;

// Why a hardware (RTM) transaction aborted: its abort status, summarised.
enum class hardware_abort_cause : unsigned {
  conflict,        // another thread touched a cache line it had used
  capacity,        // what it read or wrote did not fit in the hardware's buffers
  explicit_abort,  // optimist ended it: a software committer held a word it
                   // needed, or it had to become inevitable, throw or retry
  other,           // anything else: interrupt, system call, unsupported instruction,
                   // status 0 (also every simulated attempt, see optimist/mode.hpp)
  count_
};
inline constexpr std::size_t hardware_abort_cause_count =
    static_cast<std::size_t>(hardware_abort_cause::count_);

// "conflict", "capacity", "explicit", "other".
std::string_view to_string(hardware_abort_cause cause) noexcept;

// Hardware transactions (optimist/mode.hpp). Every atomic block that commits
// in hardware also counts in statistics::commits.
struct hardware_statistics {
  std::uint64_t attempts = 0;   // hardware transactions begun
  std::uint64_t commits = 0;    // of which committed
  std::uint64_t fallbacks = 0;  // blocks that tried hardware, then ran in software
  std::uint64_t skipped = 0;    // blocks the per-site policy sent straight to software
  std::array<std::uint64_t, hardware_abort_cause_count> aborts_by_cause{};

  std::uint64_t aborts_for(hardware_abort_cause cause) const noexcept {
    return aborts_by_cause[static_cast<std::size_t>(cause)];
  }
  std::uint64_t aborts() const noexcept {
    std::uint64_t sum = 0;
    for (std::uint64_t n : aborts_by_cause) sum += n;
    return sum;
  }
};

// Why auto mode's controller switched between speculative and serial
// execution (optimist/mode.hpp, mode_switches()). Either way the mode it
// switched to had just been measured clearly faster.
enum class mode_switch_reason : unsigned {
  conflict,  // speculative blocks aborted at least once per commit, which made
             // the controller measure serial execution at once
  sampled,   // a periodic measurement of the mode not in use
  count_
};
inline constexpr std::size_t mode_switch_reason_count =
    static_cast<std::size_t>(mode_switch_reason::count_);

// "conflict", "sampled".
std::string_view to_string(mode_switch_reason reason) noexcept;

// Auto mode with two or more threads (optimist/mode.hpp): how long the
// controller ran blocks speculatively and serially, how many committed in
// each, and how often it switched. Counted in the controller's epochs, so
// time while one thread runs transactions (serial anyway) is not in it.
struct auto_mode_statistics {
  double speculative_s = 0;
  double serial_s = 0;
  std::uint64_t speculative_blocks = 0;  // committed outermost blocks, all threads
  std::uint64_t serial_blocks = 0;
  std::uint64_t samples = 0;  // epochs run in the mode not chosen, to measure it
  std::uint64_t to_serial = 0;
  std::uint64_t to_speculative = 0;
  std::array<std::uint64_t, mode_switch_reason_count> switches_by_reason{};

  std::uint64_t switches() const noexcept { return to_serial + to_speculative; }
  std::uint64_t switches_for(mode_switch_reason reason) const noexcept {
    return switches_by_reason[static_cast<std::size_t>(reason)];
  }
};

struct statistics {
  std::uint64_t commits = 0;  // committed outermost transactions (read-only ones included)
  std::uint64_t read_only_commits = 0;  // of which wrote nothing
  std::uint64_t serial_commits = 0;     // of which ran serially (optimist/mode.hpp: serial
                                        // mode, or auto mode while one thread runs blocks)
  std::uint64_t serial_give_ways = 0;   // serial attempts rolled back to let a thread that
                                        // waited at the gate run first (counted as aborts)
  std::uint64_t aborts = 0;             // attempts rolled back, any cause
  std::uint64_t restarts = 0;           // attempts run again after an abort
  std::uint64_t irrevocable = 0;        // transactions that ran (or became) irrevocable
  std::uint64_t starved = 0;            // of which because they had restarted too often
  std::uint64_t retries = 0;  // attempts rolled back by optimist::retry() (not counted as aborts)
  // Tasks of a task run that committed in the transaction of the task before
  // them: runs commit consecutive tiny tasks together (optimist/tasks.hpp). A
  // run's committed tasks are its commits plus these.
  std::uint64_t grouped_tasks = 0;
  std::array<std::uint64_t, abort_cause_count> aborts_by_cause{};
  hardware_statistics hardware;
  auto_mode_statistics automatic;  // auto mode's controller (optimist/mode.hpp)

  std::uint64_t aborts_for(abort_cause cause) const noexcept {
    return aborts_by_cause[static_cast<std::size_t>(cause)];
  }
};

// stats()
//   The counters since the last reset_stats(), summed over all threads.
statistics stats();
// reset_stats()
//   Starts counting afresh (threads running meanwhile may land either side).
void reset_stats();

}  // namespace optimist
