// report::merge: several profiles (one per process, per run, per file) as one.
//
// - Conflicts are regrouped by (kind, aborted_site, other_site): counts and
//   time lost add up. Inevitable groups are regrouped by site: counts and
//   both times add up.
// - Totals add up, except wall_s, which is the largest (the runs are taken to
//   have overlapped; the report's rate is then commits per longest run).
// - Threads are concatenated in input order (profile by profile, each in its
//   own order) and renumbered 0, 1, 2, ... so every row stays distinct.
// - Hardware blocks are regrouped by site: every counter adds up, thread
//   counts too (each profile's threads are its own).
// - Auto mode summaries add up; their switches are merged by at_s (each
//   counted from its own profile's start).
// - Order: conflicts by time_lost_s, inevitable groups by blocked_others_s,
//   hardware blocks by attempts, largest first; ties keep the order in which
//   the groups first appeared.
#include <algorithm>
#include <map>
#include <tuple>

#include "optimist/report.hpp"

namespace optimist {

namespace {

using site_identity = std::tuple<std::string, unsigned, std::string, bool>;

site_identity key_of(const report::site& s) {
  return {s.file, s.line, s.function, s.block_only};
}

}  // namespace

report::profile report::merge(const std::vector<profile>& profiles) {
  profile out;
  std::map<std::tuple<int, site_identity, site_identity>, std::size_t> conflict_index;
  std::map<std::pair<site_identity, bool>, std::size_t> inevitable_index;
  std::map<site_identity, std::size_t> hardware_index;
  unsigned next_thread = 0;

  for (const profile& p : profiles) {
    out.totals.commits += p.totals.commits;
    out.totals.aborts += p.totals.aborts;
    out.totals.grouped_tasks += p.totals.grouped_tasks;
    out.totals.wall_s = std::max(out.totals.wall_s, p.totals.wall_s);
    out.totals.committed_s += p.totals.committed_s;
    out.totals.aborted_s += p.totals.aborted_s;
    out.totals.waiting_s += p.totals.waiting_s;

    for (const conflict& c : p.conflicts) {
      auto key =
          std::make_tuple(static_cast<int>(c.kind), key_of(c.aborted_site), key_of(c.other_site));
      const auto [it, inserted] = conflict_index.try_emplace(std::move(key), out.conflicts.size());
      if (inserted) {
        out.conflicts.push_back(c);
      } else {
        out.conflicts[it->second].count += c.count;
        out.conflicts[it->second].time_lost_s += c.time_lost_s;
      }
    }

    for (const inevitable& v : p.inevitables) {
      const auto [it, inserted] = inevitable_index.try_emplace(
          std::make_pair(key_of(v.where), v.starved), out.inevitables.size());
      if (inserted) {
        out.inevitables.push_back(v);
      } else {
        inevitable& group = out.inevitables[it->second];
        group.count += v.count;
        group.inevitable_s += v.inevitable_s;
        group.blocked_others_s += v.blocked_others_s;
      }
    }

    for (const hardware_block& b : p.hardware) {
      const auto [it, inserted] = hardware_index.try_emplace(key_of(b.where), out.hardware.size());
      if (inserted) {
        out.hardware.push_back(b);
        continue;
      }
      hardware_block& group = out.hardware[it->second];
      group.blocks += b.blocks;
      group.attempts += b.attempts;
      group.commits += b.commits;
      group.skipped += b.skipped;
      for (std::size_t i = 0; i < group.aborts_by_cause.size(); ++i)
        group.aborts_by_cause[i] += b.aborts_by_cause[i];
      group.threads += b.threads;
      group.threads_in_software += b.threads_in_software;
    }

    auto_mode_summary& a = out.auto_mode;
    a.speculative_s += p.auto_mode.speculative_s;
    a.serial_s += p.auto_mode.serial_s;
    a.speculative_blocks += p.auto_mode.speculative_blocks;
    a.serial_blocks += p.auto_mode.serial_blocks;
    a.samples += p.auto_mode.samples;
    a.switches.insert(a.switches.end(), p.auto_mode.switches.begin(), p.auto_mode.switches.end());

    for (thread_times t : p.threads) {
      t.thread = next_thread++;
      out.threads.push_back(t);
    }
  }

  std::stable_sort(
      out.conflicts.begin(), out.conflicts.end(),
      [](const conflict& a, const conflict& b) { return a.time_lost_s > b.time_lost_s; });
  std::stable_sort(out.inevitables.begin(), out.inevitables.end(),
                   [](const inevitable& a, const inevitable& b) {
                     return a.blocked_others_s > b.blocked_others_s;
                   });
  std::stable_sort(out.auto_mode.switches.begin(), out.auto_mode.switches.end(),
                   [](const mode_switch& a, const mode_switch& b) { return a.at_s < b.at_s; });
  std::stable_sort(
      out.hardware.begin(), out.hardware.end(),
      [](const hardware_block& a, const hardware_block& b) { return a.attempts > b.attempts; });
  return out;
}

}  // namespace optimist
