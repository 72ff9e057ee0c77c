// Per-thread event counters behind optimist::stats().
//
// Only the owning thread writes them, with a relaxed load and store (no
// read-modify-write: nothing else writes the line); other threads read them
// with relaxed loads when summing.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "optimist/stats.hpp"

namespace optimist::detail {

struct thread_counters {
  std::atomic<std::uint64_t> commits{0};  // not serial ones: they bump only serial_commits
  std::atomic<std::uint64_t> read_only_commits{0};
  std::atomic<std::uint64_t> serial_commits{0};
  std::atomic<std::uint64_t> serial_give_ways{0};
  std::atomic<std::uint64_t> aborts{0};
  std::atomic<std::uint64_t> restarts{0};
  std::atomic<std::uint64_t> irrevocable{0};
  std::atomic<std::uint64_t> starved{0};
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> aborts_by_cause[abort_cause_count] = {};
  std::atomic<std::uint64_t> hardware_attempts{0};
  std::atomic<std::uint64_t> hardware_commits{0};
  std::atomic<std::uint64_t> hardware_fallbacks{0};
  std::atomic<std::uint64_t> hardware_skipped{0};
  std::atomic<std::uint64_t> hardware_aborts_by_cause[hardware_abort_cause_count] = {};
  // Tasks that committed element groups of the task runtime ran beyond the
  // group's one commit: auto mode's controller counts work in tasks, not
  // blocks (mode_controller.hpp), since groups grow larger when they do not
  // conflict. Not part of stats().
  std::atomic<std::uint64_t> grouped_tasks{0};

  static void bump(std::atomic<std::uint64_t>& counter) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void count_abort(abort_cause cause) noexcept {
    bump(aborts);
    bump(aborts_by_cause[static_cast<std::size_t>(cause)]);
  }
  void add_to(statistics& s) const noexcept;
};

}  // namespace optimist::detail
