// The hardware section of a profile (report::profile::hardware): the per-site
// counters of the hardware path (htm/site_policy.hpp) as report entries,
// counted from a baseline.
//
// Those counters belong to the hardware policy: always on, cumulative, kept in
// one table per thread descriptor and never cleared (a later thread inherits
// the descriptor and its table). So the report does not clear them;
// report::reset() and enable() keep a sample of every table entry as a
// baseline, and a snapshot subtracts it entry by entry (hardware_blocks_since).
// Subtracting per thread, not per site summed over threads
// (hardware_site_summary), is what lets `threads` and `threads_in_software`
// count only the threads that ran the block since the baseline.
//
// Entries are grouped by file, line and function, like the conflict groups
// (INVARIANT one-group-per-site in recorder.cpp): two atomic blocks on one
// line are one entry.
#pragma once

#include <cstdint>
#include <vector>

#include "optimist/report.hpp"
#include "optimist/source_location.hpp"
#include "optimist/stats.hpp"

namespace optimist::detail {

struct hardware_site;

// One thread's counters for one atomic block, as read at one moment.
struct hardware_site_sample {
  const hardware_site* entry = nullptr;  // identifies the thread's table entry
  source_location site;
  std::uint64_t blocks = 0;
  std::uint64_t attempts = 0;
  std::uint64_t commits = 0;
  std::uint64_t skipped = 0;
  std::uint64_t aborts_by_cause[hardware_abort_cause_count] = {};
  bool in_software = false;
};

// sample_hardware_sites()
//   Every entry of every thread's hardware table, counters since it started.
std::vector<hardware_site_sample> sample_hardware_sites();

// hardware_blocks_since(now, baseline)
//   `now` less `baseline`, entry by entry (counters never below 0), grouped by
//   site. An entry with nothing counted since the baseline is left out, so
//   `threads` counts the threads that ran the block since, and
//   `threads_in_software` those of them whose policy skips hardware there now.
//   Sorted by attempts, largest first (ties: by file, line, function).
std::vector<report::hardware_block> hardware_blocks_since(
    const std::vector<hardware_site_sample>& now,
    const std::vector<hardware_site_sample>& baseline);

}  // namespace optimist::detail
