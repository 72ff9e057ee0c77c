// tests/support/describe_stats.hpp — one line that says how contended a run was.
//
//   std::printf("%s\n", optimist::test::describe(optimist::stats()).c_str());
//
// Stress tests print it so that a log shows whether the run actually
// conflicted (a stress test whose threads never met proves little).
#pragma once

#include <string>

#include "optimist/stats.hpp"

namespace optimist::test {

inline std::string describe(const optimist::statistics& s) {
  std::string line = "stats: " + std::to_string(s.commits) + " commits (" +
                     std::to_string(s.read_only_commits) + " read-only), " +
                     std::to_string(s.aborts) + " aborts";
  for (std::size_t i = 0; i < optimist::abort_cause_count; ++i) {
    if (s.aborts_by_cause[i] == 0) continue;
    line += " ";
    line += optimist::to_string(static_cast<optimist::abort_cause>(i));
    line += "=" + std::to_string(s.aborts_by_cause[i]);
  }
  line += ", " + std::to_string(s.irrevocable) + " irrevocable (" + std::to_string(s.starved) +
          " starved)";
  if (s.retries != 0) line += ", " + std::to_string(s.retries) + " retries";
  return line;
}

}  // namespace optimist::test
