// Auto mode's controller beside other threads (runtime/stm/mode_controller.*):
// the policy fed figures deterministically (heavy conflict -> serial, low
// conflict -> speculation, hysteresis, periodic re-sampling with back-off,
// thread-count changes and idle epochs), then the controller in a running
// process through its test seam (measured figures replaced, short epochs):
// its verdict reaches the blocks, stats() and mode_switches() show it, a
// serial block that waits for another thread's block still finishes, and the
// bank invariant holds while it switches every few epochs at 1, 2 and 4
// threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "htm/hardware_mode.hpp"
#include "optimist/optimist.hpp"
#include "optimist/report.hpp"
#include "profile/site_key.hpp"
#include "stm/mode_controller.hpp"
#include "stm/serial_mode.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"
#include "support/stress.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"
#include "support/white_box.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace mode_controller_test {

namespace {

using optimist::execution_mode;
using optimist::mode_switch;
using optimist::mode_switch_reason;
using optimist::detail::epoch_figures;
using optimist::detail::mode_policy;
using optimist::detail::tx_mode;
using optimist::test::running_mode;
using optimist::test::scaled;
using optimist::test::watchdog;

// ---- the policy, fed figures ------------------------------------------------

// One epoch of 1 ms at `per_ms` commits per millisecond, 2 threads.
epoch_figures epoch(std::uint64_t per_ms, std::uint64_t aborts = 0, unsigned threads = 2) {
  epoch_figures e;
  e.commits = per_ms;
  e.aborts = aborts;
  e.cpu_ns = 1'000'000;
  e.threads = threads;
  return e;
}

// Feeds one epoch in whichever mode the policy asks for: `speculative` or
// `serial` commits per ms (aborts only in the speculative ones). Returns
// whether it switched.
struct feeder {
  mode_policy policy;
  std::vector<mode_switch> switches;
  std::vector<int> samples;  // epoch numbers where a sample began
  int epochs = 0;
  bool sampled_before = false;

  bool feed(std::uint64_t speculative, std::uint64_t serial, std::uint64_t aborts = 0,
            unsigned threads = 2) {
    if (policy.sampling() && !sampled_before) samples.push_back(epochs);
    sampled_before = policy.sampling();
    const bool serial_epoch = policy.next_serial();
    ++epochs;
    mode_switch s;
    const bool switched = policy.observe(
        serial_epoch ? epoch(serial, 0, threads) : epoch(speculative, aborts, threads), s);
    if (switched) switches.push_back(s);
    return switched;
  }
};

TEST(ModePolicy, StartsSpeculative) {
  mode_policy p;
  EXPECT_FALSE(p.next_serial());
  EXPECT_FALSE(p.sampling());
}

TEST(ModePolicy, HeavyConflictMeasuresSerialAtOnceAndSwitchesToIt) {
  feeder f;
  // Speculation: 1000 commits/ms with 2000 aborts; serial: 2000 commits/ms.
  f.feed(1000, 2000, 2000);  // first epoch of 2 threads: a fresh baseline
  f.feed(1000, 2000, 2000);  // conflict: the serial sample comes at once
  EXPECT_TRUE(f.policy.sampling()) << "heavy conflict did not bring the serial sample forward";
  EXPECT_TRUE(f.policy.next_serial());
  // A warm-up epoch, then it must win confirm_epochs sample epochs in a row.
  for (unsigned i = 1; i < mode_policy::warmup_epochs + mode_policy::confirm_epochs; ++i) {
    EXPECT_FALSE(f.feed(1000, 2000, 2000));
    EXPECT_TRUE(f.policy.sampling());
  }
  EXPECT_TRUE(f.feed(1000, 2000, 2000));
  ASSERT_EQ(f.switches.size(), 1u);
  const mode_switch& s = f.switches[0];
  EXPECT_TRUE(s.to_serial);
  EXPECT_EQ(s.reason, mode_switch_reason::conflict);
  EXPECT_DOUBLE_EQ(s.speculative_per_s, 1'000'000.0);
  EXPECT_DOUBLE_EQ(s.serial_per_s, 2'000'000.0);
  EXPECT_DOUBLE_EQ(s.aborts_per_commit, 2.0);
  EXPECT_EQ(s.threads, 2u);
  EXPECT_TRUE(f.policy.chosen_serial());
  EXPECT_TRUE(f.policy.next_serial());
  // And it stays serial while serial stays faster.
  for (int i = 0; i < 5000; ++i) f.feed(1000, 2000, 2000);
  EXPECT_EQ(f.switches.size(), 1u);
  EXPECT_TRUE(f.policy.chosen_serial());
}

TEST(ModePolicy, LowConflictKeepsSpeculation) {
  feeder f;
  // Speculation twice as fast as serial, few aborts.
  for (int i = 0; i < 5000; ++i) f.feed(2000, 1000, 10);
  EXPECT_TRUE(f.switches.empty());
  EXPECT_FALSE(f.policy.chosen_serial());
  EXPECT_FALSE(f.samples.empty()) << "serial was never measured";
}

TEST(ModePolicy, HeavyConflictWhereSerialDoesNotPayStaysSpeculativeAndSamplesLessOften) {
  feeder f;
  // Many aborts, but speculation still commits more than serial would.
  for (int i = 0; i < 5000; ++i) f.feed(3000, 1000, 6000);
  EXPECT_TRUE(f.switches.empty());
  ASSERT_GE(f.samples.size(), 4u);
  // Brought forward 8 times, backing off: the gaps grow.
  for (std::size_t i = 2; i < f.samples.size(); ++i) {
    EXPECT_GE(f.samples[i] - f.samples[i - 1], f.samples[i - 1] - f.samples[i - 2]) << i;
  }
  EXPECT_LT(f.samples.size(), 200u) << "a failing conflict sample must back off";
}

TEST(ModePolicy, FiguresWithinTheBandNeverSwitch) {
  feeder f;
  // Serial is 10 % faster, then 10 % slower, alternating in phases: inside
  // the 15 % margin either way, so the verdict never moves.
  for (int i = 0; i < 20000; ++i) {
    const bool phase = (i / 37) % 2 == 0;
    f.feed(1000, phase ? 1100 : 910, 100);
  }
  EXPECT_TRUE(f.switches.empty());
  EXPECT_FALSE(f.policy.chosen_serial());
  // Just beyond it, it does.
  feeder g;
  for (int i = 0; i < 100 && g.switches.empty(); ++i) g.feed(1000, 1200, 100);
  ASSERT_EQ(g.switches.size(), 1u);
  EXPECT_EQ(g.switches[0].reason, mode_switch_reason::sampled);
}

TEST(ModePolicy, SamplesPeriodicallyBackingOffUpToTheLongestInterval) {
  feeder f;
  for (int i = 0; i < 4000; ++i) f.feed(2000, 1000);
  ASSERT_GE(f.samples.size(), 5u);
  // The first epoch of 2 threads starts the count; then samples after 8, 16,
  // 32, ... settled epochs, each taking a warm-up epoch and one judged epoch.
  std::vector<int> expected;
  int at = 1 + mode_policy::first_interval;  // epoch index of the first sample
  unsigned interval = mode_policy::first_interval;
  while (at < f.epochs) {
    expected.push_back(at);
    interval = std::min(interval * 2, mode_policy::max_interval);
    at += static_cast<int>(mode_policy::warmup_epochs + 1 + interval);
  }
  EXPECT_EQ(f.samples, expected);
  EXPECT_EQ(f.policy.interval(), mode_policy::max_interval);
}

TEST(ModePolicy, ResamplesTheOtherModeAndSwitchesBackWhenItPaysAgain) {
  feeder f;
  for (int i = 0; i < 50 && f.switches.empty(); ++i) f.feed(1000, 3000, 1500);
  ASSERT_EQ(f.switches.size(), 1u);
  ASSERT_TRUE(f.policy.chosen_serial());
  // The workload changes: speculation now pays. The next periodic sample
  // (first_interval epochs after the switch) finds it.
  int epochs = 0;
  while (f.switches.size() == 1 && epochs < 100) {
    f.feed(4000, 3000, 0);
    ++epochs;
  }
  ASSERT_EQ(f.switches.size(), 2u);
  EXPECT_EQ(epochs, static_cast<int>(mode_policy::first_interval + mode_policy::warmup_epochs +
                                     mode_policy::confirm_epochs));
  EXPECT_FALSE(f.switches[1].to_serial);
  EXPECT_EQ(f.switches[1].reason, mode_switch_reason::sampled);
  EXPECT_DOUBLE_EQ(f.switches[1].speculative_per_s, 4'000'000.0);
  EXPECT_DOUBLE_EQ(f.switches[1].serial_per_s, 3'000'000.0);
  EXPECT_FALSE(f.policy.chosen_serial());
}

TEST(ModePolicy, ASampleThatWinsOnceOnlyDoesNotSwitch) {
  feeder f;
  // Serial measures faster in every other epoch only (noise): a sample's
  // first epoch may win, its confirmation loses.
  for (int i = 0; i < 5000; ++i) f.feed(1000, f.epochs % 2 == 0 ? 3000 : 900, 0);
  EXPECT_TRUE(f.switches.empty());
  EXPECT_FALSE(f.policy.chosen_serial());
}

TEST(ModePolicy, TheFirstEpochOfASampleIsNotJudged) {
  feeder f;
  // Serial pays, but the first serial epoch after speculation is slow (it
  // waits for attempts in flight): the warm-up epoch hides it.
  bool previous_serial = false;
  for (int i = 0; i < 100 && f.switches.empty(); ++i) {
    const bool first_serial = f.policy.next_serial() && !previous_serial;
    previous_serial = f.policy.next_serial();
    f.feed(1000, first_serial ? 100 : 3000);
  }
  ASSERT_EQ(f.switches.size(), 1u);
  EXPECT_TRUE(f.switches[0].to_serial);
  EXPECT_DOUBLE_EQ(f.switches[0].serial_per_s, 3'000'000.0);
}

TEST(ModePolicy, IdleEpochsAreNotJudged) {
  feeder f;
  for (int i = 0; i < 1000; ++i) f.feed(mode_policy::min_commits - 1, 100000, 0);
  EXPECT_TRUE(f.switches.empty());
  EXPECT_TRUE(f.samples.empty());
}

TEST(ModePolicy, AChangeOfThreadCountMeasuresAfresh) {
  feeder f;
  for (int i = 0; i < 2000; ++i) f.feed(2000, 1000);
  ASSERT_EQ(f.policy.interval(), mode_policy::max_interval);
  f.feed(2000, 1000, 0, 4);
  EXPECT_EQ(f.policy.interval(), mode_policy::first_interval);
  EXPECT_FALSE(f.policy.chosen_serial()) << "the chosen mode is kept";
}

// ---- the controller in a running process ----------------------------------

// Sets up auto mode and the seam; puts everything back.
class ModeController : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = optimist::execution_mode_now();
    optimist::set_execution_mode(execution_mode::automatic);  // resets the controller
    (void)optimist::detail::this_thread_transaction();
  }
  void TearDown() override {
    optimist::detail::g_controller_test_figures.store(nullptr);
    optimist::detail::g_controller_epoch_ns.store(1'000'000);
    optimist::detail::g_controller_tick_blocks.store(256);
    optimist::detail::g_controller_run_site.store(0);  // (tests that play task-run lines)
    optimist::set_execution_mode(execution_mode::automatic);
    optimist::set_execution_mode(previous_);
  }

 private:
  execution_mode previous_ = execution_mode::stm;
};

// Serial epochs measure ten times as many commits as speculative ones.
void serial_pays(epoch_figures& e) {
  e.commits = e.serial ? 10000 : 1000;
  e.aborts = 0;
}

// Whichever mode is being sampled measures ten times as many commits: every
// sample switches, so the controller switches every first_interval + 1 epochs.
void the_other_mode_pays(epoch_figures& e) {
  e.commits = e.sample ? 10000 : 1000;
  e.aborts = 0;
}

TEST_F(ModeController, ItsVerdictReachesTheBlocksAndStatsShowIt) {
  watchdog guard("the controller choosing serial at two threads");
  optimist::detail::g_controller_test_figures.store(&serial_pays);
  optimist::detail::g_controller_epoch_ns.store(20'000);
  optimist::detail::g_controller_tick_blocks.store(1);
  optimist::reset_stats();
  optimist::tvar<long> x{0};
  std::atomic<bool> seen_serial{false};
  std::atomic<bool> stop{false};
  std::atomic<bool> registered{false};
  std::thread other([&] {
    while (!stop.load()) {
      optimist::atomically([&] { x.set(x.get() + 1); });
      registered.store(true);
    }
  });
  while (!registered.load()) std::this_thread::yield();
  // Until a block of this thread ran serially beside the other one, or long
  // after the controller said it should have (or never did).
  // (A sample epoch runs serially too: only blocks after the switch count.)
  long after_switch = 0;
  for (long i = 0; !seen_serial.load() && after_switch < 100000 && i < 5'000'000; ++i) {
    const bool switched = optimist::stats().automatic.to_serial > 0;
    if (switched) ++after_switch;
    optimist::atomically([&] {
      x.set(x.get() + 1);
      if (switched && running_mode() == tx_mode::serial &&
          optimist::test::threads_with_descriptors() >= 2)
        seen_serial.store(true);
    });
  }
  stop.store(true);
  other.join();
  EXPECT_TRUE(seen_serial.load()) << "the verdict did not reach the blocks";
  const optimist::statistics s = optimist::stats();
  EXPECT_GE(s.automatic.to_serial, 1u);
  EXPECT_GE(s.automatic.switches_for(mode_switch_reason::sampled), 1u);
  EXPECT_GT(s.automatic.serial_blocks, 0u);
  EXPECT_GT(s.automatic.speculative_blocks, 0u);
  EXPECT_GT(s.automatic.serial_s, 0.0);
  EXPECT_GT(s.automatic.speculative_s, 0.0);
  EXPECT_GE(s.automatic.samples, 1u);
  const std::vector<mode_switch> log = optimist::mode_switches();
  ASSERT_FALSE(log.empty());
  EXPECT_TRUE(log[0].to_serial);
  EXPECT_GT(log[0].serial_per_s, log[0].speculative_per_s * 1.15);
  EXPECT_EQ(log[0].threads, 2u);
  // The report shows the same switches, counted from its own start.
  const optimist::report::profile p = optimist::report::snapshot();
  ASSERT_FALSE(p.auto_mode.switches.empty());
  EXPECT_TRUE(p.auto_mode.switches[0].to_serial);
  EXPECT_GT(p.auto_mode.serial_blocks, 0u);
  // reset_stats() starts the counts and the log afresh.
  optimist::reset_stats();
  EXPECT_EQ(optimist::stats().automatic.switches(), 0u);
  EXPECT_TRUE(optimist::mode_switches().empty());
}

// A thread that holds a transaction descriptor and sleeps until destroyed:
// with it, two threads hold one, and the controller decides (a lone thread's
// blocks run serially without asking it).
class descriptor_holder {
 public:
  descriptor_holder() {
    while (!registered_.load()) std::this_thread::yield();
  }
  ~descriptor_holder() {
    stop_.store(true);
    thread_.join();
  }
  descriptor_holder(const descriptor_holder&) = delete;
  descriptor_holder& operator=(const descriptor_holder&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::atomic<bool> registered_{false};
  std::thread thread_{[this] {  // (after the flags: it starts at once)
    (void)optimist::detail::this_thread_transaction();
    registered_.store(true);
    while (!stop_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }};
};

// Epochs judged: counted by the seam, which sees every epoch that ends.
std::atomic<long> g_epochs_seen{0};
void serial_pays_counted(epoch_figures& e) {
  g_epochs_seen.fetch_add(1);
  serial_pays(e);
}

// How many epochs end before the controller switches to serial (serial_pays),
// with a task-run boundary before every block or none. Only this thread ticks:
// the other one holds a descriptor (two threads: the controller decides) and
// waits.
long epochs_until_serial(bool boundary_before_every_block) {
  optimist::set_execution_mode(execution_mode::automatic);  // resets the controller
  g_epochs_seen.store(0);
  optimist::detail::g_controller_test_figures.store(&serial_pays_counted);
  optimist::detail::g_controller_epoch_ns.store(20'000);
  optimist::detail::g_controller_tick_blocks.store(1);
  optimist::reset_stats();
  optimist::tvar<long> x{0};
  long epochs = -1;
  for (long i = 0; i < 2'000'000; ++i) {
    if (boundary_before_every_block) optimist::detail::controller_run_boundary();
    optimist::atomically([&] { x.set(x.get() + 1); });
    if (optimist::stats().automatic.to_serial > 0) {
      epochs = g_epochs_seen.load();
      break;
    }
  }
  optimist::detail::g_controller_test_figures.store(nullptr);
  return epochs;
}

// Epochs that hold a task run's start or end (the gap between two runs) are
// not judged, but never more than max_unjudged_boundaries in a row: a program
// of runs shorter than an epoch still gets a verdict.
TEST_F(ModeController, EpochsAcrossRunBoundariesAreSkippedButNotForEver) {
  watchdog guard("the controller skipping epochs across task-run boundaries");
  long plain = 0;
  long with_boundaries = 0;
  {
    const descriptor_holder other;
    plain = epochs_until_serial(false);
    with_boundaries = epochs_until_serial(true);
  }
  ASSERT_GT(plain, 0) << "no switch without boundaries";
  ASSERT_GT(with_boundaries, 0) << "epochs across boundaries were skipped for ever";
  // One epoch in max_unjudged_boundaries + 1 is judged.
  EXPECT_GE(with_boundaries,
            plain * static_cast<long>(optimist::detail::max_unjudged_boundaries) / 2)
      << "epochs across run boundaries were judged (" << plain << " epochs without them)";
}

// An epoch's cost is the CPU time of the threads that hold a descriptor, each
// read on its own clock. A busy thread of the program that runs no
// transaction is charged to neither mode: here one thread runs blocks, a
// second holds a descriptor and sleeps (two threads: the controller judges),
// and a third spins outside the STM. On the process clock (before) the
// epochs cost about two CPUs, the spinner's included, which blurs the
// comparison of the modes towards equal rates; on the threads' clocks,
// about one. (Summed over the epochs: one epoch's figure can be off when the
// judging thread loses its CPU between reading two clocks, and the next one
// makes up for it.)
std::mutex g_figures_mutex;
std::vector<epoch_figures> g_figures;
void record_figures(epoch_figures& e) {
  std::lock_guard<std::mutex> lock(g_figures_mutex);
  g_figures.push_back(e);
}

TEST_F(ModeController, ABusyThreadOutsideTheStmIsNotChargedToEitherMode) {
  watchdog guard("controller epochs beside a thread spinning outside the STM");
  optimist::detail::g_controller_epoch_ns.store(1'000'000);
  optimist::detail::g_controller_tick_blocks.store(1);
  const descriptor_holder sleeper;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> spins{0};
  std::thread spinner([&] {
    while (!stop.load(std::memory_order_relaxed)) spins.fetch_add(1, std::memory_order_relaxed);
  });
  optimist::tvar<long> x{0};
  for (int i = 0; i < 1000; ++i) optimist::atomically([&] { x.set(x.get() + 1); });
  {
    std::lock_guard<std::mutex> lock(g_figures_mutex);
    g_figures.clear();
  }
  optimist::detail::g_controller_test_figures.store(&record_figures);
  // A number of epochs, not a time: beside the spinner and another sanitized
  // binary on 2 cores, 300 ms once risked too few (the bound only ends a hang).
  auto epochs_ended = [&] {
    std::lock_guard<std::mutex> lock(g_figures_mutex);
    return std::count_if(g_figures.begin(), g_figures.end(),
                         [](const epoch_figures& e) { return e.threads == 2; });
  };
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (epochs_ended() < 20 && std::chrono::steady_clock::now() < give_up)
    for (int i = 0; i < 100; ++i) optimist::atomically([&] { x.set(x.get() + 1); });
  optimist::detail::g_controller_test_figures.store(nullptr);
  stop.store(true);
  spinner.join();
  std::lock_guard<std::mutex> lock(g_figures_mutex);
  double cpu = 0, wall = 0;
  int epochs = 0;
  for (const epoch_figures& e : g_figures) {
    if (e.threads != 2) continue;  // (none expected: the three threads ran throughout)
    ++epochs;
    cpu += static_cast<double>(e.cpu_ns);
    wall += static_cast<double>(e.wall_ns);
  }
  ASSERT_GE(epochs, 20) << "too few epochs ended in 30 s";
  EXPECT_GT(spins.load(), 0u);
  EXPECT_LE(cpu, 1.3 * wall) << epochs << " epochs of " << static_cast<long>(wall * 1e-6)
                             << " ms measured " << static_cast<long>(cpu * 1e-6)
                             << " ms of CPU time: the spinner's was counted";
  EXPECT_GT(cpu, 0.1 * wall) << "the block-running thread's time is missing";
}

// Two task-run lines, A and B, simulated by controller_run_begins (the task
// runtime calls it with its run's line): serial pays while A's runs, the
// speculative mode while B's does. The controller learns serial on A; a run
// of B starts from B's own policy, speculative, with no measured switch; a
// later run of A takes A's serial verdict back, again with no new switch.
// Before, one policy served every line: B's run inherited A's serial verdict
// and needed a sample to leave it (samples/conflict_report's run after the
// fix stayed serial on one worker for its whole 50 ms).
const optimist::source_location line_a_location = optimist::source_location::current();
const std::uint64_t line_a = optimist::detail::pack_site(line_a_location);
constexpr std::uint64_t line_b = 0xB0;
std::atomic<long> g_epochs_on_line{0};  // epochs ended under the line of the last run begun
void serial_pays_on_line_a(epoch_figures& e) {
  g_epochs_on_line.fetch_add(1);
  const bool on_a = optimist::detail::g_controller_run_site.load() == line_a;
  const bool fast = on_a ? e.serial : !e.serial;
  e.commits = fast ? 10000 : 1000;
  e.aborts = 0;
}

// What the two task-run-line tests share: another thread holding a descriptor
// (the controller decides), serial_pays_on_line_a as the epochs' figures,
// short epochs ticked by every block of this thread.
class run_lines {
 public:
  run_lines() {
    optimist::detail::g_controller_test_figures.store(&serial_pays_on_line_a);
    optimist::detail::g_controller_epoch_ns.store(20'000);
    optimist::detail::g_controller_tick_blocks.store(1);
    optimist::reset_stats();
  }
  static bool verdict() { return optimist::detail::g_auto_verdict.serial.load(); }
  // Runs blocks (each one ticks: only this thread does) until `done`, or
  // false after a bound.
  template <class Done>
  bool blocks_until(Done done) {
    for (long i = 0; i < 5'000'000; ++i) {
      if (done()) return true;
      optimist::atomically([&] { x_.set(x_.get() + 1); });
    }
    return done();
  }
  // Returns once `epochs` epochs have ended.
  bool epochs_pass(long epochs) {
    g_epochs_on_line.store(0);
    return blocks_until([&] { return g_epochs_on_line.load() >= epochs; });
  }
  // A run of `line` begins; returns once `epochs` epochs have ended since.
  // The first of them holds the run's start: the line's policy runs from the
  // second on.
  bool run_of(std::uint64_t line, long epochs) {
    optimist::detail::controller_run_begins(line);
    return epochs_pass(epochs);
  }

 private:
  const descriptor_holder other_;
  optimist::tvar<long> x_{0};
};

TEST_F(ModeController, EachTaskRunLineKeepsItsOwnVerdict) {
  watchdog guard("the controller keeping a verdict per task-run line");
  run_lines lines;
  const auto verdict = [] { return run_lines::verdict(); };
  const auto blocks_until = [&](auto done) { return lines.blocks_until(done); };
  const auto run_of = [&](std::uint64_t line, long epochs) { return lines.run_of(line, epochs); };
  ASSERT_TRUE(run_of(line_a, 1));
  ASSERT_TRUE(blocks_until([] { return optimist::stats().automatic.to_serial > 0; }))
      << "line A never switched to serial";
  ASSERT_TRUE(verdict());
  {
    // The switch names the run's line (mode_switch::run_*).
    const std::vector<mode_switch> log = optimist::mode_switches();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0].run_file, line_a_location.file_name());
    EXPECT_EQ(log[0].run_line, line_a_location.line());
    EXPECT_EQ(log[0].run_function, line_a_location.function_name());
  }
  // Line B: a line not seen before starts speculative, as the process does
  // (its first sample of serial comes first_interval epochs later).
  ASSERT_TRUE(run_of(line_b, 3));
  EXPECT_FALSE(verdict()) << "line B's run kept line A's verdict";
  EXPECT_EQ(optimist::stats().automatic.to_speculative, 0u)
      << "line B left serial by a measured switch, not by a policy of its own";
  // B measures on: its samples of serial lose, and it never switches.
  ASSERT_TRUE(blocks_until([] { return g_epochs_on_line.load() >= 100; }));
  EXPECT_EQ(optimist::stats().automatic.to_serial, 1u) << "line B switched to serial";
  // Runs of other lines, as many as fit beside A's remembered policy.
  for (std::uint64_t line = 1; line + 1 < optimist::detail::remembered_run_sites; ++line)
    ASSERT_TRUE(run_of(line, 2));
  // Line A again: its serial verdict comes back, with no new switch.
  ASSERT_TRUE(run_of(line_a, 3));
  EXPECT_TRUE(verdict()) << "line A's verdict was not kept";
  EXPECT_EQ(optimist::stats().automatic.to_serial, 1u)
      << "line A switched to serial again by measuring, not by its remembered policy";
}

// A run of line B that begins in an epoch judged although it holds a boundary
// (the one judged after max_unjudged_boundaries boundary epochs in a row: a
// burst of short runs of line A) still runs on B's policy. Before, the switch
// of line was made only in unjudged epochs: B's whole run used A's serial
// verdict, and at its end that policy was stored under B.
TEST_F(ModeController, ARunBegunInAForcedJudgementRunsOnItsOwnLine) {
  watchdog guard("the controller switching lines in a judged boundary epoch");
  run_lines lines;
  const auto verdict = [] { return run_lines::verdict(); };
  const auto blocks_until = [&](auto done) { return lines.blocks_until(done); };
  const auto epochs_pass = [&](long epochs) { return lines.epochs_pass(epochs); };
  optimist::detail::controller_run_begins(line_a);
  ASSERT_TRUE(epochs_pass(1));
  ASSERT_TRUE(blocks_until([] { return optimist::stats().automatic.to_serial > 0; }))
      << "line A never switched to serial";
  ASSERT_TRUE(epochs_pass(2));  // no boundary left in the epoch under way
  // Short runs of A, one boundary per epoch, as many as are left unjudged.
  for (unsigned k = 0; k < optimist::detail::max_unjudged_boundaries; ++k) {
    optimist::detail::controller_run_begins(line_a);
    ASSERT_TRUE(epochs_pass(1));
  }
  optimist::detail::controller_run_begins(line_b);  // in the epoch judged by force
  ASSERT_TRUE(epochs_pass(3));
  EXPECT_FALSE(verdict()) << "line B's run kept line A's serial verdict";
  EXPECT_EQ(optimist::stats().automatic.to_speculative, 0u)
      << "line B left serial by a measured switch, not by a policy of its own";
}

// The task runtime names each run's line to the controller while the run
// lasts (its policy per line), and site 0 (blocks outside runs) after it.
TEST_F(ModeController, ATaskRunTellsTheControllerItsLine) {
  optimist::task_queue q;
  const auto site_during_run = [&](optimist::source_location line) {
    std::atomic<std::uint64_t> seen{0};
    q.add([&] { seen.store(optimist::detail::g_controller_run_site.load()); });
    // One thread: no worker of the run keeps a descriptor after it (later
    // tests count the threads holding one).
    optimist::run_options options;
    options.threads = 1;
    q.run(options, line);
    return seen.load();
  };
  const optimist::source_location first = optimist::source_location::current();
  const optimist::source_location second = optimist::source_location::current();
  EXPECT_EQ(site_during_run(first), optimist::detail::pack_site(first));
  EXPECT_EQ(optimist::detail::g_controller_run_site.load(), 0u);
  EXPECT_EQ(site_during_run(second), optimist::detail::pack_site(second));
  EXPECT_EQ(optimist::detail::g_controller_run_site.load(), 0u);
  EXPECT_NE(optimist::detail::pack_site(first), optimist::detail::pack_site(second));
}

// A serial block that waits for another thread's block, both told to run
// serially: the second gives up waiting for the gate after a while, runs
// speculatively and claims the gate, and the first gives way.
TEST_F(ModeController, ASerialBlockWaitingForAnotherThreadsSerialBlockFinishes) {
  watchdog guard("two serial blocks, one waiting for the other", std::chrono::seconds(60));
  optimist::detail::g_controller_epoch_ns.store(3'600'000'000'000ull);  // no epoch ends
  optimist::tvar<long> x{0};
  optimist::tvar<long> y{0};
  std::atomic<int> phase{0};
  std::atomic<bool> flag{false};
  std::thread other([&] {
    optimist::atomically([&] { y.set(1); });  // registers: two threads
    phase.store(1);
    while (phase.load() != 2) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the first block waits by now
    // Told to run serially, it waits for the gate, then runs speculatively
    // and claims the holder (give-way), which is waiting for it.
    optimist::atomically([&] { y.set(y.get() + 1); });
    flag.store(true);
  });
  while (phase.load() != 1) std::this_thread::yield();
  optimist::detail::tls_controller_countdown = 0;    // this call ticks:
  (void)optimist::detail::controller_says_serial();  // starts the (endless) epoch
  optimist::detail::g_auto_verdict.serial.store(true);
  int attempts = 0;
  optimist::atomically([&] {
    ++attempts;
    x.set(x.get() + 1);
    phase.store(2);
    while (!flag.load()) std::this_thread::yield();
  });
  other.join();
  EXPECT_EQ(x.get(), 1);
  EXPECT_EQ(y.get(), 2);
  EXPECT_GE(attempts, 2) << "the waiting block should have given way";
  EXPECT_GE(optimist::stats().serial_give_ways, 1u);
}

// A speculative attempt whose user code joins a thread that makes a
// standalone write, while a block told to run serially closes the gate and
// waits for that attempt to end: the attempt waits for the writer, the writer
// for the gate, the gate's holder for the attempt. The serial block must give
// up waiting (wait_out_speculators), open the gate and run speculatively.
// Before, all three waited for ever (found by CI's sanitizer runs of
// TaskQueueTest.ChildAddedByARolledBackAttemptIsQueuedOnce, where the
// verdict was left serial by an earlier test).
TEST_F(ModeController, ASerialBlockGivesUpWaitingForAnAttemptThatWaitsForTheGate) {
  watchdog guard("a serial block waiting out an attempt that joins a writer",
                 std::chrono::seconds(60));
  optimist::detail::g_controller_epoch_ns.store(3'600'000'000'000ull);  // no epoch ends
  optimist::tvar<long> x{0}, y{0}, z{0};
  std::atomic<int> phase{0};
  int speculative_attempts = 0;
  std::thread speculator([&] {
    optimist::detail::scoped_execution_mode stm(optimist::execution_mode::stm);
    optimist::atomically([&] {
      ++speculative_attempts;
      (void)x.get();
      if (speculative_attempts > 1) return;
      phase.store(1);
      while (phase.load() != 2) std::this_thread::yield();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the serial block waits by now
      std::thread([&] { y.set(1); }).join();                      // a standalone write: the gate
    });
  });
  while (phase.load() != 1) std::this_thread::yield();
  optimist::detail::tls_controller_countdown = 0;    // this call ticks:
  (void)optimist::detail::controller_says_serial();  // starts the (endless) epoch
  optimist::detail::g_auto_verdict.serial.store(true);
  phase.store(2);
  optimist::atomically([&] { z.set(z.get() + 1); });
  speculator.join();
  EXPECT_EQ(y.get(), 1);
  EXPECT_EQ(z.get(), 1);
  EXPECT_GE(speculative_attempts, 1);
}

class ModeControllerThreads : public ModeController, public ::testing::WithParamInterface<int> {};

// Workers transfer money and audit while an auditor thread checks the total
// in its own blocks; the controller switches every first_interval + 1 epochs
// of 10 microseconds.
TEST_P(ModeControllerThreads, BankInvariantWhileTheControllerSwitchesOften) {
  watchdog guard("bank under a switching controller");
  optimist::detail::g_controller_test_figures.store(&the_other_mode_pays);
  optimist::detail::g_controller_epoch_ns.store(2'000);
  optimist::detail::g_controller_tick_blocks.store(1);
  constexpr int accounts = 32;
  constexpr long initial = 100;
  std::vector<optimist::tvar<long>> balance(accounts);
  for (auto& b : balance) b = initial;
  std::atomic<long> torn{0};
  std::atomic<bool> stop{false};
  std::atomic<unsigned> spin{0};
  const int workers = GetParam();
  // Until the controller has switched `switches` times (each switch is a
  // chance for attempts of both modes to meet), at most `transfers` each.
  const std::uint64_t switches = static_cast<std::uint64_t>(scaled(3000));
  const long transfers = scaled(400000);
  optimist::reset_stats();
  std::thread auditor([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      optimist::atomically([&] {
        long sum = 0;
        for (auto& b : balance) sum += b.get();
        if (sum != initial * accounts) torn.fetch_add(1);
      });
    }
  });
  optimist::test::run_threads(workers, [&](int index) {
    std::uint64_t rng = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(index + 1);
    for (long i = 0; i < transfers; ++i) {
      if (i % 256 == 0 && optimist::stats().automatic.switches() >= switches) break;
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      const auto from = static_cast<std::size_t>(rng % accounts);
      const auto to = static_cast<std::size_t>((rng >> 8) % accounts);
      const long amount = static_cast<long>((rng >> 16) % 7);
      optimist::atomically([&] {
        const long a = balance[from].get();
        // Some work between the reads and the writes: attempts stay in
        // flight long enough for the verdict to change under them.
        for (int k = 0; k < 64; ++k) spin.fetch_add(1, std::memory_order_relaxed);
        balance[from].set(a - amount);
        balance[to].set(balance[to].get() + amount);
      });
    }
  });
  // Let the auditor see a few switches even if the workers were quick.
  while (optimist::stats().automatic.switches() < 4) std::this_thread::yield();
  stop.store(true);
  auditor.join();
  EXPECT_EQ(torn.load(), 0);
  long total = 0;
  for (auto& b : balance) total += b.get();
  EXPECT_EQ(total, initial * accounts);
  const optimist::statistics s = optimist::stats();
  EXPECT_GE(s.automatic.to_serial, 2u);
  EXPECT_GE(s.automatic.to_speculative, 1u);
  EXPECT_GT(s.automatic.serial_blocks, 0u);
  EXPECT_GT(s.automatic.speculative_blocks, 0u);
}

INSTANTIATE_TEST_SUITE_P(Threads, ModeControllerThreads, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace mode_controller_test
