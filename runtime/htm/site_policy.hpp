// Per-site hardware policy: for each atomic block (its source location), how
// often hardware transactions succeed there, and whether to try them at all.
//
// Each thread learns on its own table (hardware_site_table, hung off its
// descriptor), so the policy costs no shared write per transaction and never
// makes a hardware transaction conflict with another thread's bookkeeping.
// Report readers sum the tables of all threads (hardware_site_totals).
//
// Learning: a site is judged every `window` hardware-tried blocks. If fewer
// than a quarter of them committed in hardware, the site skips hardware for
// the next `skip` blocks, and `skip` doubles at each failed judgement (from
// 64 up to 65536); a good judgement resets it. So a site where hardware never
// succeeds pays for about `window` failed attempts per `skip` blocks: the cost
// of trying falls below 1 % after a few hundred blocks, and a site whose
// contention goes away is tried again.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "optimist/source_location.hpp"
#include "optimist/stats.hpp"

namespace optimist::detail {

struct hardware_site {
  // Written once by the owner before `key` is published (release); immutable after.
  source_location site;
  std::atomic<std::uint64_t> key{0};  // 0: free slot

  // Counters: written by the owner (relaxed load + store), read by reports.
  std::atomic<std::uint64_t> blocks{0};  // blocks that reached the hardware path here
  std::atomic<std::uint64_t> attempts{0};
  std::atomic<std::uint64_t> commits{0};
  std::atomic<std::uint64_t> skipped{0};
  std::atomic<std::uint64_t> aborts_by_cause[hardware_abort_cause_count] = {};
  std::atomic<bool> in_software{false};  // the policy's current verdict (for reports)

  // Learning state: owner only.
  std::uint32_t window_blocks = 0;
  std::uint32_t window_commits = 0;
  std::uint32_t skip_left = 0;
  std::uint32_t skip_length = 0;

  // Whether this block should try hardware; counts a skip if not.
  bool should_try() noexcept;
  // The block's outcome after trying hardware.
  void learn(bool committed_in_hardware) noexcept;
};

// Bumped by forget_hardware_policy(); each table compares it with the value it
// last saw.
inline std::atomic<std::uint64_t> g_policy_generation{0};

class hardware_site_table {
 public:
  static constexpr std::size_t capacity = 512;
  static constexpr std::uint32_t window = 16;
  static constexpr std::uint32_t first_skip = 64;
  static constexpr std::uint32_t max_skip = 65536;

  // The entry for `site`; when the table is full, one shared overflow entry.
  // Forgets what the table learned if forget_hardware_policy() was called
  // since its last use.
  hardware_site& at(const source_location& site) noexcept {
    // Most blocks repeat the site of the one before (a loop): one compare
    // instead of a hash and a probe.
    if (last_ != nullptr && site.line() == last_line_ && site.file_name() == last_file_ &&
        site.column() == last_column_ &&
        generation_ == g_policy_generation.load(std::memory_order_relaxed)) {
      return *last_;
    }
    return at_slow(site);
  }

  template <class F>
  void for_each(F&& f) const {
    for (const hardware_site& s : slots_) {
      if (s.key.load(std::memory_order_acquire) != 0) f(s);
    }
    if (overflow_.key.load(std::memory_order_acquire) != 0) f(overflow_);
  }

 private:
  hardware_site& at_slow(const source_location& site) noexcept;
  hardware_site& find_or_insert(const source_location& site) noexcept;

  std::uint64_t generation_ = 0;
  hardware_site* last_ = nullptr;  // the entry at() returned last, for the site below
  const char* last_file_ = nullptr;
  std::uint_least32_t last_line_ = 0;
  std::uint_least32_t last_column_ = 0;
  hardware_site slots_[capacity];
  hardware_site overflow_;
};

// Counters of one site summed over every thread.
struct hardware_site_totals {
  source_location site;
  std::uint64_t blocks = 0;
  std::uint64_t attempts = 0;
  std::uint64_t commits = 0;
  std::uint64_t skipped = 0;
  std::uint64_t aborts_by_cause[hardware_abort_cause_count] = {};
  unsigned threads_in_software = 0;  // threads whose policy currently skips hardware here
  unsigned threads = 0;
};

// Makes every thread's policy forget what it learned (the counters stay): each
// site is tried in hardware again. For tests, and after the program's
// behaviour changes phase.
void forget_hardware_policy() noexcept;

// Every site any thread has tried in hardware, summed over threads.
std::vector<hardware_site_totals> hardware_site_summary();

}  // namespace optimist::detail
