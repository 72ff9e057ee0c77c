// report::write_trace and its pure part, detail::write_trace_events: recorded
// trace events as Chrome trace-event JSON. The format is described in
// trace_writer.hpp.
#include "profile/trace_writer.hpp"

#include <algorithm>
#include <ostream>
#include <set>
#include <string>
#include <unordered_map>

#include "optimist/report.hpp"
#include "profile/json_text.hpp"
#include "profile/site_format.hpp"

namespace optimist {

namespace {

constexpr int process_id = 1;

// Nanoseconds as microseconds with three decimals: 12345 -> "12.345".
std::string microseconds(std::uint64_t ns) {
  std::string fraction = std::to_string(ns % 1000);
  fraction.insert(0, 3 - fraction.size(), '0');
  return std::to_string(ns / 1000) + "." + fraction;
}

unsigned tid_of(unsigned thread) {
  return thread + 1;
}

std::string slice_name(const detail::trace_event& e) {
  switch (e.kind) {
    case detail::trace_event::type::commit:
      return "commit";
    case detail::trace_event::type::abort:
      return std::string("abort (") + report::to_string(e.conflict) + ")";
    case detail::trace_event::type::inevitable:
      return "inevitable";
    case detail::trace_event::type::wait:
      return "wait";
  }
  return "event";
}

// A point strictly inside the slice (see trace_writer.hpp).
std::uint64_t inside_end(const detail::trace_event& e) {
  return e.end_ns > e.begin_ns ? e.end_ns - 1 : e.begin_ns;
}

void append_slice(std::string& out, const detail::trace_event& e) {
  const std::uint64_t end = std::max(e.end_ns, e.begin_ns);
  out += "{\"name\":";
  detail::append_json_string(out, slice_name(e));
  out += ",\"cat\":\"transaction\",\"ph\":\"X\",\"pid\":" + std::to_string(process_id) +
         ",\"tid\":" + std::to_string(tid_of(e.thread)) + ",\"ts\":" + microseconds(e.begin_ns) +
         ",\"dur\":" + microseconds(end - e.begin_ns) + ",\"args\":{";
  bool first = true;
  auto separator = [&] {
    if (!first) out += ',';
    first = false;
  };
  if (!e.where.file.empty()) {
    separator();
    out += "\"site\":";
    detail::append_json_string(out, detail::site_location(e.where));
  }
  if (!e.where.function.empty()) {
    separator();
    out += "\"function\":";
    detail::append_json_string(out, detail::short_function_name(e.where.function));
  }
  if (e.where.block_only) {
    separator();
    out += "\"block_only\":true";
  }
  if (e.kind == detail::trace_event::type::commit) {
    separator();
    out += "\"commit_ts\":" + std::to_string(e.commit_ts);
  } else if (e.kind == detail::trace_event::type::abort && e.commit_ts != 0) {
    separator();
    out += "\"caused_by_commit_ts\":" + std::to_string(e.commit_ts);
  }
  out += "}}";
}

void append_flow_point(std::string& out, char phase, std::uint64_t id, unsigned thread,
                       std::uint64_t ts) {
  out += "{\"name\":\"caused abort\",\"cat\":\"conflict\",\"ph\":\"";
  out += phase;
  out += phase == 'f' ? "\",\"bp\":\"e\"" : "\"";
  out += ",\"id\":" + std::to_string(id) + ",\"pid\":" + std::to_string(process_id) +
         ",\"tid\":" + std::to_string(tid_of(thread)) + ",\"ts\":" + microseconds(ts) + "}";
}

}  // namespace

void detail::write_trace_events(std::ostream& out, const std::vector<trace_event>& events) {
  std::string line;
  bool first = true;
  auto emit = [&] {
    out << (first ? "\n" : ",\n") << line;
    first = false;
    line.clear();
  };

  out << "{\"traceEvents\":[";
  line = "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":" + std::to_string(process_id) +
         ",\"tid\":0,\"args\":{\"name\":\"optimist\"}}";
  emit();
  std::set<unsigned> threads;
  for (const trace_event& e : events) threads.insert(e.thread);
  for (const unsigned thread : threads) {
    const std::string ids =
        ",\"pid\":" + std::to_string(process_id) + ",\"tid\":" + std::to_string(tid_of(thread));
    line = "{\"name\":\"thread_name\",\"ph\":\"M\"" + ids + ",\"args\":{\"name\":\"worker " +
           std::to_string(thread) + "\"}}";
    emit();
    line = "{\"name\":\"thread_sort_index\",\"ph\":\"M\"" + ids +
           ",\"args\":{\"sort_index\":" + std::to_string(thread) + "}}";
    emit();
  }

  std::unordered_map<std::uint64_t, const trace_event*> commit_by_ts;
  for (const trace_event& e : events) {
    append_slice(line, e);
    emit();
    if (e.kind == trace_event::type::commit && e.commit_ts != 0)
      commit_by_ts.try_emplace(e.commit_ts, &e);
  }

  std::uint64_t next_id = 1;
  for (const trace_event& e : events) {
    if (e.kind != trace_event::type::abort || e.commit_ts == 0) continue;
    const auto it = commit_by_ts.find(e.commit_ts);
    if (it == commit_by_ts.end()) continue;
    const trace_event& cause = *it->second;
    const std::uint64_t finish = inside_end(e);
    const std::uint64_t start = std::max(cause.begin_ns, std::min(inside_end(cause), finish));
    append_flow_point(line, 's', next_id, cause.thread, start);
    emit();
    append_flow_point(line, 'f', next_id, e.thread, finish);
    emit();
    ++next_id;
  }
  out << "\n],\"displayTimeUnit\":\"ns\"}\n";
}

void report::write_trace(std::ostream& out) {
  detail::write_trace_events(out, detail::collect_trace());
}

}  // namespace optimist
