// The hardware section of the report (report::profile::hardware), driven
// through the abort-injection seam (htm/abort_injection.hpp) so that every
// count is certain on any CPU:
//
// - per block: blocks, attempts and aborts by cause, at the block's own line,
//   one entry per atomic block, most attempts first;
// - the policy: blocks it skipped, and on how many threads it has switched
//   hardware off there;
// - the text report's lines for them, the source line quoted;
// - reset() and enable() take a baseline: a snapshot shows what happened
//   since, and counts only the threads that ran the block since;
// - the section is filled whether or not reporting is on;
// - JSON keeps it.
//
// Injected attempts never commit (the seam only answers abort statuses), so
// commits are 0 here; the text and JSON tests of tests/profile cover others.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <barrier>
#include <cstdint>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "htm/abort_injection.hpp"
#include "htm/hardware_mode.hpp"
#include "htm/site_policy.hpp"
#include "optimist/optimist.hpp"
#include "optimist/report.hpp"
#include "profile/site_format.hpp"
#include "stm/thread_registry.hpp"
#include "support/profile_equality.hpp"
#include "support/threads.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace hardware_report_test {

namespace {

namespace report = optimist::report;
using optimist::source_location;
using optimist::detail::rtm_abort_capacity;
using optimist::detail::rtm_abort_conflict;
using optimist::detail::rtm_abort_retry;
using optimist::test::run_threads;

// Answers every hardware attempt of this thread with `status` for the scope.
class injected {
 public:
  explicit injected(unsigned status) : status_(status) {
    optimist::detail::set_abort_injection(&injected::next, this);
  }
  ~injected() { optimist::detail::set_abort_injection(nullptr, nullptr); }
  injected(const injected&) = delete;
  injected& operator=(const injected&) = delete;

 private:
  static unsigned next(void* self) { return static_cast<injected*>(self)->status_; }
  unsigned status_;
};

source_location here(source_location where = source_location::current()) {
  return where;
}

// Two atomic blocks, each at one line; they return their site. The quoted
// source line of each is the line `block` is declared on.
constexpr const char* quoted_line = "const source_location block = here();";

source_location block_a(optimist::tvar<long>& v, int blocks) {
  const source_location block = here();
  for (int i = 0; i < blocks; ++i) optimist::atomically([&] { v = v.get() + 1; }, block);
  return block;
}

source_location block_b(optimist::tvar<long>& v, int blocks) {
  const source_location block = here();
  for (int i = 0; i < blocks; ++i) optimist::atomically([&] { v = v.get() + 1; }, block);
  return block;
}

report::site site_of(const source_location& where) {
  return {where.file_name(), where.line(), where.function_name(), true};
}

report::hardware_block expected_block(const source_location& where, std::uint64_t blocks,
                                      std::uint64_t attempts, std::uint64_t skipped,
                                      std::array<std::uint64_t, 4> aborts, unsigned threads,
                                      unsigned threads_in_software) {
  return {site_of(where), blocks, attempts, 0, skipped, aborts, threads, threads_in_software};
}

void expect_blocks(const std::vector<report::hardware_block>& actual,
                   const std::vector<report::hardware_block>& expected) {
  report::profile a;
  a.hardware = actual;
  report::profile e;
  e.hardware = expected;
  optimist::test::expect_equal(a, e);
}

// The text report's hardware section of `p`, up to the next section.
std::string hardware_section(const report::profile& p) {
  std::ostringstream out;
  report::write_text(out, p);
  const std::string text = out.str();
  const auto begin = text.find("Hardware transactions, by atomic block\n");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find("\nThreads (seconds)\n") - begin);
}

std::string site_line(const source_location& where) {
  const report::site s = site_of(where);
  return "  atomic block:  " + optimist::detail::site_location(s) + " in " +
         optimist::detail::short_function_name(s.function) + "   " + quoted_line + "\n";
}

std::string threads_text(int n) {
  return std::to_string(n) + (n == 1 ? " thread" : " threads");
}

class HardwareReport : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    previous_ = optimist::execution_mode_now();
    optimist::set_execution_mode(optimist::execution_mode::htm);
    optimist::detail::forget_hardware_policy();  // descriptors (and their tables) are reused
    report::reset();
  }
  void TearDown() override { optimist::set_execution_mode(previous_); }

  // Runs body(index) on GetParam() threads, each with a descriptor of its own:
  // a thread that starts later could otherwise inherit one (and its policy).
  template <class Body>
  void on_distinct_threads(Body&& body) {
    const int threads = GetParam();
    std::barrier all_have_a_descriptor(threads);
    run_threads(threads, [&](int index) {
      optimist::detail::this_thread_transaction();
      all_have_a_descriptor.arrive_and_wait();
      body(index);
    });
  }

 private:
  optimist::execution_mode previous_ = optimist::execution_mode::automatic;
};

TEST_P(HardwareReport, CountsEachBlockByCauseAtItsLine) {
  const int threads = GetParam();
  const std::uint64_t n = static_cast<std::uint64_t>(threads);
  optimist::tvar<long> v{0};
  source_location a, b;
  on_distinct_threads([&](int index) {
    {
      injected scope(rtm_abort_conflict | rtm_abort_retry);  // retried: 4 attempts a block
      source_location site = block_a(v, 3);
      if (index == 0) a = site;
    }
    injected scope(rtm_abort_capacity);  // 1 attempt a block
    source_location site = block_b(v, 2);
    if (index == 0) b = site;
  });
  EXPECT_EQ(v.get(), threads * 5);
  const report::profile p = report::snapshot();
  expect_blocks(p.hardware, {expected_block(a, 3 * n, 12 * n, 0, {12 * n, 0, 0, 0}, n, 0),
                             expected_block(b, 2 * n, 2 * n, 0, {0, 2 * n, 0, 0}, n, 0)});
  EXPECT_EQ(hardware_section(p),
            "Hardware transactions, by atomic block\n"
            "\n" +
                std::to_string(3 * n) + " blocks, 0 committed in hardware (0.0%), " +
                std::to_string(12 * n) + " attempts, 0 skipped by the policy\n" + site_line(a) +
                "  aborts:        " + std::to_string(12 * n) +
                " conflict, 0 capacity, 0 explicit, 0 other\n"
                "  policy:        trying hardware on " +
                threads_text(threads) +
                "\n"
                "\n" +
                std::to_string(2 * n) + " blocks, 0 committed in hardware (0.0%), " +
                std::to_string(2 * n) + " attempts, 0 skipped by the policy\n" + site_line(b) +
                "  aborts:        0 conflict, " + std::to_string(2 * n) +
                " capacity, 0 explicit, 0 other\n"
                "  policy:        trying hardware on " +
                threads_text(threads) + "\n");
}

TEST_P(HardwareReport, ShowsSkippedBlocksAndThreadsWithHardwareOff) {
  const int threads = GetParam();
  const std::uint64_t n = static_cast<std::uint64_t>(threads);
  optimist::tvar<long> v{0};
  source_location a;
  on_distinct_threads([&](int index) {
    injected scope(rtm_abort_capacity);
    // A window of 16 failing blocks, then the policy skips hardware here.
    source_location site = block_a(v, 16 + 10);
    if (index == 0) a = site;
  });
  const report::profile p = report::snapshot();
  expect_blocks(p.hardware, {expected_block(a, 26 * n, 16 * n, 10 * n, {0, 16 * n, 0, 0}, n, n)});
  EXPECT_EQ(hardware_section(p),
            "Hardware transactions, by atomic block\n"
            "\n" +
                std::to_string(26 * n) + " blocks, 0 committed in hardware (0.0%), " +
                std::to_string(16 * n) + " attempts, " + std::to_string(10 * n) +
                " skipped by the policy\n" + site_line(a) + "  aborts:        0 conflict, " +
                std::to_string(16 * n) +
                " capacity, 0 explicit, 0 other\n"
                "  policy:        hardware off on " +
                std::to_string(threads) + " of " + threads_text(threads) + "\n");
  // With a top of 0 the section is one summary line.
  std::ostringstream top0;
  report::write_text(top0, p, 0);
  EXPECT_NE(top0.str().find("Hardware transactions, by atomic block\n\n... 1 more atomic block: " +
                            std::to_string(26 * n) + " blocks, 0 committed in hardware, " +
                            std::to_string(16 * n) + " attempts\n"),
            std::string::npos)
      << top0.str();
}

TEST_P(HardwareReport, ResetTakesABaseline) {
  const std::uint64_t n = static_cast<std::uint64_t>(GetParam());
  optimist::tvar<long> v{0};
  source_location a, b;
  on_distinct_threads([&](int index) {
    injected scope(rtm_abort_conflict);  // not retried: 1 attempt a block
    source_location site = block_a(v, 4);
    if (index == 0) a = site;
  });
  ASSERT_EQ(report::snapshot().hardware.size(), 1u);
  EXPECT_EQ(report::snapshot().hardware[0].attempts, 4 * n);

  report::reset();
  EXPECT_TRUE(report::snapshot().hardware.empty());
  EXPECT_EQ(hardware_section(report::snapshot()), "");

  // Since the reset: one thread, one block at each site. Block a's entry counts
  // only that thread, not the ones that ran it before.
  run_threads(1, [&](int) {
    injected scope(rtm_abort_conflict);
    block_a(v, 1);
    injected again(optimist::detail::rtm_explicit_status(optimist::detail::abort_code_reserved));
    b = block_b(v, 2);
  });
  expect_blocks(report::snapshot().hardware, {expected_block(b, 2, 2, 0, {0, 0, 2, 0}, 1, 0),
                                              expected_block(a, 1, 1, 0, {1, 0, 0, 0}, 1, 0)});
}

TEST_P(HardwareReport, FilledWithReportingOffAndEnableTakesABaseline) {
  const std::uint64_t n = static_cast<std::uint64_t>(GetParam());
  report::enable(false);  // off, whatever the environment said
  optimist::tvar<long> v{0};
  source_location a;
  on_distinct_threads([&](int index) {
    injected scope(0);  // what a CPU with TSX disabled answers: cause "other"
    source_location site = block_a(v, 2);
    if (index == 0) a = site;
  });
  expect_blocks(report::snapshot().hardware,
                {expected_block(a, 2 * n, 2 * n, 0, {0, 0, 0, 2 * n}, GetParam(), 0)});

  report::enable();
  EXPECT_TRUE(report::snapshot().hardware.empty());
  run_threads(1, [&](int) {
    injected scope(0);
    block_a(v, 1);
  });
  expect_blocks(report::snapshot().hardware, {expected_block(a, 1, 1, 0, {0, 0, 0, 1}, 1, 0)});
  report::enable(false);
}

TEST_P(HardwareReport, JsonKeepsTheHardwareBlocks) {
  optimist::tvar<long> v{0};
  on_distinct_threads([&](int) {
    injected scope(rtm_abort_conflict | rtm_abort_retry);
    block_a(v, 2);
    injected capacity(rtm_abort_capacity);
    block_b(v, 1);
  });
  const report::profile p = report::snapshot();
  ASSERT_EQ(p.hardware.size(), 2u);
  std::stringstream json;
  report::write_json(json, p);
  EXPECT_NE(json.str().find("\"hardware\": [\n    {\"site\": {\"file\": "), std::string::npos)
      << json.str();
  optimist::test::expect_equal(report::read_json(json), p);
  // And merged with itself: every count doubles, the entries stay two.
  const report::profile twice = report::merge({p, p});
  ASSERT_EQ(twice.hardware.size(), 2u);
  EXPECT_EQ(twice.hardware[0].attempts, 2 * p.hardware[0].attempts);
  EXPECT_EQ(twice.hardware[0].threads, 2 * p.hardware[0].threads);
}

// Reporting on: a block whose hardware attempts all abort runs in software;
// the report counts one commit (the software one), no abort (its aborts are
// software conflicts, each with its sites), and the time of the hardware
// attempts as aborted time, so that a thread's times still add up to its wall
// time (before, that time was counted as time between transactions).
TEST_P(HardwareReport, FallenBackBlocksAreOneCommitAndTheirAttemptsAbortedTime) {
  report::enable();
  report::reset();
  // A word per thread: no software conflict either.
  std::vector<optimist::tvar<long>> own(static_cast<std::size_t>(GetParam()));
  on_distinct_threads([&](int index) {
    injected scope(0);  // TSX disabled: every attempt aborts, cause "other"
    block_a(own[static_cast<std::size_t>(index)], 50);
  });
  const report::profile p = report::snapshot();
  report::enable(false);
  const auto n = static_cast<std::uint64_t>(GetParam());
  for (const optimist::tvar<long>& mine : own) EXPECT_EQ(mine.get(), 50);
  EXPECT_EQ(p.totals.commits, 50 * n);
  EXPECT_EQ(p.totals.aborts, 0u);
  EXPECT_TRUE(p.conflicts.empty());
  EXPECT_GT(p.totals.aborted_s, 0) << "the hardware attempts' time";
  ASSERT_EQ(p.hardware.size(), 1u);
  EXPECT_EQ(p.hardware[0].blocks, 50 * n);
  EXPECT_EQ(p.hardware[0].commits, 0u);
}

// The next tests need a CPU whose RTM transactions commit (not one with TSX
// disabled, where XBEGIN always aborts): they are skipped elsewhere.
bool hardware_commits_here() {
  return optimist::htm_available() &&
         optimist::detail::hardware_kind_for(optimist::execution_mode::htm) ==
             optimist::detail::hardware_kind::real;
}

// Blocks that commit in hardware are commits of the report, their time
// committed time, as in software. Before, a run on a CPU with working RTM
// reported a fraction of its commits (the software ones), and stats() counted
// no read-only hardware commit as read-only.
TEST_P(HardwareReport, HardwareCommitsAreCommitsOfTheReport) {
  if (!hardware_commits_here()) GTEST_SKIP() << "no RTM transaction commits on this CPU";
  report::enable();
  report::reset();
  const optimist::statistics before = optimist::stats();
  std::vector<optimist::tvar<long>> own(static_cast<std::size_t>(GetParam()));
  optimist::tvar<long> shared{3};
  constexpr int blocks = 200;
  on_distinct_threads([&](int index) {
    optimist::tvar<long>& mine = own[static_cast<std::size_t>(index)];
    for (int i = 0; i < blocks; ++i) {
      optimist::atomically([&] { mine = mine.get() + 1; });
      optimist::atomically([&] { return shared.get(); });  // read-only
    }
  });
  const report::profile p = report::snapshot();
  const optimist::statistics after = optimist::stats();
  report::enable(false);
  const auto n = static_cast<std::uint64_t>(GetParam());
  for (const optimist::tvar<long>& mine : own) EXPECT_EQ(mine.get(), blocks);
  const std::uint64_t in_hardware = after.hardware.commits - before.hardware.commits;
  if (in_hardware == 0) GTEST_SKIP() << "no block committed in hardware this time";
  EXPECT_EQ(p.totals.commits, 2 * blocks * n) << "software and hardware commits alike";
  std::uint64_t hardware_section_commits = 0;
  for (const report::hardware_block& b : p.hardware) hardware_section_commits += b.commits;
  EXPECT_EQ(hardware_section_commits, in_hardware);
  EXPECT_EQ(after.read_only_commits - before.read_only_commits, blocks * n)
      << "a read-only block is a read-only commit in hardware too";
  double committed = 0;
  for (const report::thread_times& t : p.threads) committed += t.committed_s;
  EXPECT_GT(committed, 0);
}

// A software reader that a hardware writer's commit aborts names the writer's
// line as the other side of the conflict, as it would a software writer's.
// Before, a hardware commit left the orec's site slot as it was: the report
// named whatever software write had last been there (here `earlier`).
TEST_P(HardwareReport, AHardwareWriterIsNamedInTheConflictItCauses) {
  if (!hardware_commits_here()) GTEST_SKIP() << "no RTM transaction commits on this CPU";
  if (GetParam() != 2) GTEST_SKIP() << "one reader and one writer";
  optimist::tvar<long> x{0};
  std::vector<optimist::tvar<long>> own(2);
  source_location earlier, read_at, write_at;
  for (int round = 0; round < 20; ++round) {
    report::enable();  // (so that this write leaves its site in x's slot)
    {
      optimist::detail::scoped_execution_mode software(optimist::execution_mode::stm);
      optimist::atomically([&] { (earlier = here(), x.set(-1)); });
    }
    report::reset();
    std::atomic<int> phase{0};
    bool writer_in_hardware = false;
    on_distinct_threads([&](int index) {
      if (index == 0) {  // the reader, in software
        optimist::detail::scoped_execution_mode software(optimist::execution_mode::stm);
        int attempts = 0;
        optimist::atomically([&] {
          const long seen = (read_at = here(), x.get());
          if (++attempts == 1) {
            phase.store(1);
            while (phase.load() != 2) std::this_thread::yield();
          }
          own[0].set(seen);
        });
      } else {  // the writer, hardware first
        while (phase.load() != 1) std::this_thread::yield();
        const std::uint64_t before = optimist::stats().hardware.commits;
        optimist::atomically([&] { (write_at = here(), x.set(x.get() + 1)); });
        writer_in_hardware = optimist::stats().hardware.commits > before;
        phase.store(2);
      }
    });
    const report::profile p = report::snapshot();
    report::enable(false);
    if (!writer_in_hardware) continue;  // it fell back: a software write, try again
    ASSERT_EQ(p.conflicts.size(), 1u);
    EXPECT_EQ(p.conflicts[0].aborted_site,
              (report::site{read_at.file_name(), read_at.line(), read_at.function_name(), false}));
    EXPECT_EQ(p.conflicts[0].other_site, (report::site{write_at.file_name(), write_at.line(),
                                                       write_at.function_name(), false}))
        << "named " << p.conflicts[0].other_site.line << "; the earlier write is line "
        << earlier.line();
    return;
  }
  GTEST_SKIP() << "the writer never committed in hardware in 20 rounds";
}

INSTANTIATE_TEST_SUITE_P(Threads, HardwareReport, ::testing::Values(1, 2, 4),
                         [](const auto& param) { return std::to_string(param.param) + "threads"; });

}  // namespace

}  // namespace hardware_report_test
