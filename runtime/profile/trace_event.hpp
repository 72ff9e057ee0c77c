// What the engine records for the Chrome trace (runtime/profile/trace_writer.cpp
// turns it into trace-event JSON). Recorded only while tracing is on.
#pragma once

#include <cstdint>
#include <vector>

#include "optimist/report.hpp"

namespace optimist::detail {

struct trace_event {
  enum class type : std::uint8_t {
    commit,      // a committed attempt: [begin_ns, end_ns]
    abort,       // an aborted attempt
    inevitable,  // the part of a transaction that ran inevitable
    wait,        // waiting (inevitability token, ordered-mode turn)
  };
  type kind = type::commit;
  unsigned thread = 0;         // report::thread_times::thread numbering
  std::uint64_t begin_ns = 0;  // since the profile's epoch (enable or reset)
  std::uint64_t end_ns = 0;
  // commit: its commit timestamp (0 for read-only). abort: the timestamp of
  // the commit that caused it, 0 if unknown (then no flow arrow is drawn).
  std::uint64_t commit_ts = 0;
  report::conflict_kind conflict = report::conflict_kind::write_read;  // abort only
  report::site where;  // commit: the atomic block; abort: the aborted access
};

// Every recorded event of every thread, sorted by begin_ns.
std::vector<trace_event> collect_trace();

}  // namespace optimist::detail
