// The Chrome trace-event file behind report::write_trace, as a pure function
// of the recorded events (so it can be tested without recording anything).
//
//   std::vector<detail::trace_event> events = detail::collect_trace();
//   detail::write_trace_events(out, events);
//
// Output, for chrome://tracing, Perfetto (ui.perfetto.dev) or speedscope:
//
//   {"traceEvents":[
//   {"name":"process_name","ph":"M","pid":1,"tid":0,"args":{"name":"optimist"}},
//   {"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"worker 0"}},
//   {"name":"commit","cat":"transaction","ph":"X","pid":1,"tid":1,"ts":12.345,"dur":0.870,
//    "args":{"site":"a.cpp:3","function":"f","commit_ts":42}},
//   {"name":"abort (write-read)","cat":"transaction","ph":"X",...,
//    "args":{"site":"a.cpp:9","function":"g","caused_by_commit_ts":42}},
//   {"name":"caused abort","cat":"conflict","ph":"s","id":1,"pid":1,"tid":1,"ts":13.214},
//   {"name":"caused abort","cat":"conflict","ph":"f","bp":"e","id":1,"pid":1,"tid":2,"ts":13.500}
//   ],"displayTimeUnit":"ns"}
//
// - Worker N (report::thread_times numbering) is tid N + 1, named "worker N"
//   and sorted by N.
// - Every event is a complete slice ("X"); ts and dur are microseconds with
//   three decimals, exact (nanoseconds are not rounded).
// - Slice names: "commit", "abort (<kind>)", "inevitable", "wait".
// - Flow arrows: for each abort with a non-zero commit_ts for which a commit
//   event with that commit_ts exists (the first such, if several), one pair
//   "s" (in the commit slice) / "f" with "bp":"e" (in the abort slice) with a
//   fresh id, so a commit that caused several aborts starts several arrows.
//   Both points lie strictly inside their slice (1 ns before its end, or at
//   its start when it lasts 0 ns), the start no later than the finish when
//   the slices allow it: viewers bind a flow point to the slice open at its
//   time and drop a flow that finishes before it starts.
#pragma once

#include <iosfwd>
#include <vector>

#include "profile/trace_event.hpp"

namespace optimist::detail {

void write_trace_events(std::ostream& out, const std::vector<trace_event>& events);

}  // namespace optimist::detail
