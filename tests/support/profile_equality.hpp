// Field-by-field comparison of two report profiles, with a gtest failure naming the field.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>

#include "optimist/report.hpp"

namespace optimist::test {

inline void expect_equal(const optimist::report::profile& a, const optimist::report::profile& b) {
  EXPECT_EQ(a.totals.commits, b.totals.commits);
  EXPECT_EQ(a.totals.aborts, b.totals.aborts);
  EXPECT_EQ(a.totals.wall_s, b.totals.wall_s);
  EXPECT_EQ(a.totals.committed_s, b.totals.committed_s);
  EXPECT_EQ(a.totals.aborted_s, b.totals.aborted_s);
  EXPECT_EQ(a.totals.waiting_s, b.totals.waiting_s);
  EXPECT_EQ(a.totals.grouped_tasks, b.totals.grouped_tasks);
  ASSERT_EQ(a.conflicts.size(), b.conflicts.size());
  for (std::size_t i = 0; i < a.conflicts.size(); ++i) {
    EXPECT_EQ(a.conflicts[i].kind, b.conflicts[i].kind) << i;
    EXPECT_EQ(a.conflicts[i].aborted_site, b.conflicts[i].aborted_site) << i;
    EXPECT_EQ(a.conflicts[i].other_site, b.conflicts[i].other_site) << i;
    EXPECT_EQ(a.conflicts[i].count, b.conflicts[i].count) << i;
    EXPECT_EQ(a.conflicts[i].time_lost_s, b.conflicts[i].time_lost_s) << i;
  }
  ASSERT_EQ(a.inevitables.size(), b.inevitables.size());
  for (std::size_t i = 0; i < a.inevitables.size(); ++i) {
    EXPECT_EQ(a.inevitables[i].where, b.inevitables[i].where) << i;
    EXPECT_EQ(a.inevitables[i].count, b.inevitables[i].count) << i;
    EXPECT_EQ(a.inevitables[i].inevitable_s, b.inevitables[i].inevitable_s) << i;
    EXPECT_EQ(a.inevitables[i].blocked_others_s, b.inevitables[i].blocked_others_s) << i;
    EXPECT_EQ(a.inevitables[i].starved, b.inevitables[i].starved) << i;
  }
  ASSERT_EQ(a.threads.size(), b.threads.size());
  for (std::size_t i = 0; i < a.threads.size(); ++i) {
    EXPECT_EQ(a.threads[i].thread, b.threads[i].thread) << i;
    EXPECT_EQ(a.threads[i].committed_s, b.threads[i].committed_s) << i;
    EXPECT_EQ(a.threads[i].aborted_s, b.threads[i].aborted_s) << i;
    EXPECT_EQ(a.threads[i].waiting_s, b.threads[i].waiting_s) << i;
    EXPECT_EQ(a.threads[i].outside_s, b.threads[i].outside_s) << i;
  }
  ASSERT_EQ(a.hardware.size(), b.hardware.size());
  for (std::size_t i = 0; i < a.hardware.size(); ++i) {
    EXPECT_EQ(a.hardware[i].where, b.hardware[i].where) << i;
    EXPECT_EQ(a.hardware[i].blocks, b.hardware[i].blocks) << i;
    EXPECT_EQ(a.hardware[i].attempts, b.hardware[i].attempts) << i;
    EXPECT_EQ(a.hardware[i].commits, b.hardware[i].commits) << i;
    EXPECT_EQ(a.hardware[i].skipped, b.hardware[i].skipped) << i;
    EXPECT_EQ(a.hardware[i].aborts_by_cause, b.hardware[i].aborts_by_cause) << i;
    EXPECT_EQ(a.hardware[i].threads, b.hardware[i].threads) << i;
    EXPECT_EQ(a.hardware[i].threads_in_software, b.hardware[i].threads_in_software) << i;
  }
  EXPECT_EQ(a.auto_mode.speculative_s, b.auto_mode.speculative_s);
  EXPECT_EQ(a.auto_mode.serial_s, b.auto_mode.serial_s);
  EXPECT_EQ(a.auto_mode.speculative_blocks, b.auto_mode.speculative_blocks);
  EXPECT_EQ(a.auto_mode.serial_blocks, b.auto_mode.serial_blocks);
  EXPECT_EQ(a.auto_mode.samples, b.auto_mode.samples);
  EXPECT_EQ(a.auto_mode.switches, b.auto_mode.switches);
}

}  // namespace optimist::test
