// report::merge: profiles from several runs become one, regrouped and sorted.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

#include "optimist/report.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace merge_test {

namespace {

using optimist::report::conflict_kind;
using optimist::report::profile;
using optimist::report::site;

const site reader{"q.cpp", 10, "pop", false};
const site writer{"q.cpp", 20, "push", false};
const site audit{"bank.cpp", 5, "audit", false};

profile first_run() {
  profile p;
  p.totals = {100, 10, 2.0, 1.0, 0.25, 0.125};
  p.conflicts.push_back({conflict_kind::write_read, reader, writer, 6, 0.5});
  p.conflicts.push_back({conflict_kind::write_write, writer, writer, 4, 0.25});
  p.inevitables.push_back({audit, 1, 0.125, 0.25});
  p.threads.push_back({0, 0.5, 0.125, 0.0625, 1.0});
  p.threads.push_back({1, 0.5, 0.125, 0.0625, 1.0});
  return p;
}

profile second_run() {
  profile p;
  p.totals = {50, 20, 3.0, 0.5, 0.5, 0.0};
  // Same sites and kind as the first group of the first run: merged with it.
  p.conflicts.push_back({conflict_kind::write_read, reader, writer, 14, 0.5});
  // Same sites, another kind: its own group.
  p.conflicts.push_back({conflict_kind::write_write, reader, writer, 1, 2.0});
  // Same place but only the block known: its own group too.
  site block = reader;
  block.block_only = true;
  p.conflicts.push_back({conflict_kind::write_read, block, writer, 5, 0.0625});
  p.inevitables.push_back({audit, 2, 0.25, 0.5});
  p.inevitables.push_back({reader, 1, 0.5, 1.0});
  p.threads.push_back({0, 0.5, 0.5, 0.0, 2.5});
  return p;
}

TEST(Merge, RegroupsConflictsByKindAndBothSites) {
  const profile m = optimist::report::merge({first_run(), second_run()});
  ASSERT_EQ(m.conflicts.size(), 4u);
  // Largest loss first.
  EXPECT_EQ(m.conflicts[0].kind, conflict_kind::write_write);
  EXPECT_EQ(m.conflicts[0].aborted_site, reader);
  EXPECT_EQ(m.conflicts[0].count, 1u);
  EXPECT_DOUBLE_EQ(m.conflicts[0].time_lost_s, 2.0);

  EXPECT_EQ(m.conflicts[1].kind, conflict_kind::write_read);
  EXPECT_EQ(m.conflicts[1].aborted_site, reader);
  EXPECT_EQ(m.conflicts[1].other_site, writer);
  EXPECT_EQ(m.conflicts[1].count, 20u);
  EXPECT_DOUBLE_EQ(m.conflicts[1].time_lost_s, 1.0);

  EXPECT_EQ(m.conflicts[2].kind, conflict_kind::write_write);
  EXPECT_EQ(m.conflicts[2].aborted_site, writer);
  EXPECT_EQ(m.conflicts[2].count, 4u);

  EXPECT_TRUE(m.conflicts[3].aborted_site.block_only);
  EXPECT_EQ(m.conflicts[3].count, 5u);
}

TEST(Merge, RegroupsInevitablesBySite) {
  const profile m = optimist::report::merge({first_run(), second_run()});
  ASSERT_EQ(m.inevitables.size(), 2u);
  EXPECT_EQ(m.inevitables[0].where, reader);  // 1.0 s held back
  EXPECT_EQ(m.inevitables[1].where, audit);   // 0.25 + 0.5 s
  EXPECT_EQ(m.inevitables[1].count, 3u);
  EXPECT_DOUBLE_EQ(m.inevitables[1].inevitable_s, 0.375);
  EXPECT_DOUBLE_EQ(m.inevitables[1].blocked_others_s, 0.75);
}

TEST(Merge, SumsTotalsAndTakesTheLongestWallTime) {
  const profile m = optimist::report::merge({first_run(), second_run()});
  EXPECT_EQ(m.totals.commits, 150u);
  EXPECT_EQ(m.totals.aborts, 30u);
  EXPECT_DOUBLE_EQ(m.totals.wall_s, 3.0);
  EXPECT_DOUBLE_EQ(m.totals.committed_s, 1.5);
  EXPECT_DOUBLE_EQ(m.totals.aborted_s, 0.75);
  EXPECT_DOUBLE_EQ(m.totals.waiting_s, 0.125);
  EXPECT_EQ(m.totals.grouped_tasks, 0u);
  profile grouped = first_run(), more = second_run();
  grouped.totals.grouped_tasks = 900;
  more.totals.grouped_tasks = 40;
  EXPECT_EQ(optimist::report::merge({grouped, more}).totals.grouped_tasks, 940u);
}

TEST(Merge, ConcatenatesAndRenumbersThreads) {
  const profile m = optimist::report::merge({first_run(), second_run()});
  ASSERT_EQ(m.threads.size(), 3u);
  for (unsigned i = 0; i < 3; ++i) EXPECT_EQ(m.threads[i].thread, i);
  EXPECT_DOUBLE_EQ(m.threads[2].outside_s, 2.5);  // the second run's thread 0
}

TEST(Merge, SumsHardwareBlocksBySite) {
  const site block{"q.cpp", 8, "pop", true};
  const site other_block{"q.cpp", 18, "push", true};
  profile a;
  a.hardware.push_back({block, 100, 120, 90, 0, {20, 5, 5, 0}, 2, 0});
  a.hardware.push_back({other_block, 10, 10, 10, 0, {}, 1, 0});
  profile b;
  b.hardware.push_back({other_block, 400, 80, 0, 320, {0, 80, 0, 0}, 4, 3});
  b.hardware.push_back({block, 50, 60, 40, 0, {10, 0, 0, 10}, 1, 1});
  const profile m = optimist::report::merge({a, b});
  ASSERT_EQ(m.hardware.size(), 2u);
  // Most attempts first: 180 at `block`, 90 at `other_block`.
  EXPECT_EQ(m.hardware[0].where, block);
  EXPECT_EQ(m.hardware[0].blocks, 150u);
  EXPECT_EQ(m.hardware[0].attempts, 180u);
  EXPECT_EQ(m.hardware[0].commits, 130u);
  EXPECT_EQ(m.hardware[0].skipped, 0u);
  EXPECT_EQ(m.hardware[0].aborts_by_cause, (std::array<std::uint64_t, 4>{30, 5, 5, 10}));
  EXPECT_EQ(m.hardware[0].threads, 3u);
  EXPECT_EQ(m.hardware[0].threads_in_software, 1u);
  EXPECT_EQ(m.hardware[1].where, other_block);
  EXPECT_EQ(m.hardware[1].blocks, 410u);
  EXPECT_EQ(m.hardware[1].attempts, 90u);
  EXPECT_EQ(m.hardware[1].skipped, 320u);
  EXPECT_EQ(m.hardware[1].aborts_for(optimist::hardware_abort_cause::capacity), 80u);
  EXPECT_EQ(m.hardware[1].threads, 5u);
  EXPECT_EQ(m.hardware[1].threads_in_software, 3u);
  // A profile without hardware blocks adds none.
  EXPECT_TRUE(optimist::report::merge({first_run(), second_run()}).hardware.empty());
}

TEST(Merge, TiesKeepTheOrderOfFirstAppearance) {
  profile p;
  const site a{"a.cpp", 1, "", false};
  const site b{"b.cpp", 1, "", false};
  p.conflicts.push_back({conflict_kind::write_read, a, b, 1, 0.5});
  p.conflicts.push_back({conflict_kind::write_read, b, a, 1, 0.5});
  const profile m = optimist::report::merge({p});
  ASSERT_EQ(m.conflicts.size(), 2u);
  EXPECT_EQ(m.conflicts[0].aborted_site, a);
  EXPECT_EQ(m.conflicts[1].aborted_site, b);
}

TEST(Merge, OfNothingIsEmpty) {
  const profile m = optimist::report::merge({});
  EXPECT_EQ(m.totals.commits, 0u);
  EXPECT_EQ(m.totals.wall_s, 0.0);
  EXPECT_TRUE(m.conflicts.empty());
  EXPECT_TRUE(m.inevitables.empty());
  EXPECT_TRUE(m.threads.empty());
  EXPECT_TRUE(m.hardware.empty());
}

TEST(Merge, OfOneProfileSortsIt) {
  profile p = first_run();
  std::swap(p.conflicts[0], p.conflicts[1]);
  const profile m = optimist::report::merge({p});
  ASSERT_EQ(m.conflicts.size(), 2u);
  EXPECT_DOUBLE_EQ(m.conflicts[0].time_lost_s, 0.5);
  EXPECT_DOUBLE_EQ(m.conflicts[1].time_lost_s, 0.25);
}

}  // namespace

namespace {

TEST(Merge, AddsAutoModeSummariesAndMergesTheirSwitchesByTime) {
  optimist::report::profile a;
  optimist::report::profile b;
  a.auto_mode.speculative_s = 1.0;
  a.auto_mode.serial_blocks = 5;
  b.auto_mode.serial_s = 0.5;
  b.auto_mode.serial_blocks = 7;
  b.auto_mode.samples = 2;
  optimist::mode_switch late;
  late.at_s = 0.9;
  late.to_serial = true;
  optimist::mode_switch early;
  early.at_s = 0.1;
  a.auto_mode.switches.push_back(late);
  b.auto_mode.switches.push_back(early);
  const optimist::report::profile m = optimist::report::merge({a, b});
  EXPECT_EQ(m.auto_mode.speculative_s, 1.0);
  EXPECT_EQ(m.auto_mode.serial_s, 0.5);
  EXPECT_EQ(m.auto_mode.serial_blocks, 12u);
  EXPECT_EQ(m.auto_mode.samples, 2u);
  ASSERT_EQ(m.auto_mode.switches.size(), 2u);
  EXPECT_EQ(m.auto_mode.switches[0], early);
  EXPECT_EQ(m.auto_mode.switches[1], late);
}

}  // namespace

}  // namespace merge_test
