// Auto mode's controller beside other threads: whether outermost blocks run
// speculatively or serially while two or more threads hold a transaction
// descriptor (alone, a thread's blocks run serially anyway: thread_runs_serial
// in serial_mode.hpp). Decided per run of the process, from measured
// throughput, in epochs.
//
// Why per run and not per site: a serial block excludes every other thread,
// whatever its site, so serial execution pays only when it pays for the
// whole mix of blocks running at the time; and one process-wide verdict costs
// each block one relaxed load of a line that is written only when the verdict
// changes.
//
// Measure: committed outermost blocks, summed over all threads (the
// per-thread counters of stats(); a committed element group of the task
// runtime counts as its tasks: controller_note_group), per second of CPU time
// the threads holding a descriptor used (each thread's own clock, one system
// call per thread per epoch; not the process clock, which also charges
// threads that run no transaction and lags: see end_epoch). That charges
// speculation for its aborts and wasted attempts and serial execution for
// its spinning waiters, and, unlike wall time, is not thrown off when other
// processes take the CPUs for a while (on a loaded 2-core machine, 1 ms
// epochs measured in wall time varied 6x between neighbours). With the
// program's threads always running, both measures rank the modes alike. An
// epoch is epoch_ns (1 ms) of wall time; it ends at the first controller tick
// after that (each thread ticks every tick_blocks outermost blocks, so the
// fast path costs a thread-local decrement besides the load of the verdict).
// One thread at a time judges (a try-lock); the others go on.
//
// Policy (mode_policy, below; like the hardware site policy,
// htm/site_policy.hpp): run the chosen mode; every `interval` epochs run one
// epoch in the other mode (a sample). Switch only if the sample is more than
// `margin` (15 %) faster than the chosen mode's recent epochs (hysteresis:
// figures within the band never switch, so nothing flaps on noise), in
// confirm_epochs (2) sample epochs in a row (a sample that wins its first
// epoch runs one more, and the switch reports their mean). A sample's first
// warmup_epochs (1) epochs are not judged: they pay for the change of mode
// itself (a serial block first waits for speculative attempts in flight, and
// on a loaded machine one of them may belong to a thread that has lost its
// CPU for milliseconds), which says nothing about the mode. A switch
// starts the interval again at first_interval (8), so a wrong switch is
// measured again soon. A sample that does not switch doubles the interval, up
// to max_interval (512 epochs, about 0.5 s): a run where one mode is clearly
// better pays for about one epoch in 512 in the other. Heavy conflict (a
// speculative epoch with at least one abort per commit) counts down the
// interval conflict_step (8) times as fast, so serial execution is measured
// at once the first time and, as samples keep failing, less often. Epochs
// with fewer than min_commits commits (an idle program), that lasted more
// than stale_epochs epochs (nobody ticked), or during which the thread census
// changed, are not judged; a change in the number of threads also starts the
// interval again (the other mode is measured soon under the new count).
//
// Soundness does not depend on the verdict: each outermost block takes it at
// its start, and the serial gate keeps serial blocks and speculative ones
// apart whatever mix is running (serial_mode.hpp). An auto-mode serial block
// that waits for the gate claims a holder that keeps it too long (give-way,
// serial_mode.hpp), as a speculative waiter does, so a block that waits for
// another thread's block cannot wait for ever because both chose serial.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "optimist/mode.hpp"
#include "optimist/stats.hpp"

namespace optimist::detail {

// What one epoch measured.
struct epoch_figures {
  bool serial = false;        // the mode its blocks were told to run in
  bool sample = false;        // that was the mode not chosen (a measurement)
  std::uint64_t commits = 0;  // committed outermost blocks, all threads
  std::uint64_t aborts = 0;
  std::uint64_t cpu_ns = 0;   // CPU time the threads holding a descriptor used meanwhile
  std::uint64_t wall_ns = 0;  // how long it lasted
  unsigned threads = 0;       // threads holding a descriptor
};

// The decision, from figures alone: deterministic, so tests can feed it.
class mode_policy {
 public:
  static constexpr double margin = 0.15;
  static constexpr unsigned first_interval = 8;
  static constexpr unsigned max_interval = 512;
  static constexpr unsigned conflict_step = 8;
  static constexpr double conflict_aborts_per_commit = 1.0;
  static constexpr std::uint64_t min_commits = 32;
  static constexpr unsigned confirm_epochs = 2;
  static constexpr unsigned warmup_epochs = 1;

  // The mode the next epoch runs in, and whether it is a sample.
  bool next_serial() const noexcept { return sampling_ != chosen_serial_; }
  bool sampling() const noexcept { return sampling_; }
  bool chosen_serial() const noexcept { return chosen_serial_; }
  unsigned interval() const noexcept { return interval_; }

  // Judges an epoch that ran as next_serial() said (e.serial and e.sample are
  // taken from here, not from `e`). Returns true if the chosen mode switched,
  // with the switch in `out` (at_s left 0).
  bool observe(const epoch_figures& e, mode_switch& out) noexcept;

 private:
  void settle(unsigned interval) noexcept;

  bool chosen_serial_ = false;
  bool sampling_ = false;
  bool conflict_sample_ = false;  // this sample was brought forward by conflict
  unsigned sample_wins_ = 0;      // epochs of this sample that beat the chosen mode
  unsigned warmup_left_ = 0;      // epochs of this sample still to run unjudged
  unsigned interval_ = first_interval;
  unsigned countdown_ = first_interval * conflict_step;  // in conflict steps
  unsigned threads_ = 0;
  double chosen_per_s_ = 0;       // the chosen mode's recent rate (0: none yet)
  double other_per_s_ = 0;        // the other mode's, from its last sample
  double aborts_per_commit_ = 0;  // the last speculative epoch's
};

// The verdict every auto-mode block beside other threads reads: true while
// they run serially. Written only by the judging thread, when it changes; on
// a line of its own (read by every block, written rarely).
struct alignas(64) auto_verdict {
  std::atomic<bool> serial{false};
};
inline auto_verdict g_auto_verdict;

// Blocks until this thread's next tick.
[[gnu::tls_model("initial-exec")]] inline thread_local std::uint32_t tls_controller_countdown = 0;

// The tick: ends the epoch if it is over (out of line).
[[gnu::noinline]] void controller_tick() noexcept;

// Called by thread_runs_serial for an outermost block in auto mode while two
// or more threads hold descriptors: a thread-local decrement, a relaxed load.
inline bool controller_says_serial() noexcept {
  if (tls_controller_countdown-- == 0) [[unlikely]]
    controller_tick();
  return g_auto_verdict.serial.load(std::memory_order_relaxed);
}

// A committed group of `tasks` tasks of the task runtime (one block): counts
// them as work (thread_counters::grouped_tasks) and brings this thread's next
// tick forward as if each had been a block of its own, so that runs of large
// groups still end their epochs on time.
inline void controller_note_group(std::atomic<std::uint64_t>& grouped_tasks,
                                  std::uint64_t tasks) noexcept {
  if (tasks < 2) return;
  const std::uint64_t extra = tasks - 1;
  grouped_tasks.store(grouped_tasks.load(std::memory_order_relaxed) + extra,
                      std::memory_order_relaxed);
  const std::uint32_t left = tls_controller_countdown;
  tls_controller_countdown = left > extra ? static_cast<std::uint32_t>(left - extra) : 0;
}

// Forgets what the controller learned and starts again from speculation
// (set_execution_mode, tests). The counters and the switch log stay.
void reset_mode_controller() noexcept;

// Cumulative totals (never reset; stats() and the report subtract a baseline).
void add_auto_mode_totals(auto_mode_statistics& s) noexcept;
// Switches recorded at or after `origin_ns` (steady clock), at_s relative to
// it, oldest first (at most the last 256).
std::vector<mode_switch> mode_switches_since(std::uint64_t origin_ns);
// Where reset_stats() puts the origin of optimist::mode_switches().
inline std::atomic<std::uint64_t> g_mode_switches_origin_ns{0};

// Test seams: the epoch length and the blocks between ticks (read at each
// tick), and a hook that may change an epoch's measured figures before they
// are judged (set it while no auto-mode thread runs).
inline std::atomic<std::uint64_t> g_controller_epoch_ns{1'000'000};
inline std::atomic<std::uint32_t> g_controller_tick_blocks{256};
inline std::atomic<void (*)(epoch_figures&)> g_controller_test_figures{nullptr};
inline constexpr unsigned stale_epochs = 16;

// Run boundaries: an epoch during which a task run began or ended is not
// judged (unless max_unjudged_boundaries epochs in a row were not), like one
// during which the thread census changed. Such an epoch holds the gap between
// two runs, where the process uses CPU time (the caller's code between runs,
// workers winding down) and commits nothing: measured on the train-schedule
// loop at two workers, epochs of one mode varied up to 10x, and a sample,
// decided by two epochs, won or lost by where the gaps fell. The task runtime
// calls controller_run_boundary() as each run begins and ends. Runs shorter
// than an epoch would leave nothing to judge: after max_unjudged_boundaries
// skipped epochs the next one is judged anyway.
inline std::atomic<std::uint64_t> g_controller_run_boundaries{0};
inline constexpr unsigned max_unjudged_boundaries = 8;
inline void controller_run_boundary() noexcept {
  g_controller_run_boundaries.fetch_add(1, std::memory_order_relaxed);
}

// Per run site: what the controller learns belongs to the loop it learned
// it on. A task run names the line that started it (run_all_tasks'
// source_location); the policy (the chosen mode, its interval, the rates
// measured) is kept per such line, the policy of the line whose run began
// last is the one that runs, and a line seen for the first time starts as
// the process does (speculative, sampling serial soon). Before, one policy
// served every run: samples of serial that lost in one loop pushed the
// interval to 64 epochs and more, and the next loop — another line, other
// blocks — inherited that verdict with no sample in its whole run. On
// samples/conflict_report (2 threads), the run after the fix stayed serial
// on one worker in 3 runs of 8 (0.055-0.062 s, against 0.039-0.043 s
// speculative); a program that runs the same loop again keeps what that
// loop taught, as before.
// The swap happens at the end of an epoch that holds the run's start, which
// is not judged anyway (run boundaries, above); when those epochs are judged
// after all (max_unjudged_boundaries: runs shorter than an epoch, several
// lines in one epoch), the policy that runs judges the mix, as one policy did
// before, and the swap follows that judgement (before, it was skipped: a long
// run that began in such an epoch ran its whole length on the previous line's
// policy, and its end stored that policy under its own line). Blocks outside task runs (threads of
// the program's own, tbb::parallel_for over atomically) have a policy of their own, under site 0: a
// run's end switches back to it. (Runs of two task queues at once share whichever policy the last
// start or end chose: soundness never depends on the verdict.) remembered_run_sites policies are
// kept (the oldest is dropped).
inline std::atomic<std::uint64_t> g_controller_run_site{0};
inline constexpr std::size_t remembered_run_sites = 16;
// A task run begins: `site_key` names its line (profile/site_key.hpp).
inline void controller_run_begins(std::uint64_t site_key) noexcept {
  g_controller_run_site.store(site_key, std::memory_order_relaxed);
  controller_run_boundary();
}
// A task run ends: blocks outside runs take their own policy again.
inline void controller_run_ends() noexcept {
  g_controller_run_site.store(0, std::memory_order_relaxed);
  controller_run_boundary();
}

}  // namespace optimist::detail
