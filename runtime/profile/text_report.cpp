// report::write_text: the conflict report a person reads.
//
// Layout (every section but the hardware and auto mode ones always appears, with a one-line
// note when empty, so a reader never wonders whether a section was forgotten;
// the hardware section appears only when some block tried hardware, so that a
// software-only report is unchanged):
//
//   optimist conflict report
//     wall time:     2.000 s
//     thread time:   4.000 s over 2 threads
//     committed:     1.200 s (30.0%)
//     aborted:       0.500 s (12.5%)
//     waiting:       0.100 s (2.5%)
//     transactions:  10000 commits, 5000 per second
//     aborts:        2500 (abort ratio 20.0%)
//
//   (After "transactions", a task run that grouped tasks adds
//     grouped:       90000 tasks committed with the task before them (100000 blocks ...)
//   where the parenthesis ends "in 10000 commits)".)
//
//   Conflicts
//
//   0.412 s lost in 12412 aborts (write-read)
//     aborted read:  samples/train_schedule.cpp:88 in compute   auto s = dep.start.get();
//     by write:      samples/train_schedule.cpp:97 in compute   t.start.set(s);
//
//   ... 2 more conflict groups: 0.010 s lost in 40 aborts
//
//   Inevitable transactions
//
//   0.120 s others held back by 3 inevitable transactions (0.050 s inevitable)
//     inevitable at: samples/bank.cpp:40 in audit   optimist::become_inevitable();
//
//   Hardware transactions, by atomic block
//
//   1200 blocks, 1000 committed in hardware (83.3%), 1500 attempts, 200 skipped by the policy
//     atomic block:  samples/bank.cpp:31 in transfer   optimist::atomically([&] {
//     aborts:        300 conflict, 0 capacity, 200 explicit, 0 other
//     policy:        hardware off on 1 of 2 threads
//
//   ... 1 more atomic block: 10 blocks, 10 committed in hardware, 10 attempts
//
//   Auto mode (two or more threads)
//
//   0.812 s speculative (40000 blocks), 0.188 s serial (9000 blocks), 3 samples, 1 switch
//     at 0.012 s: speculative -> serial (conflict): serial 4100000 blocks/s, speculative
//     2000000 blocks/s, 1.30 aborts per commit, 2 threads; task run at a.cpp:9 in f
//                                                              (one line; the task run's
//                                                              line, if it was one)
//
//   Threads (seconds)
//     thread   committed     aborted     waiting     outside
//          0       0.600       0.300       0.050       0.100
//
// Definitions:
// - thread time = committed + aborted + waiting (the totals) + the threads'
//   outside time; the three percentages are of it. Without per-thread rows it
//   is the time in transactions. A percentage with a zero denominator is left
//   out, as are the abort ratio (aborts / (commits + aborts)) with no
//   transactions and the rate (commits / wall time) with no wall time. A
//   share that is not zero but rounds to 0.0% is shown as "<0.1%".
// - Conflict labels: write-read "aborted read:" / "by write:"; write-write
//   "aborted write:" / "by write:"; inevitable "aborted at:" / "inevitable
//   at:" (the aborted access may be a read or a write there).
// - A site line is "file:line in function   source text", the function
//   shortened by short_function_name (site_format.hpp), the source text the
//   trimmed line when the file can be read (at most 100 characters, longer
//   lines end in "..."), then "(only the atomic block is known)" for
//   block_only sites (not for hardware blocks, which are atomic blocks by
//   definition). Parts that are unknown are left out.
// - Hardware blocks: the share committed in hardware is of the blocks (skipped
//   ones included). The policy line is "hardware off on N of M threads" when
//   some thread's policy skips hardware there now, else "trying hardware on M
//   threads"; it is left out when the thread count is unknown (0).
// - Auto mode: only when auto mode's controller ran (report::auto_mode_summary);
//   one line per switch, oldest first, with the rates measured in each mode
//   that made it switch (optimist::mode_switch: committed blocks, all
//   threads, per second of CPU time of the threads running transactions).
// - Groups are sorted again here (stably, largest first; hardware blocks by
//   attempts) so that a profile built by hand or read from an old file still
//   prints in order.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <system_error>
#include <vector>

#include "optimist/report.hpp"
#include "profile/site_format.hpp"

namespace optimist {

namespace {

constexpr std::size_t max_quoted_chars = 100;

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Source files read once per report; a file that cannot be read is
// remembered as such.
class source_cache {
 public:
  std::optional<std::string> line(const std::string& file, unsigned line_number) {
    if (file.empty() || line_number == 0) return std::nullopt;
    auto [it, inserted] = files_.try_emplace(file);
    if (inserted) it->second = load(file);
    if (!it->second || line_number > it->second->size()) return std::nullopt;
    return (*it->second)[line_number - 1];
  }

 private:
  static bool readable_file(const std::string& path) {
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec);
  }

  // The path as given; else, for a path recorded on another machine or from
  // another directory, its trailing parts ("dir/file.cpp" at least) relative
  // to the current directory.
  static std::optional<std::string> find(const std::string& file) {
    if (readable_file(file)) return file;
    for (std::size_t slash = file.find('/'); slash != std::string::npos;
         slash = file.find('/', slash + 1)) {
      const std::string rest = file.substr(slash + 1);
      if (rest.find('/') == std::string::npos) break;
      if (readable_file(rest)) return rest;
    }
    return std::nullopt;
  }

  static std::optional<std::vector<std::string>> load(const std::string& file) {
    const std::optional<std::string> path = find(file);
    if (!path) return std::nullopt;
    std::ifstream in(*path, std::ios::binary);
    if (!in) return std::nullopt;
    std::vector<std::string> lines;
    std::string text;
    while (std::getline(in, text)) lines.push_back(std::move(text));
    return lines;
  }

  std::map<std::string, std::optional<std::vector<std::string>>> files_;
};

std::string trimmed(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\f\v");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\f\v");
  std::string out = s.substr(first, last - first + 1);
  if (out.size() > max_quoted_chars) {
    std::size_t cut = max_quoted_chars - 3;
    // Never in the middle of a UTF-8 character.
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;
    out = out.substr(0, cut) + "...";
  }
  return out;
}

void write_site(std::ostream& out, source_cache& sources, const char* label, const report::site& s,
                bool note_block_only = true) {
  char padded[32];
  std::snprintf(padded, sizeof padded, "  %-15s", label);
  std::string line = padded + detail::site_location(s);
  if (!s.function.empty()) line += " in " + detail::short_function_name(s.function);
  if (const auto source = sources.line(s.file, s.line)) {
    const std::string text = trimmed(*source);
    if (!text.empty()) line += "   " + text;
  }
  if (s.block_only && note_block_only) line += "   (only the atomic block is known)";
  out << line << '\n';
}

const char* aborted_label(report::conflict_kind kind) {
  switch (kind) {
    case report::conflict_kind::write_write:
      return "aborted write:";
    case report::conflict_kind::write_read:
      return "aborted read:";
    case report::conflict_kind::inevitable:
      return "aborted at:";
  }
  return "aborted:";
}

const char* other_label(report::conflict_kind kind) {
  return kind == report::conflict_kind::inevitable ? "inevitable at:" : "by write:";
}

// "20.0%"; a share too small to show in one decimal but not zero is "<0.1%",
// so that a few aborts among many commits do not read as none.
std::string percent(double fraction) {
  if (fraction > 0 && fraction < 0.0005) return "<0.1%";
  return fixed(100.0 * fraction, 1) + "%";
}

std::string percent_of(double part, double whole) {
  if (!(whole > 0)) return {};
  return " (" + percent(part / whole) + ")";
}

void write_header(std::ostream& out, const report::profile& p) {
  const report::totals& t = p.totals;
  double outside = 0;
  for (const report::thread_times& th : p.threads) outside += th.outside_s;
  const double thread_time = t.committed_s + t.aborted_s + t.waiting_s + outside;

  out << "optimist conflict report\n";
  out << "  wall time:     " << detail::format_seconds(t.wall_s) << '\n';
  out << "  thread time:   " << detail::format_seconds(thread_time);
  if (!p.threads.empty()) out << " over " << plural(p.threads.size(), "thread", "threads");
  out << '\n';
  out << "  committed:     " << detail::format_seconds(t.committed_s)
      << percent_of(t.committed_s, thread_time) << '\n';
  out << "  aborted:       " << detail::format_seconds(t.aborted_s)
      << percent_of(t.aborted_s, thread_time) << '\n';
  out << "  waiting:       " << detail::format_seconds(t.waiting_s)
      << percent_of(t.waiting_s, thread_time) << '\n';
  out << "  transactions:  " << plural(t.commits, "commit", "commits");
  if (t.wall_s > 0) {
    const double rate = static_cast<double>(t.commits) / t.wall_s;
    out << ", " << fixed(rate, rate >= 100 ? 0 : 1) << " per second";
  }
  out << '\n';
  // Task runs commit consecutive tiny tasks as one transaction: without this
  // line a run of 200000 tasks would read as some thousands of transactions
  // beside the auto mode section's 200000 blocks.
  if (t.grouped_tasks != 0) {
    out << "  grouped:       " << plural(t.grouped_tasks, "task", "tasks")
        << " committed with the task before them (" << (t.commits + t.grouped_tasks)
        << " blocks in " << plural(t.commits, "commit", "commits") << ")\n";
  }
  out << "  aborts:        " << t.aborts;
  if (t.commits + t.aborts > 0) {
    const double ratio = static_cast<double>(t.aborts) / static_cast<double>(t.commits + t.aborts);
    out << " (abort ratio " << percent(ratio) << ")";
  }
  out << '\n';
}

void write_conflicts(std::ostream& out, source_cache& sources, const report::profile& p,
                     std::size_t top) {
  out << "\nConflicts\n\n";
  if (p.conflicts.empty()) {
    out << "No conflicts recorded.\n";
    return;
  }
  std::vector<const report::conflict*> sorted;
  for (const report::conflict& c : p.conflicts) sorted.push_back(&c);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto* a, const auto* b) { return a->time_lost_s > b->time_lost_s; });

  const std::size_t shown = std::min(top, sorted.size());
  for (std::size_t i = 0; i < shown; ++i) {
    const report::conflict& c = *sorted[i];
    if (i > 0) out << '\n';
    out << detail::format_seconds(c.time_lost_s) << " lost in "
        << plural(c.count, "abort", "aborts") << " (" << report::to_string(c.kind) << ")\n";
    write_site(out, sources, aborted_label(c.kind), c.aborted_site);
    write_site(out, sources, other_label(c.kind), c.other_site);
  }
  if (shown < sorted.size()) {
    double lost = 0;
    std::uint64_t aborts = 0;
    for (std::size_t i = shown; i < sorted.size(); ++i) {
      lost += sorted[i]->time_lost_s;
      aborts += sorted[i]->count;
    }
    if (shown > 0) out << '\n';
    out << "... " << plural(sorted.size() - shown, "more conflict group", "more conflict groups")
        << ": " << detail::format_seconds(lost) << " lost in " << plural(aborts, "abort", "aborts")
        << '\n';
  }
}

void write_inevitables(std::ostream& out, source_cache& sources, const report::profile& p,
                       std::size_t top) {
  out << "\nInevitable transactions\n\n";
  if (p.inevitables.empty()) {
    out << "No inevitable transactions recorded.\n";
    return;
  }
  std::vector<const report::inevitable*> sorted;
  for (const report::inevitable& v : p.inevitables) sorted.push_back(&v);
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
    return a->blocked_others_s > b->blocked_others_s;
  });

  const std::size_t shown = std::min(top, sorted.size());
  for (std::size_t i = 0; i < shown; ++i) {
    const report::inevitable& v = *sorted[i];
    if (i > 0) out << '\n';
    out << detail::format_seconds(v.blocked_others_s) << " others held back by "
        << plural(v.count, "inevitable transaction", "inevitable transactions") << " ("
        << detail::format_seconds(v.inevitable_s) << " inevitable)\n";
    if (v.starved) {
      out << "  (not asked for: restarted too often, then ran alone; its last conflict was here)\n";
    }
    write_site(out, sources, v.starved ? "conflict at:" : "inevitable at:", v.where);
  }
  if (shown < sorted.size()) {
    double blocked = 0;
    std::uint64_t count = 0;
    for (std::size_t i = shown; i < sorted.size(); ++i) {
      blocked += sorted[i]->blocked_others_s;
      count += sorted[i]->count;
    }
    if (shown > 0) out << '\n';
    out << "... " << plural(sorted.size() - shown, "more site", "more sites") << ": "
        << detail::format_seconds(blocked) << " others held back by "
        << plural(count, "inevitable transaction", "inevitable transactions") << '\n';
  }
}

void write_hardware_headline(std::ostream& out, const report::hardware_block& b) {
  out << plural(b.blocks, "block", "blocks") << ", " << b.commits << " committed in hardware"
      << percent_of(static_cast<double>(b.commits), static_cast<double>(b.blocks)) << ", "
      << plural(b.attempts, "attempt", "attempts") << ", " << b.skipped
      << " skipped by the policy\n";
}

void write_hardware(std::ostream& out, source_cache& sources, const report::profile& p,
                    std::size_t top) {
  if (p.hardware.empty()) return;
  out << "\nHardware transactions, by atomic block\n\n";
  std::vector<const report::hardware_block*> sorted;
  for (const report::hardware_block& b : p.hardware) sorted.push_back(&b);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto* a, const auto* b) { return a->attempts > b->attempts; });

  const std::size_t shown = std::min(top, sorted.size());
  for (std::size_t i = 0; i < shown; ++i) {
    const report::hardware_block& b = *sorted[i];
    if (i > 0) out << '\n';
    write_hardware_headline(out, b);
    write_site(out, sources, "atomic block:", b.where, false);
    using cause = hardware_abort_cause;
    out << "  aborts:        " << b.aborts_for(cause::conflict) << " conflict, "
        << b.aborts_for(cause::capacity) << " capacity, " << b.aborts_for(cause::explicit_abort)
        << " explicit, " << b.aborts_for(cause::other) << " other\n";
    if (b.threads_in_software > 0) {
      out << "  policy:        hardware off on " << b.threads_in_software << " of "
          << plural(b.threads, "thread", "threads") << '\n';
    } else if (b.threads > 0) {
      out << "  policy:        trying hardware on " << plural(b.threads, "thread", "threads")
          << '\n';
    }
  }
  if (shown < sorted.size()) {
    std::uint64_t blocks = 0, commits = 0, attempts = 0;
    for (std::size_t i = shown; i < sorted.size(); ++i) {
      blocks += sorted[i]->blocks;
      commits += sorted[i]->commits;
      attempts += sorted[i]->attempts;
    }
    if (shown > 0) out << '\n';
    out << "... " << plural(sorted.size() - shown, "more atomic block", "more atomic blocks")
        << ": " << plural(blocks, "block", "blocks") << ", " << commits
        << " committed in hardware, " << plural(attempts, "attempt", "attempts") << '\n';
  }
}

void write_auto_mode(std::ostream& out, const report::profile& p) {
  const report::auto_mode_summary& a = p.auto_mode;
  if (a.empty()) return;
  out << "\nAuto mode (two or more threads)\n\n";
  out << detail::format_seconds(a.speculative_s) << " speculative ("
      << plural(a.speculative_blocks, "block", "blocks") << "), "
      << detail::format_seconds(a.serial_s) << " serial ("
      << plural(a.serial_blocks, "block", "blocks") << "), "
      << plural(a.samples, "sample", "samples") << ", "
      << plural(a.switches.size(), "switch", "switches") << '\n';
  for (const mode_switch& s : a.switches) {
    const char* from = s.to_serial ? "speculative" : "serial";
    const char* to = s.to_serial ? "serial" : "speculative";
    out << "  at " << detail::format_seconds(s.at_s) << ": " << from << " -> " << to << " ("
        << to_string(s.reason) << "): serial " << fixed(s.serial_per_s, 0)
        << " blocks/s, speculative " << fixed(s.speculative_per_s, 0) << " blocks/s, "
        << fixed(s.aborts_per_commit, 2) << " aborts per commit, "
        << plural(s.threads, "thread", "threads");
    if (!s.run_file.empty()) {
      out << "; task run at "
          << detail::site_location(report::site{s.run_file, s.run_line, s.run_function}) << " in "
          << detail::short_function_name(s.run_function);
    }
    out << '\n';
  }
}

void write_threads(std::ostream& out, const report::profile& p) {
  out << "\nThreads (seconds)\n\n";
  if (p.threads.empty()) {
    out << "No threads recorded.\n";
    return;
  }
  char row[160];
  std::snprintf(row, sizeof row, "  %6s  %10s  %10s  %10s  %10s\n", "thread", "committed",
                "aborted", "waiting", "outside");
  out << row;
  for (const report::thread_times& th : p.threads) {
    std::snprintf(row, sizeof row, "  %6u  %10.3f  %10.3f  %10.3f  %10.3f\n", th.thread,
                  th.committed_s, th.aborted_s, th.waiting_s, th.outside_s);
    out << row;
  }
}

}  // namespace

const char* report::to_string(conflict_kind kind) noexcept {
  switch (kind) {
    case conflict_kind::write_write:
      return "write-write";
    case conflict_kind::write_read:
      return "write-read";
    case conflict_kind::inevitable:
      return "inevitable";
  }
  return "unknown";
}

void report::write_text(std::ostream& out, const profile& p, std::size_t top) {
  source_cache sources;
  write_header(out, p);
  write_conflicts(out, sources, p, top);
  write_inevitables(out, sources, p, top);
  write_hardware(out, sources, p, top);
  write_auto_mode(out, p);
  write_threads(out, p);
}

}  // namespace optimist
