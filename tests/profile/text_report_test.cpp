// report::write_text: the exact layout of the text report, on profiles built by
// hand (nothing is recorded). Site files are under "nowhere/" so that no
// source line is quoted unless a test writes the file.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <sstream>
#include <string>

#include "optimist/report.hpp"
#include "profile/temp_files.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace text_report_test {

namespace {

using optimist::report::conflict;
using optimist::report::conflict_kind;
using optimist::report::hardware_block;
using optimist::report::inevitable;
using optimist::report::profile;
using optimist::report::site;

site at(std::string file, unsigned line, std::string function, bool block_only = false) {
  return site{std::move(file), line, std::move(function), block_only};
}

std::string text_of(const profile& p, std::size_t top = static_cast<std::size_t>(-1)) {
  std::ostringstream out;
  optimist::report::write_text(out, p, top);
  return out.str();
}

// Two threads, three conflict groups (given out of order), one inevitable group.
profile sample_profile() {
  profile p;
  p.totals = {10000, 2500, 2.0, 1.2, 0.5, 0.1};
  p.conflicts.push_back({conflict_kind::write_write,
                         at("nowhere/bank.cpp", 40, "void transfer(account&, account&, long)"),
                         at("nowhere/bank.cpp", 41, "void transfer(account&, account&, long)"), 12,
                         0.1});
  p.conflicts.push_back(
      {conflict_kind::write_read, at("nowhere/train_schedule.cpp", 88, "void compute(train&)"),
       at("nowhere/train_schedule.cpp", 97, "void compute(train&)"), 12412, 0.412});
  p.conflicts.push_back({conflict_kind::inevitable, at("nowhere/log.cpp", 7, "main()::<lambda()>"),
                         at("nowhere/log.cpp", 20, "int main()"), 1, 0.0004});
  p.inevitables.push_back({at("nowhere/log.cpp", 20, "int main()"), 3, 0.05, 0.12});
  p.threads.push_back({0, 0.6, 0.25, 0.05, 0.1});
  p.threads.push_back({1, 0.6, 0.25, 0.05, 0.1});
  return p;
}

TEST(TextReport, KindNames) {
  EXPECT_STREQ(optimist::report::to_string(conflict_kind::write_write), "write-write");
  EXPECT_STREQ(optimist::report::to_string(conflict_kind::write_read), "write-read");
  EXPECT_STREQ(optimist::report::to_string(conflict_kind::inevitable), "inevitable");
}

TEST(TextReport, WholeLayout) {
  EXPECT_EQ(text_of(sample_profile()),
            "optimist conflict report\n"
            "  wall time:     2.000 s\n"
            "  thread time:   2.000 s over 2 threads\n"
            "  committed:     1.200 s (60.0%)\n"
            "  aborted:       0.500 s (25.0%)\n"
            "  waiting:       0.100 s (5.0%)\n"
            "  transactions:  10000 commits, 5000 per second\n"
            "  aborts:        2500 (abort ratio 20.0%)\n"
            "\n"
            "Conflicts\n"
            "\n"
            "0.412 s lost in 12412 aborts (write-read)\n"
            "  aborted read:  nowhere/train_schedule.cpp:88 in compute\n"
            "  by write:      nowhere/train_schedule.cpp:97 in compute\n"
            "\n"
            "0.100 s lost in 12 aborts (write-write)\n"
            "  aborted write: nowhere/bank.cpp:40 in transfer\n"
            "  by write:      nowhere/bank.cpp:41 in transfer\n"
            "\n"
            "0.400 ms lost in 1 abort (inevitable)\n"
            "  aborted at:    nowhere/log.cpp:7 in main::<lambda>\n"
            "  inevitable at: nowhere/log.cpp:20 in main\n"
            "\n"
            "Inevitable transactions\n"
            "\n"
            "0.120 s others held back by 3 inevitable transactions (0.050 s inevitable)\n"
            "  inevitable at: nowhere/log.cpp:20 in main\n"
            "\n"
            "Threads (seconds)\n"
            "\n"
            "  thread   committed     aborted     waiting     outside\n"
            "       0       0.600       0.250       0.050       0.100\n"
            "       1       0.600       0.250       0.050       0.100\n");
}

TEST(TextReport, EmptyProfileSaysSoInEverySection) {
  EXPECT_EQ(text_of(profile{}),
            "optimist conflict report\n"
            "  wall time:     0.000 s\n"
            "  thread time:   0.000 s\n"
            "  committed:     0.000 s\n"
            "  aborted:       0.000 s\n"
            "  waiting:       0.000 s\n"
            "  transactions:  0 commits\n"
            "  aborts:        0\n"
            "\n"
            "Conflicts\n"
            "\n"
            "No conflicts recorded.\n"
            "\n"
            "Inevitable transactions\n"
            "\n"
            "No inevitable transactions recorded.\n"
            "\n"
            "Threads (seconds)\n"
            "\n"
            "No threads recorded.\n");
}

TEST(TextReport, TopTruncatesBothGroupListsAndSumsTheRest) {
  profile p = sample_profile();
  p.inevitables.push_back({at("nowhere/audit.cpp", 5, "audit()"), 1, 0.001, 0.002});
  p.inevitables.push_back({at("nowhere/audit.cpp", 9, "audit()"), 2, 0.001, 0.003});
  const std::string text = text_of(p, 1);
  EXPECT_NE(text.find("\nConflicts\n"
                      "\n"
                      "0.412 s lost in 12412 aborts (write-read)\n"
                      "  aborted read:  nowhere/train_schedule.cpp:88 in compute\n"
                      "  by write:      nowhere/train_schedule.cpp:97 in compute\n"
                      "\n"
                      "... 2 more conflict groups: 0.100 s lost in 13 aborts\n"
                      "\n"
                      "Inevitable transactions\n"
                      "\n"
                      "0.120 s others held back by 3 inevitable transactions (0.050 s inevitable)\n"
                      "  inevitable at: nowhere/log.cpp:20 in main\n"
                      "\n"
                      "... 2 more sites: 0.005 s others held back by 3 inevitable transactions\n"
                      "\n"
                      "Threads (seconds)\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("bank.cpp"), std::string::npos) << text;
}

TEST(TextReport, TopZeroLeavesOnlyTheSummaryLines) {
  const std::string text = text_of(sample_profile(), 0);
  EXPECT_NE(text.find("\nConflicts\n\n... 3 more conflict groups: 0.512 s lost in 12425 aborts\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\n... 1 more site: 0.120 s others held back by 3 inevitable transactions\n"),
            std::string::npos)
      << text;
}

TEST(TextReport, QuotesTheTrimmedSourceLineOfAReadableFile) {
  optimist::test::temp_dir dir;
  const std::string file = dir.write("train.cpp",
                                     "struct train;\n"
                                     "\tauto s = dep.start.get();   \r\n"
                                     "    t.start.set(s);\n");
  profile p;
  p.conflicts.push_back({conflict_kind::write_read, at(file, 2, "void compute(train&)"),
                         at(file, 3, "compute"), 2, 0.25});
  p.conflicts.push_back({conflict_kind::write_write, at(file, 99, "f()"), at("", 0, ""), 1, 0.1});
  const std::string text = text_of(p);
  EXPECT_NE(text.find("0.250 s lost in 2 aborts (write-read)\n"
                      "  aborted read:  " +
                      file +
                      ":2 in compute   auto s = dep.start.get();\n"
                      "  by write:      " +
                      file + ":3 in compute   t.start.set(s);\n"),
            std::string::npos)
      << text;
  // A line past the end of the file, and a site with nothing known.
  EXPECT_NE(text.find("0.100 s lost in 1 abort (write-write)\n"
                      "  aborted write: " +
                      file +
                      ":99 in f\n"
                      "  by write:      (unknown)\n"),
            std::string::npos)
      << text;
}

TEST(TextReport, FindsAPathRecordedElsewhereRelativeToTheCurrentDirectory) {
  optimist::test::temp_dir dir;
  dir.write("samples/bank.cpp", "int a;\nbalance += amount;\n");
  optimist::test::current_directory_guard cd(dir.path());
  profile p;
  p.conflicts.push_back({conflict_kind::write_write,
                         at("/home/someone/optimist/samples/bank.cpp", 2, "deposit"),
                         at("samples/bank.cpp", 1, "open"), 1, 0.5});
  const std::string text = text_of(p);
  EXPECT_NE(text.find("  aborted write: /home/someone/optimist/samples/bank.cpp:2 in deposit   "
                      "balance += amount;\n"
                      "  by write:      samples/bank.cpp:1 in open   int a;\n"),
            std::string::npos)
      << text;
}

TEST(TextReport, ShowsAbsolutePathsInsideTheCurrentDirectoryRelativeToIt) {
  optimist::test::temp_dir dir;
  const std::string file = dir.write("src/queue.cpp", "push(x);\n");
  optimist::test::current_directory_guard cd(dir.path());
  profile p;
  p.conflicts.push_back({conflict_kind::write_read, at(file, 1, ""), at(file, 1, ""), 1, 0.5});
  EXPECT_NE(text_of(p).find("  aborted read:  src/queue.cpp:1   push(x);\n"), std::string::npos)
      << text_of(p);
}

TEST(TextReport, NotesWhenOnlyTheAtomicBlockIsKnown) {
  optimist::test::temp_dir dir;
  const std::string file = dir.write("block.cpp", "optimist::atomically([&] {\n");
  profile p;
  p.conflicts.push_back({conflict_kind::write_read, at(file, 1, "int main()", true),
                         at("nowhere/other.cpp", 5, "", true), 4, 0.002});
  const std::string text = text_of(p);
  EXPECT_NE(text.find("  aborted read:  " + file +
                      ":1 in main   optimist::atomically([&] {   "
                      "(only the atomic block is known)\n"
                      "  by write:      nowhere/other.cpp:5   (only the atomic block is known)\n"),
            std::string::npos)
      << text;
}

TEST(TextReport, CutsVeryLongSourceLines) {
  optimist::test::temp_dir dir;
  const std::string file = dir.write("long.cpp", std::string(150, 'x') + "\n");
  profile p;
  p.conflicts.push_back({conflict_kind::write_read, at(file, 1, ""), at(file, 1, ""), 1, 0.5});
  EXPECT_NE(text_of(p).find(":1   " + std::string(97, 'x') + "...\n"), std::string::npos);
}

// A long line of non-ASCII text is cut at a character, never in the middle of one.
TEST(TextReport, CutsLongNonAsciiSourceLinesAtACharacter) {
  optimist::test::temp_dir dir;
  for (std::size_t pad = 0; pad < 3; ++pad) {
    std::string line(pad, 'x');
    for (int i = 0; i < 60; ++i) line += "\xe2\x82\xac";  // €
    const std::string file = dir.write("euro" + std::to_string(pad) + ".cpp", line + "\n");
    profile p;
    p.conflicts.push_back({conflict_kind::write_read, at(file, 1, ""), at(file, 1, ""), 1, 0.5});
    const std::string text = text_of(p);
    const auto cut = text.find("...\n");
    ASSERT_NE(cut, std::string::npos) << text;
    // The bytes before "..." end a whole character: not a lead or continuation byte left open.
    const auto last = static_cast<unsigned char>(text[cut - 1]);
    const auto before = static_cast<unsigned char>(text[cut - 3]);
    EXPECT_TRUE(last < 0x80 || (last == 0xac && before == 0xe2)) << pad;
  }
}

TEST(TextReport, SortsGroupsByLossEvenWhenGivenOutOfOrder) {
  profile p;
  p.conflicts.push_back({conflict_kind::write_read, at("nowhere/a.cpp", 1, ""),
                         at("nowhere/a.cpp", 2, ""), 1, 0.001});
  p.conflicts.push_back({conflict_kind::write_read, at("nowhere/b.cpp", 1, ""),
                         at("nowhere/b.cpp", 2, ""), 1, 0.003});
  p.conflicts.push_back({conflict_kind::write_read, at("nowhere/c.cpp", 1, ""),
                         at("nowhere/c.cpp", 2, ""), 1, 0.002});
  const std::string text = text_of(p);
  const auto b = text.find("b.cpp");
  const auto c = text.find("c.cpp");
  const auto a = text.find("a.cpp");
  ASSERT_NE(a, std::string::npos);
  EXPECT_LT(b, c);
  EXPECT_LT(c, a);
}

TEST(TextReport, HeaderLeavesOutRatiosWithoutADenominator) {
  profile p;
  p.totals.commits = 3;
  p.totals.committed_s = 0.002;
  const std::string text = text_of(p);
  EXPECT_NE(text.find("  committed:     0.002 s (100.0%)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  transactions:  3 commits\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  aborts:        0 (abort ratio 0.0%)\n"), std::string::npos) << text;

  p.totals.wall_s = 2;
  EXPECT_NE(text_of(p).find("  transactions:  3 commits, 1.5 per second\n"), std::string::npos)
      << text_of(p);
}

// A task run's groups (report.hpp): one line after the transactions, only
// when a run grouped tasks (WholeLayout has none and no such line).
TEST(TextReport, GroupedTasksAreShownBesideTheCommitsThatHeldThem) {
  profile p;
  p.totals.commits = 8374;
  p.totals.grouped_tasks = 191021;
  EXPECT_NE(text_of(p).find("  transactions:  8374 commits\n"
                            "  grouped:       191021 tasks committed with the task before them "
                            "(199395 blocks in 8374 commits)\n"
                            "  aborts:        0"),
            std::string::npos)
      << text_of(p);
  p.totals.commits = 1;
  p.totals.grouped_tasks = 1;
  EXPECT_NE(text_of(p).find("  grouped:       1 task committed with the task before them (2 "
                            "blocks in 1 commit)\n"),
            std::string::npos)
      << text_of(p);
}

TEST(TextReport, TinySharesAreNotShownAsZero) {
  profile p;
  p.totals = {400000, 6, 1.0, 1.0, 0.0002, 0.0};
  const std::string text = text_of(p);
  EXPECT_NE(text.find("  aborted:       0.200 ms (<0.1%)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  waiting:       0.000 s (0.0%)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  aborts:        6 (abort ratio <0.1%)\n"), std::string::npos) << text;
}

// Hardware blocks are atomic blocks: their site is block_only.
hardware_block hardware_at(std::string file, unsigned line, std::uint64_t blocks,
                           std::uint64_t attempts, std::uint64_t commits, std::uint64_t skipped,
                           std::array<std::uint64_t, 4> aborts, unsigned threads,
                           unsigned threads_in_software) {
  return hardware_block{at(std::move(file), line, "void transfer(account&, account&, long)", true),
                        blocks,
                        attempts,
                        commits,
                        skipped,
                        aborts,
                        threads,
                        threads_in_software};
}

TEST(TextReport, HardwareSectionFollowsTheInevitableOne) {
  profile p = sample_profile();
  p.hardware.push_back(
      hardware_at("nowhere/bank.cpp", 38, 1200, 1500, 1000, 200, {300, 0, 200, 0}, 2, 1));
  const std::string text = text_of(p);
  EXPECT_NE(text.find("  inevitable at: nowhere/log.cpp:20 in main\n"
                      "\n"
                      "Hardware transactions, by atomic block\n"
                      "\n"
                      "1200 blocks, 1000 committed in hardware (83.3%), 1500 attempts, 200 "
                      "skipped by the policy\n"
                      "  atomic block:  nowhere/bank.cpp:38 in transfer\n"
                      "  aborts:        300 conflict, 0 capacity, 200 explicit, 0 other\n"
                      "  policy:        hardware off on 1 of 2 threads\n"
                      "\n"
                      "Threads (seconds)\n"),
            std::string::npos)
      << text;
}

TEST(TextReport, NoHardwareSectionWithoutHardwareBlocks) {
  EXPECT_EQ(text_of(sample_profile()).find("Hardware"), std::string::npos);
}

TEST(TextReport, HardwareBlocksByAttemptsAndTopSumsTheRest) {
  profile p;
  p.hardware.push_back(hardware_at("nowhere/a.cpp", 1, 10, 10, 10, 0, {0, 0, 0, 0}, 1, 0));
  p.hardware.push_back(hardware_at("nowhere/b.cpp", 2, 5, 20, 1, 0, {15, 4, 0, 0}, 3, 0));
  p.hardware.push_back(hardware_at("nowhere/c.cpp", 3, 1, 1, 0, 0, {0, 0, 0, 1}, 1, 1));
  EXPECT_NE(text_of(p, 1).find("Hardware transactions, by atomic block\n"
                               "\n"
                               "5 blocks, 1 committed in hardware (20.0%), 20 attempts, 0 "
                               "skipped by the policy\n"
                               "  atomic block:  nowhere/b.cpp:2 in transfer\n"
                               "  aborts:        15 conflict, 4 capacity, 0 explicit, 0 other\n"
                               "  policy:        trying hardware on 3 threads\n"
                               "\n"
                               "... 2 more atomic blocks: 11 blocks, 10 committed in hardware, "
                               "11 attempts\n"
                               "\n"
                               "Threads (seconds)\n"),
            std::string::npos)
      << text_of(p, 1);
  const std::string all = text_of(p);
  EXPECT_NE(all.find("\n1 block, 0 committed in hardware (0.0%), 1 attempt, 0 skipped by the "
                     "policy\n"
                     "  atomic block:  nowhere/c.cpp:3 in transfer\n"
                     "  aborts:        0 conflict, 0 capacity, 0 explicit, 1 other\n"
                     "  policy:        hardware off on 1 of 1 thread\n"),
            std::string::npos)
      << all;
  EXPECT_LT(all.find("b.cpp"), all.find("a.cpp"));
  EXPECT_LT(all.find("a.cpp"), all.find("c.cpp"));
  EXPECT_NE(text_of(p, 0).find("Hardware transactions, by atomic block\n"
                               "\n"
                               "... 3 more atomic blocks: 16 blocks, 11 committed in hardware, "
                               "31 attempts\n"),
            std::string::npos)
      << text_of(p, 0);
}

TEST(TextReport, HardwareBlockQuotesItsLineWithoutTheBlockOnlyNote) {
  optimist::test::temp_dir dir;
  const std::string file = dir.write("bank.cpp", "\n  optimist::atomically([&] {\n");
  profile p;
  // Counts unknown (a hand-built profile): no share, no policy line.
  p.hardware.push_back(hardware_at(file, 2, 0, 0, 0, 0, {0, 0, 0, 0}, 0, 0));
  const std::string text = text_of(p);
  EXPECT_NE(text.find("0 blocks, 0 committed in hardware, 0 attempts, 0 skipped by the policy\n"
                      "  atomic block:  " +
                      file +
                      ":2 in transfer   optimist::atomically([&] {\n"
                      "  aborts:        0 conflict, 0 capacity, 0 explicit, 0 other\n"
                      "\n"
                      "Threads (seconds)\n"),
            std::string::npos)
      << text;
}

}  // namespace

namespace {

optimist::mode_switch switch_at(double at_s, bool to_serial, optimist::mode_switch_reason reason,
                                double serial_per_s, double speculative_per_s, double aborts,
                                unsigned threads) {
  optimist::mode_switch s;
  s.at_s = at_s;
  s.to_serial = to_serial;
  s.reason = reason;
  s.serial_per_s = serial_per_s;
  s.speculative_per_s = speculative_per_s;
  s.aborts_per_commit = aborts;
  s.threads = threads;
  return s;
}

TEST(TextReport, AutoModeSectionListsTheSwitchesBeforeTheThreads) {
  profile p = sample_profile();
  p.auto_mode.speculative_s = 0.812;
  p.auto_mode.serial_s = 0.188;
  p.auto_mode.speculative_blocks = 40000;
  p.auto_mode.serial_blocks = 9000;
  p.auto_mode.samples = 3;
  p.auto_mode.switches.push_back(
      switch_at(0.012, true, optimist::mode_switch_reason::conflict, 4100000, 2000000.4, 1.3, 2));
  p.auto_mode.switches.push_back(
      switch_at(0.5, false, optimist::mode_switch_reason::sampled, 1000000, 1500000, 0.25, 4));
  p.auto_mode.switches.back().run_file = "src/rates.cpp";  // a task run's verdict
  p.auto_mode.switches.back().run_line = 31;
  p.auto_mode.switches.back().run_function = "apply_interest";
  const std::string text = text_of(p);
  EXPECT_NE(text.find("  inevitable at: nowhere/log.cpp:20 in main\n"
                      "\n"
                      "Auto mode (two or more threads)\n"
                      "\n"
                      "0.812 s speculative (40000 blocks), 0.188 s serial (9000 blocks), 3 "
                      "samples, 2 switches\n"
                      "  at 0.012 s: speculative -> serial (conflict): serial 4100000 blocks/s, "
                      "speculative 2000000 blocks/s, 1.30 aborts per commit, 2 threads\n"
                      "  at 0.500 s: serial -> speculative (sampled): serial 1000000 blocks/s, "
                      "speculative 1500000 blocks/s, 0.25 aborts per commit, 4 threads; task "
                      "run at src/rates.cpp:31 in apply_interest\n"
                      "\n"
                      "Threads (seconds)\n"),
            std::string::npos)
      << text;
}

TEST(TextReport, AutoModeSectionWithoutSwitchesAndSingulars) {
  profile p = sample_profile();
  p.auto_mode.speculative_s = 1.0;
  p.auto_mode.speculative_blocks = 1;
  p.auto_mode.samples = 1;
  const std::string text = text_of(p);
  EXPECT_NE(text.find("\nAuto mode (two or more threads)\n"
                      "\n"
                      "1.000 s speculative (1 block), 0.000 s serial (0 blocks), 1 sample, 0 "
                      "switches\n"
                      "\n"
                      "Threads (seconds)\n"),
            std::string::npos)
      << text;
}

TEST(TextReport, NoAutoModeSectionWhenTheControllerNeverRan) {
  EXPECT_EQ(text_of(sample_profile()).find("Auto mode"), std::string::npos);
}

}  // namespace

}  // namespace text_report_test
