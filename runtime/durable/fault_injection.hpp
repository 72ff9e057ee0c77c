// Test seam: deliberate protocol faults, so that the crash tests can show
// they fail when the protocol is wrong (negative controls). All off by
// default; nothing in the library sets them.
#pragma once

#include <atomic>
#include <cstdint>

namespace optimist::durable::detail {

struct durable_faults {
  // Write a commit's words into the heap before its record is synced
  // (breaks INVARIANT log-before-writeback).
  std::atomic<bool> write_back_before_sync{false};
  // Recovery accepts records without checking their checksum.
  std::atomic<bool> skip_checksum{false};
  // Recovery ignores the epoch and sequence of records: stale records left by
  // earlier log epochs are replayed too.
  std::atomic<bool> trust_stale_records{false};
  // options::multi_process (shared_store.cpp): a committer stops for good at
  // one point of its commit, so that a test can kill its process there.
  enum stall_point : int { no_stall, stall_holding_locks, stall_before_writeback, stall_as_leader };
  std::atomic<int> shared_stall{no_stall};
  // When >= 0, a committer that stops there first writes one byte to this fd
  // (so that the test kills it at the stall point, not before it).
  std::atomic<int> stall_notify_fd{-1};
  // Recovery of a dead process is skipped: its locks stay (the survivors stall).
  std::atomic<bool> skip_dead_owner_recovery{false};
  // Recovery releases a dead process's locks without rolling its logged
  // commit forward (the survivors go on without it; the log still has it).
  std::atomic<bool> skip_roll_forward{false};
  // The holder thread never wakes retry() waiters for other processes' commits.
  std::atomic<bool> skip_cross_process_wakeup{false};
  // Seams for the group-commit test (not faults). A sync leader first waits
  // (at most 10 s) until this many appended records are not yet durable.
  std::atomic<std::uint64_t> leader_gathers_records{0};
  // After its sync a leader keeps sync_mutex until every other process's
  // in-flight records are written back (at most 10 s), and then sets
  // followers_done_while_leading to 1 if they were, -1 if not.
  std::atomic<bool> leader_holds_until_followers_done{false};
  std::atomic<int> followers_done_while_leading{0};
};

inline durable_faults g_faults;

}  // namespace optimist::durable::detail
