// detail::write_trace_events: hand-made trace events become Chrome trace JSON
// that parses, names its rows, and pairs every flow start with a finish.
#include "profile/trace_writer.hpp"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "profile/json_text.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace trace_writer_test {

namespace {

using optimist::detail::json_value;
using optimist::detail::trace_event;
using optimist::report::conflict_kind;

trace_event event(trace_event::type kind, unsigned thread, std::uint64_t begin, std::uint64_t end,
                  std::uint64_t commit_ts = 0, conflict_kind conflict = conflict_kind::write_read) {
  trace_event e;
  e.kind = kind;
  e.thread = thread;
  e.begin_ns = begin;
  e.end_ns = end;
  e.commit_ts = commit_ts;
  e.conflict = conflict;
  e.where = {"q.cpp", 10 + thread, "void worker(int)", false};
  return e;
}

// A parsed trace: the events, and convenient views of them.
struct parsed_trace {
  json_value root;
  std::vector<const json_value*> events;

  const json_value* member(const json_value& object, const std::string& name) const {
    for (const auto& m : object.members) {
      if (m.name == name) return &m.value;
    }
    return nullptr;
  }
  std::string text(const json_value& object, const std::string& name) const {
    const json_value* v = member(object, name);
    return v == nullptr ? "<missing>" : v->text;
  }
  std::vector<const json_value*> with_phase(const std::string& ph) const {
    std::vector<const json_value*> out;
    for (const json_value* e : events) {
      if (text(*e, "ph") == ph) out.push_back(e);
    }
    return out;
  }
};

parsed_trace convert(const std::vector<trace_event>& events) {
  std::ostringstream out;
  optimist::detail::write_trace_events(out, events);
  parsed_trace t;
  t.root = optimist::detail::parse_json(out.str());  // throws on malformed JSON
  const json_value* list = t.member(t.root, "traceEvents");
  EXPECT_NE(list, nullptr);
  if (list != nullptr) {
    for (const json_value& e : list->items) t.events.push_back(&e);
  }
  return t;
}

double micros(const json_value& number) {
  return std::stod(number.text);
}

TEST(TraceWriter, EmptyTraceIsValidAndNamesTheProcess) {
  const parsed_trace t = convert({});
  ASSERT_EQ(t.events.size(), 1u);
  EXPECT_EQ(t.text(*t.events[0], "name"), "process_name");
  EXPECT_EQ(t.text(*t.member(*t.events[0], "args"), "name"), "optimist");
  EXPECT_EQ(t.text(t.root, "displayTimeUnit"), "ns");
}

TEST(TraceWriter, SlicesRowsAndFlowArrows) {
  const std::vector<trace_event> events = {
      event(trace_event::type::commit, 0, 1000, 2000, 42),  // causes two aborts
      event(trace_event::type::abort, 1, 1500, 2600, 42),   // arrow from commit 42
      event(trace_event::type::inevitable, 0, 2100, 2900),
      event(trace_event::type::abort, 2, 1700, 1999, 42, conflict_kind::write_write),  // arrow
      event(trace_event::type::abort, 1, 2700, 2800, 99),  // no commit 99: no arrow
      event(trace_event::type::abort, 2, 2700, 2800, 0),   // cause unknown: no arrow
      event(trace_event::type::commit, 1, 3000, 3500, 0),  // read-only commit
      event(trace_event::type::wait, 2, 4000, 4000),       // a 0 ns wait
  };
  const parsed_trace t = convert(events);

  // 1 process name + 3 threads x (name, sort index) + 8 slices + 2 arrows x 2 points.
  EXPECT_EQ(t.events.size(), 1u + 6u + 8u + 4u);

  std::map<std::string, std::string> thread_names;  // tid -> name
  for (const json_value* e : t.with_phase("M")) {
    if (t.text(*e, "name") == "thread_name")
      thread_names[t.text(*e, "tid")] = t.text(*t.member(*e, "args"), "name");
  }
  EXPECT_EQ(thread_names, (std::map<std::string, std::string>{
                              {"1", "worker 0"}, {"2", "worker 1"}, {"3", "worker 2"}}));

  const auto slices = t.with_phase("X");
  ASSERT_EQ(slices.size(), 8u);
  EXPECT_EQ(t.text(*slices[0], "name"), "commit");
  EXPECT_EQ(t.text(*slices[0], "ts"), "1.000");
  EXPECT_EQ(t.text(*slices[0], "dur"), "1.000");
  EXPECT_EQ(t.text(*t.member(*slices[0], "args"), "site"), "q.cpp:10");
  EXPECT_EQ(t.text(*t.member(*slices[0], "args"), "function"), "worker");
  EXPECT_EQ(t.text(*t.member(*slices[0], "args"), "commit_ts"), "42");
  EXPECT_EQ(t.text(*slices[1], "name"), "abort (write-read)");
  EXPECT_EQ(t.text(*t.member(*slices[1], "args"), "caused_by_commit_ts"), "42");
  EXPECT_EQ(t.text(*slices[2], "name"), "inevitable");
  EXPECT_EQ(t.text(*slices[3], "name"), "abort (write-write)");
  EXPECT_EQ(t.text(*slices[3], "dur"), "0.299");
  EXPECT_EQ(t.text(*slices[7], "name"), "wait");
  EXPECT_EQ(t.text(*slices[7], "dur"), "0.000");

  // Every "s" has exactly one "f" with the same id, on the aborted thread,
  // bound to its enclosing slice; each point lies inside its slice.
  const auto starts = t.with_phase("s");
  const auto finishes = t.with_phase("f");
  ASSERT_EQ(starts.size(), 2u);
  ASSERT_EQ(finishes.size(), 2u);
  std::map<std::string, const json_value*> finish_by_id;
  for (const json_value* f : finishes) {
    EXPECT_EQ(t.text(*f, "bp"), "e");
    EXPECT_TRUE(finish_by_id.emplace(t.text(*f, "id"), f).second) << "duplicate flow id";
  }
  const std::vector<std::string> aborted_tids = {"2", "3"};
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const json_value& s = *starts[i];
    ASSERT_TRUE(finish_by_id.count(t.text(s, "id"))) << "no finish for flow " << t.text(s, "id");
    const json_value& f = *finish_by_id[t.text(s, "id")];
    EXPECT_EQ(t.text(s, "name"), t.text(f, "name"));
    EXPECT_EQ(t.text(s, "cat"), t.text(f, "cat"));
    EXPECT_EQ(t.text(s, "tid"), "1");  // the committing worker 0
    EXPECT_EQ(t.text(f, "tid"), aborted_tids[i]);
    const double s_ts = micros(*t.member(s, "ts"));
    const double f_ts = micros(*t.member(f, "ts"));
    EXPECT_GE(s_ts, 1.0);
    EXPECT_LT(s_ts, 2.0);
    EXPECT_LE(s_ts, f_ts);
  }
  EXPECT_EQ(t.text(*finishes[0], "ts"), "2.599");  // 1 ns before the abort's end
  EXPECT_EQ(t.text(*starts[0], "ts"), "1.999");    // 1 ns before the commit's end
  EXPECT_EQ(t.text(*finishes[1], "ts"), "1.998");
  EXPECT_EQ(t.text(*starts[1], "ts"), "1.998");  // not after the finish
}

TEST(TraceWriter, EscapesSiteStrings) {
  trace_event e = event(trace_event::type::commit, 0, 0, 5);
  e.where = {"we\"ird\\path.cpp", 3, "", true};
  const parsed_trace t = convert({e});
  const auto slices = t.with_phase("X");
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(t.text(*t.member(*slices[0], "args"), "site"), "we\"ird\\path.cpp:3");
  EXPECT_EQ(t.member(*t.member(*slices[0], "args"), "block_only")->boolean, true);
  EXPECT_EQ(t.member(*t.member(*slices[0], "args"), "function"), nullptr);
}

TEST(TraceWriter, LargeTimestampsKeepEveryNanosecond) {
  const parsed_trace t =
      convert({event(trace_event::type::commit, 0, 123456789012345, 123456789012346, 1)});
  const auto slices = t.with_phase("X");
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(t.text(*slices[0], "ts"), "123456789012.345");
  EXPECT_EQ(t.text(*slices[0], "dur"), "0.001");
}

}  // namespace

}  // namespace trace_writer_test
