// Power-loss simulation: the store's file I/O goes through a seam that
// remembers, for each file, what the last completed sync made durable. At the
// k-th sync (k random) the power fails: the disk image becomes that durable
// state plus a random subset of the 512-byte sectors written since (heap
// pages written back through the mapping included: they are read from the
// page cache), and every later I/O fails. The image is then recovered and
// checked like the kill -9 torture (ledger_workload.hpp), on 1 and 2
// committing threads, in full and relaxed durability.
//
// Negative controls, which must be caught: writing a commit back into the
// heap before its record is synced, and recovery that skips the checksum.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "durable/fault_injection.hpp"
#include "durable/file_io.hpp"
#include "durable/ledger_workload.hpp"
#include "durable/power_cut_io.hpp"
#include "support/stress.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace power_loss_test {

namespace {

namespace durable = optimist::durable;
using optimist::test::ledger;

using optimist::test::power_cut_io;
using optimist::test::write_file;

durable::options cut_options(durable::durability mode) {
  durable::options o;
  o.heap_size = 1 << 20;
  o.log_size = 8 << 10;  // ~16 transfers per epoch: cuts land in checkpoints too
  o.mode = mode;
  o.relaxed_window = std::chrono::milliseconds(1);
  return o;
}

long checkpoints_seen = 0;  // by the runs of the last power_cuts(): the cuts can land in them

// Runs `rounds` power cuts; returns the first problem found ("" if none).
std::string power_cuts(const std::string& path, int threads, durable::durability mode, long rounds,
                       std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  // What each thread's last recovered transfer may be: at least the last one
  // acknowledged (full durability), at most one more than it ran.
  std::vector<std::uint64_t> lowest(threads, 0), highest(threads, 0);
  for (long round = 0; round <= rounds; ++round) {
    // Recover (real I/O) and check what the previous cut left.
    try {
      durable::store store(path, cut_options(mode));
      ledger& l = store.root<ledger>("ledger");
      std::string problem = optimist::test::check_ledger(store, l, lowest, highest);
      if (!problem.empty()) return "round " + std::to_string(round) + ": " + problem;
      for (int t = 0; t < threads; ++t) lowest[t] = highest[t] = l.last[t].get();
    } catch (const std::exception& e) {
      return "round " + std::to_string(round) + ": recovery failed: " + e.what();
    }
    if (round == rounds) break;
    power_cut_io io({path, path + "-log"}, 2 + static_cast<int>(rng() % 40), rng());
    durable::detail::set_file_io_for_testing(&io);
    std::vector<std::atomic<std::uint64_t>> done(threads);
    // Any other exception is a finding (a heap the last cut left inconsistent
    // in a way check_ledger does not see: destroy() of a block tagged free),
    // not an end of the round; escaping a worker it would end the suite.
    std::vector<std::string> failed(threads);
    try {
      durable::store store(path, cut_options(mode));
      ledger& l = store.root<ledger>("ledger");
      std::vector<std::thread> workers;
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
          try {
            // At most 400 transfers a round: the check replays them all.
            for (std::uint64_t s = lowest[t] + 1; !io.was_cut() && s <= lowest[t] + 400; ++s) {
              optimist::test::perform_transfer(store, l, t, s);
              done[t].store(s);  // acknowledged
            }
          } catch (const durable::store_error&) {
            // the power is out
          } catch (const std::exception& e) {
            failed[t] = e.what();
          }
        });
      }
      for (auto& w : workers) w.join();
      checkpoints_seen += store.stats().checkpoints;
    } catch (const durable::store_error&) {
      // the cut came while opening
    }
    durable::detail::set_file_io_for_testing(nullptr);
    for (int t = 0; t < threads; ++t) {
      if (!failed[t].empty()) {
        return "round " + std::to_string(round) + ": thread " + std::to_string(t) +
               "'s transfer failed: " + failed[t];
      }
    }
    for (int t = 0; t < threads; ++t) {
      highest[t] = std::max<std::uint64_t>(lowest[t], done[t]) + 1;
      if (mode == durable::durability::full)
        lowest[t] = std::max<std::uint64_t>(lowest[t], done[t]);
    }
    for (const auto& [file, image] : io.images()) write_file(file, image);
  }
  return "";
}

std::string fresh_store() {
  char pattern[] = "/tmp/optimist-powercut-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return "";
  return std::string(pattern) + "/ledger.store";
}

struct cut_case {
  int threads;
  durable::durability mode;
};

class PowerLoss : public ::testing::TestWithParam<cut_case> {
 protected:
  void SetUp() override { path_ = fresh_store(); }
  void TearDown() override {
    std::filesystem::remove_all(std::filesystem::path(path_).parent_path());
  }
  // Negative controls stop at the first problem, so they can afford more
  // rounds: a torn record needs the cut to split it across sectors, and how
  // often that happens depends on the threads' timing (a TSan run once went
  // 60 rounds without one).
  std::string run(std::uint64_t seed, long rounds = 15) {
    return power_cuts(path_, GetParam().threads, GetParam().mode, optimist::test::scaled(rounds),
                      seed + static_cast<std::uint64_t>(GetParam().threads));
  }
  std::string path_;
};

TEST_P(PowerLoss, RecoveredStateIsAnAcknowledgedPrefix) {
  checkpoints_seen = 0;
  EXPECT_EQ(run(0xc0ffee), "");
  EXPECT_GT(checkpoints_seen, 0);
}

TEST_P(PowerLoss, NegativeControlWriteBackBeforeSyncIsCaught) {
  if (GetParam().mode != durable::durability::full) GTEST_SKIP() << "full durability only";
  durable::detail::g_faults.write_back_before_sync = true;
  std::string problem = run(0xfeed, 250);
  durable::detail::g_faults.write_back_before_sync = false;
  EXPECT_NE(problem, "") << "writing back before the sync went unnoticed";
  EXPECT_EQ(problem.find("does not fit"), std::string::npos) << problem;
  std::printf("negative control caught: %s\n", problem.c_str());
}

TEST_P(PowerLoss, NegativeControlSkippingTheChecksumIsCaught) {
  if (GetParam().mode != durable::durability::full) GTEST_SKIP() << "full durability only";
  durable::detail::g_faults.skip_checksum = true;
  std::string problem = run(0xdead, 250);
  durable::detail::g_faults.skip_checksum = false;
  EXPECT_NE(problem, "") << "recovery without checksums went unnoticed";
  EXPECT_EQ(problem.find("does not fit"), std::string::npos) << problem;
  std::printf("negative control caught: %s\n", problem.c_str());
}

// durability::relaxed: a commit may be lost, but not once the window has
// passed (the flusher has synced it).
TEST(PowerLossRelaxed, CommitsOlderThanTheWindowSurvive) {
  const std::string path = fresh_store();
  { durable::store store(path, cut_options(durable::durability::relaxed)); }
  for (int round = 0; round < 3; ++round) {
    power_cut_io io({path, path + "-log"}, 1 << 30, 7 + round);
    durable::detail::set_file_io_for_testing(&io);
    std::uint64_t committed = 0;
    {
      durable::options o = cut_options(durable::durability::relaxed);
      o.relaxed_window = std::chrono::milliseconds(5);
      durable::store store(path, o);
      ledger& l = store.root<ledger>("ledger");
      committed = l.last[0].get() + 1;
      optimist::test::perform_transfer(store, l, 0, committed);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // 40 windows
      io.cut_now();
    }
    durable::detail::set_file_io_for_testing(nullptr);
    for (const auto& [file, image] : io.images()) write_file(file, image);
    durable::store store(path, cut_options(durable::durability::relaxed));
    ledger& l = store.root<ledger>("ledger");
    EXPECT_EQ(optimist::test::check_ledger(store, l, {committed}, {committed}), "");
  }
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

// A kill -9 between a commit's log write and its sync, then a power cut during
// the next open's recovery. The killed process's record is in the page cache
// only: recovery reads and replays it, so it must make the log durable before
// the heap (INVARIANT log-before-writeback, recovery.cpp). It synced the heap
// first: a cut before the log's sync left a durable heap holding the record's
// writes and a log without it, and the next recovery replayed the earlier
// records over them (balances that no prefix of the transfers explains).
TEST(PowerLossAfterKill, RecoveryMakesWhatItReplaysDurableBeforeTheHeap) {
  const std::string path = fresh_store();
  const std::vector<std::string> files = {path, path + "-log"};
  constexpr std::uint64_t acked = 5;
  {
    durable::store store(path, cut_options(durable::durability::full));
    ledger& l = store.root<ledger>("ledger");
    for (std::uint64_t s = 1; s <= acked; ++s) optimist::test::perform_transfer(store, l, 0, s);
  }
  std::map<std::string, std::vector<unsigned char>> disk, killed;
  {
    durable::store store(path, cut_options(durable::durability::full));
    ledger& l = store.root<ledger>("ledger");
    for (const auto& f : files) disk[f] = optimist::test::read_file(f);  // all synced
    // The next transfer's sync fails (the process is 'killed' there): its
    // record stays in the files, never synced.
    power_cut_io killer(files, 1, 1);
    durable::detail::set_file_io_for_testing(&killer);
    EXPECT_THROW(optimist::test::perform_transfer(store, l, 0, acked + 1), durable::store_error);
  }
  durable::detail::set_file_io_for_testing(nullptr);
  for (const auto& f : files) killed[f] = optimist::test::read_file(f);
  ASSERT_NE(killed[files[1]], disk[files[1]]) << "the unsynced record was not written";
  int cuts = 0;
  for (int k = 1; k <= 4; ++k) {
    for (std::uint64_t seed = 0; seed < 8; ++seed) {
      for (const auto& [f, bytes] : killed)
        write_file(f, bytes);  // as the killed process left them
      power_cut_io io(files, k, seed, disk);
      durable::detail::set_file_io_for_testing(&io);
      try {
        durable::store store(path, cut_options(durable::durability::full));
      } catch (const durable::store_error&) {
        // the cut came during the recovery
      }
      durable::detail::set_file_io_for_testing(nullptr);
      if (!io.was_cut()) continue;
      ++cuts;
      for (const auto& [file, image] : io.images()) write_file(file, image);
      durable::store store(path, cut_options(durable::durability::full));
      ledger& l = store.root<ledger>("ledger");
      EXPECT_EQ(optimist::test::check_ledger(store, l, {acked}, {acked + 1}), "")
          << "power cut at the recovery's sync " << k << ", seed " << seed;
    }
  }
  EXPECT_GT(cuts, 0) << "no cut landed in a recovery";
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

INSTANTIATE_TEST_SUITE_P(Cases, PowerLoss,
                         ::testing::Values(cut_case{1, durable::durability::full},
                                           cut_case{2, durable::durability::full},
                                           cut_case{1, durable::durability::relaxed},
                                           cut_case{2, durable::durability::relaxed}),
                         [](const ::testing::TestParamInfo<cut_case>& info) {
                           return std::to_string(info.param.threads) + "_threads_" +
                                  (info.param.mode == durable::durability::full ? "full"
                                                                                : "relaxed");
                         });

}  // namespace

}  // namespace power_loss_test
