// report::write_json / report::read_json: the profile as a JSON file.
//
// The shape (version 1), one group per line so that files diff well:
//
//   {
//     "version": 1,
//     "totals": {"commits": 10, "aborts": 2, "wall_s": 1.5, "committed_s": 0.9,
//                "aborted_s": 0.2, "waiting_s": 0},
//     "conflicts": [
//       {"kind": "write-read",
//        "aborted_site": {"file": "a.cpp", "line": 3, "function": "f", "block_only": false},
//        "other_site": {...}, "count": 3, "time_lost_s": 0.5}
//     ],
//     "inevitable": [{"site": {...}, "count": 1, "inevitable_s": 0.1,
//     "blocked_others_s": 0.2, "starved": false}], "threads": [{"thread": 0, "committed_s": 0.9,
//     "aborted_s": 0.2, "waiting_s": 0,
//                  "outside_s": 0.4}],
//     "hardware": [
//       {"site": {...}, "blocks": 1200, "attempts": 1500, "commits": 1000, "skipped": 200,
//        "aborts": {"conflict": 300, "capacity": 0, "explicit": 200, "other": 0},
//        "threads": 2, "threads_in_software": 1}
//     ]
//   }
//
//     "auto_mode": {"speculative_s": 0.8, "serial_s": 0.2, "speculative_blocks": 40000,
//                   "serial_blocks": 9000, "samples": 3, "switches": [
//       {"at_s": 0.012, "to": "serial", "reason": "conflict", "serial_per_s": 4100000,
//        "speculative_per_s": 2000000, "aborts_per_commit": 1.3, "threads": 2,
//        "run": {"file": "a.cpp", "line": 9, "function": "f"}}
//     ]}
//
// A switch's "run" (the task run's line whose verdict switched,
// mode_switch::run_file) is written only for a task run's switch; the reader
// takes a switch without it as one outside task runs.
//
// "auto_mode" (report::profile::auto_mode) likewise only when not empty.
// "hardware" (report::profile::hardware) is written only when it has entries,
// so a software-only profile is exactly what version 1 first wrote; the
// reader takes a file without it as having none. "aborts" names the causes as
// optimist::to_string(hardware_abort_cause) does.
//
// Numbers are written in the shortest form that reads back exactly, so
// write -> read gives an equal profile. The reader accepts any whitespace and
// any member order, and exactly this shape otherwise: every field present
// once, no unknown fields, counts as whole numbers, "kind" one of the three
// names. Each error names the problem, the object it was found in and the
// position ("... at line 4, column 18").
#include <istream>
#include <iterator>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "optimist/report.hpp"
#include "profile/json_text.hpp"

namespace optimist {

namespace {

using detail::json_error;
using detail::json_member;
using detail::json_value;

// --- Writing ---------------------------------------------------------------------------------

void append_site(std::string& out, const report::site& s) {
  out += "{\"file\": ";
  detail::append_json_string(out, s.file);
  out += ", \"line\": " + std::to_string(s.line) + ", \"function\": ";
  detail::append_json_string(out, s.function);
  out += s.block_only ? ", \"block_only\": true}" : ", \"block_only\": false}";
}

void append_field(std::string& out, const char* name, double v) {
  out += ", \"";
  out += name;
  out += "\": ";
  detail::append_json_number(out, v);
}

// --- Reading ---------------------------------------------------------------------------------

// The members of one object, looked up by name; each must be present exactly
// once and none may be left unused.
class object_reader {
 public:
  object_reader(const json_value& v, const char* what, std::string_view text)
      : object_(v), what_(what), text_(text) {
    if (v.kind != json_value::type::object)
      throw json_error(
          std::string("expected ") + what + " (an object), found " + detail::json_type_name(v.kind),
          text, v.offset);
    for (std::size_t i = 0; i < v.members.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (v.members[j].name == v.members[i].name)
          throw json_error("field \"" + v.members[i].name + "\" appears twice in " + what, text,
                           v.members[i].name_offset);
      }
    }
    used_.assign(v.members.size(), false);
  }

  const json_value& field(std::string_view name) {
    for (std::size_t i = 0; i < object_.members.size(); ++i) {
      if (object_.members[i].name == name) {
        used_[i] = true;
        return object_.members[i].value;
      }
    }
    throw json_error("missing field \"" + std::string(name) + "\" in " + what_, text_,
                     object_.offset);
  }

  std::uint64_t uint64(std::string_view name) { return detail::json_to_uint64(field(name), text_); }

  unsigned uint32(std::string_view name) {
    const json_value& v = field(name);
    const std::uint64_t n = detail::json_to_uint64(v, text_);
    if (n > std::numeric_limits<unsigned>::max())
      throw json_error("\"" + std::string(name) + "\" " + v.text + " is too large", text_,
                       v.offset);
    return static_cast<unsigned>(n);
  }

  double number(std::string_view name) { return detail::json_to_double(field(name), text_); }

  std::string string(std::string_view name) {
    const json_value& v = field(name);
    if (v.kind != json_value::type::string) mismatch(name, v, "a string");
    return v.text;
  }

  bool boolean(std::string_view name) {
    const json_value& v = field(name);
    if (v.kind != json_value::type::boolean) mismatch(name, v, "true or false");
    return v.boolean;
  }

  // A boolean that may be absent (fields added after version 1 was first written).
  bool optional_boolean(std::string_view name, bool absent) {
    return has(name) ? boolean(name) : absent;
  }

  bool has(std::string_view name) const {
    for (const auto& m : object_.members) {
      if (m.name == name) return true;
    }
    return false;
  }

  const std::vector<json_value>& array(std::string_view name) {
    const json_value& v = field(name);
    if (v.kind != json_value::type::array) mismatch(name, v, "an array");
    return v.items;
  }

  // Call after reading every field: refuses fields this version does not know.
  void finish() const {
    for (std::size_t i = 0; i < used_.size(); ++i) {
      if (!used_[i])
        throw json_error("unknown field \"" + object_.members[i].name + "\" in " + what_, text_,
                         object_.members[i].name_offset);
    }
  }

  std::string_view text() const { return text_; }

 private:
  [[noreturn]] void mismatch(std::string_view name, const json_value& v, const char* wanted) {
    throw json_error("\"" + std::string(name) + "\" in " + what_ + " must be " + wanted +
                         ", found " + detail::json_type_name(v.kind),
                     text_, v.offset);
  }

  const json_value& object_;
  const char* what_;
  std::string_view text_;
  std::vector<bool> used_;
};

report::site read_site(const json_value& v, const char* what, std::string_view text) {
  object_reader r(v, what, text);
  report::site s;
  s.file = r.string("file");
  s.line = r.uint32("line");
  s.function = r.string("function");
  s.block_only = r.boolean("block_only");
  r.finish();
  return s;
}

report::conflict_kind read_kind(const json_value& v, std::string_view text) {
  if (v.kind == json_value::type::string) {
    for (auto kind : {report::conflict_kind::write_write, report::conflict_kind::write_read,
                      report::conflict_kind::inevitable}) {
      if (v.text == report::to_string(kind)) return kind;
    }
  }
  throw json_error(
      "\"kind\" must be \"write-write\", \"write-read\" or \"inevitable\", found " +
          (v.kind == json_value::type::string ? "\"" + v.text + "\""
                                              : std::string(detail::json_type_name(v.kind))),
      text, v.offset);
}

constexpr hardware_abort_cause all_hardware_causes[] = {
    hardware_abort_cause::conflict, hardware_abort_cause::capacity,
    hardware_abort_cause::explicit_abort, hardware_abort_cause::other};
static_assert(std::size(all_hardware_causes) == hardware_abort_cause_count);

report::hardware_block read_hardware(const json_value& v, std::string_view text) {
  object_reader c(v, "a hardware block", text);
  report::hardware_block out;
  out.where = read_site(c.field("site"), "\"site\"", text);
  out.blocks = c.uint64("blocks");
  out.attempts = c.uint64("attempts");
  out.commits = c.uint64("commits");
  out.skipped = c.uint64("skipped");
  {
    object_reader a(c.field("aborts"), "\"aborts\"", text);
    for (hardware_abort_cause cause : all_hardware_causes)
      out.aborts_by_cause[static_cast<std::size_t>(cause)] = a.uint64(to_string(cause));
    a.finish();
  }
  out.threads = c.uint32("threads");
  out.threads_in_software = c.uint32("threads_in_software");
  c.finish();
  if (out.threads_in_software > out.threads)
    throw json_error("\"threads_in_software\" " + std::to_string(out.threads_in_software) +
                         " is more than \"threads\" " + std::to_string(out.threads) +
                         " in a hardware block",
                     text, v.offset);
  return out;
}

mode_switch_reason read_reason(const json_value& v, std::string_view text) {
  if (v.kind == json_value::type::string) {
    for (std::size_t i = 0; i < mode_switch_reason_count; ++i) {
      const auto reason = static_cast<mode_switch_reason>(i);
      if (v.text == to_string(reason)) return reason;
    }
  }
  throw json_error("\"reason\" must be \"conflict\" or \"sampled\", found " +
                       (v.kind == json_value::type::string ? "\"" + v.text + "\""
                                                           : detail::json_type_name(v.kind)),
                   text, v.offset);
}

report::auto_mode_summary read_auto_mode(const json_value& v, std::string_view text) {
  object_reader a(v, "\"auto_mode\"", text);
  report::auto_mode_summary out;
  out.speculative_s = a.number("speculative_s");
  out.serial_s = a.number("serial_s");
  out.speculative_blocks = a.uint64("speculative_blocks");
  out.serial_blocks = a.uint64("serial_blocks");
  out.samples = a.uint64("samples");
  for (const json_value& item : a.array("switches")) {
    object_reader c(item, "a mode switch", text);
    mode_switch s;
    s.at_s = c.number("at_s");
    const std::string to = c.string("to");
    if (to != "serial" && to != "speculative")
      throw json_error("\"to\" must be \"serial\" or \"speculative\", found \"" + to + "\"", text,
                       item.offset);
    s.to_serial = to == "serial";
    s.reason = read_reason(c.field("reason"), text);
    s.serial_per_s = c.number("serial_per_s");
    s.speculative_per_s = c.number("speculative_per_s");
    s.aborts_per_commit = c.number("aborts_per_commit");
    s.threads = c.uint32("threads");
    if (c.has("run")) {
      object_reader run(c.field("run"), "\"run\"", text);
      s.run_file = run.string("file");
      s.run_line = run.uint32("line");
      s.run_function = run.string("function");
      run.finish();
      if (s.run_file.empty())
        throw json_error("\"file\" in \"run\" must not be empty", text, item.offset);
    }
    c.finish();
    out.switches.push_back(s);
  }
  a.finish();
  return out;
}

report::profile read_profile(const json_value& root, std::string_view text) {
  object_reader r(root, "the report", text);
  const json_value& version = r.field("version");
  if (detail::json_to_uint64(version, text) != 1)
    throw json_error("unsupported version " + version.text + " (this reader knows version 1)", text,
                     version.offset);

  report::profile p;
  {
    object_reader t(r.field("totals"), "\"totals\"", text);
    p.totals.commits = t.uint64("commits");
    p.totals.aborts = t.uint64("aborts");
    p.totals.wall_s = t.number("wall_s");
    p.totals.committed_s = t.number("committed_s");
    p.totals.aborted_s = t.number("aborted_s");
    p.totals.waiting_s = t.number("waiting_s");
    if (t.has("grouped_tasks")) p.totals.grouped_tasks = t.uint64("grouped_tasks");
    t.finish();
  }
  for (const json_value& item : r.array("conflicts")) {
    object_reader c(item, "a conflict", text);
    report::conflict out;
    out.kind = read_kind(c.field("kind"), text);
    out.aborted_site = read_site(c.field("aborted_site"), "\"aborted_site\"", text);
    out.other_site = read_site(c.field("other_site"), "\"other_site\"", text);
    out.count = c.uint64("count");
    out.time_lost_s = c.number("time_lost_s");
    c.finish();
    p.conflicts.push_back(std::move(out));
  }
  for (const json_value& item : r.array("inevitable")) {
    object_reader c(item, "an inevitable group", text);
    report::inevitable out;
    out.where = read_site(c.field("site"), "\"site\"", text);
    out.count = c.uint64("count");
    out.inevitable_s = c.number("inevitable_s");
    out.blocked_others_s = c.number("blocked_others_s");
    out.starved = c.optional_boolean("starved", false);
    c.finish();
    p.inevitables.push_back(std::move(out));
  }
  for (const json_value& item : r.array("threads")) {
    object_reader c(item, "a thread", text);
    report::thread_times out;
    out.thread = c.uint32("thread");
    out.committed_s = c.number("committed_s");
    out.aborted_s = c.number("aborted_s");
    out.waiting_s = c.number("waiting_s");
    out.outside_s = c.number("outside_s");
    c.finish();
    p.threads.push_back(out);
  }
  if (r.has("hardware")) {
    for (const json_value& item : r.array("hardware"))
      p.hardware.push_back(read_hardware(item, text));
  }
  if (r.has("auto_mode")) p.auto_mode = read_auto_mode(r.field("auto_mode"), text);
  r.finish();
  return p;
}

}  // namespace

void report::write_json(std::ostream& out, const profile& p) {
  std::string s = "{\n  \"version\": 1,\n  \"totals\": {\"commits\": ";
  s += std::to_string(p.totals.commits) + ", \"aborts\": " + std::to_string(p.totals.aborts);
  append_field(s, "wall_s", p.totals.wall_s);
  append_field(s, "committed_s", p.totals.committed_s);
  append_field(s, "aborted_s", p.totals.aborted_s);
  append_field(s, "waiting_s", p.totals.waiting_s);
  // Only from task runs that grouped tasks, as the optional sections below.
  if (p.totals.grouped_tasks != 0)
    s += ", \"grouped_tasks\": " + std::to_string(p.totals.grouped_tasks);
  s += "},\n  \"conflicts\": [";
  for (std::size_t i = 0; i < p.conflicts.size(); ++i) {
    const conflict& c = p.conflicts[i];
    s += i == 0 ? "\n    " : ",\n    ";
    s += "{\"kind\": ";
    detail::append_json_string(s, to_string(c.kind));
    s += ", \"aborted_site\": ";
    append_site(s, c.aborted_site);
    s += ", \"other_site\": ";
    append_site(s, c.other_site);
    s += ", \"count\": " + std::to_string(c.count);
    append_field(s, "time_lost_s", c.time_lost_s);
    s += '}';
  }
  s += p.conflicts.empty() ? "],\n" : "\n  ],\n";
  s += "  \"inevitable\": [";
  for (std::size_t i = 0; i < p.inevitables.size(); ++i) {
    const inevitable& v = p.inevitables[i];
    s += i == 0 ? "\n    " : ",\n    ";
    s += "{\"site\": ";
    append_site(s, v.where);
    s += ", \"count\": " + std::to_string(v.count);
    append_field(s, "inevitable_s", v.inevitable_s);
    append_field(s, "blocked_others_s", v.blocked_others_s);
    s += v.starved ? ", \"starved\": true}" : ", \"starved\": false}";
  }
  s += p.inevitables.empty() ? "],\n" : "\n  ],\n";
  s += "  \"threads\": [";
  for (std::size_t i = 0; i < p.threads.size(); ++i) {
    const thread_times& t = p.threads[i];
    s += i == 0 ? "\n    " : ",\n    ";
    s += "{\"thread\": " + std::to_string(t.thread);
    append_field(s, "committed_s", t.committed_s);
    append_field(s, "aborted_s", t.aborted_s);
    append_field(s, "waiting_s", t.waiting_s);
    append_field(s, "outside_s", t.outside_s);
    s += '}';
  }
  s += p.threads.empty() ? "]" : "\n  ]";
  if (!p.hardware.empty()) {
    s += ",\n  \"hardware\": [";
    for (std::size_t i = 0; i < p.hardware.size(); ++i) {
      const hardware_block& b = p.hardware[i];
      s += i == 0 ? "\n    " : ",\n    ";
      s += "{\"site\": ";
      append_site(s, b.where);
      s += ", \"blocks\": " + std::to_string(b.blocks);
      s += ", \"attempts\": " + std::to_string(b.attempts);
      s += ", \"commits\": " + std::to_string(b.commits);
      s += ", \"skipped\": " + std::to_string(b.skipped);
      s += ", \"aborts\": {";
      for (hardware_abort_cause cause : all_hardware_causes) {
        if (cause != all_hardware_causes[0]) s += ", ";
        detail::append_json_string(s, to_string(cause));
        s += ": " + std::to_string(b.aborts_for(cause));
      }
      s += "}, \"threads\": " + std::to_string(b.threads);
      s += ", \"threads_in_software\": " + std::to_string(b.threads_in_software) + '}';
    }
    s += "\n  ]";
  }
  if (!p.auto_mode.empty()) {
    const auto_mode_summary& a = p.auto_mode;
    s += ",\n  \"auto_mode\": {\"speculative_s\": ";
    detail::append_json_number(s, a.speculative_s);
    append_field(s, "serial_s", a.serial_s);
    s += ", \"speculative_blocks\": " + std::to_string(a.speculative_blocks);
    s += ", \"serial_blocks\": " + std::to_string(a.serial_blocks);
    s += ", \"samples\": " + std::to_string(a.samples) + ", \"switches\": [";
    for (std::size_t i = 0; i < a.switches.size(); ++i) {
      const mode_switch& w = a.switches[i];
      s += i == 0 ? "\n    " : ",\n    ";
      s += "{\"at_s\": ";
      detail::append_json_number(s, w.at_s);
      s += w.to_serial ? ", \"to\": \"serial\", \"reason\": "
                       : ", \"to\": \"speculative\", \"reason\": ";
      detail::append_json_string(s, to_string(w.reason));
      append_field(s, "serial_per_s", w.serial_per_s);
      append_field(s, "speculative_per_s", w.speculative_per_s);
      append_field(s, "aborts_per_commit", w.aborts_per_commit);
      s += ", \"threads\": " + std::to_string(w.threads);
      if (!w.run_file.empty()) {  // a task run's switch (absent: outside task runs)
        s += ", \"run\": {\"file\": ";
        detail::append_json_string(s, w.run_file);
        s += ", \"line\": " + std::to_string(w.run_line) + ", \"function\": ";
        detail::append_json_string(s, w.run_function);
        s += '}';
      }
      s += '}';
    }
    s += a.switches.empty() ? "]}" : "\n  ]}";
  }
  s += "\n}\n";
  out << s;
}

report::profile report::read_json(std::istream& in) {
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw std::runtime_error("read_json: the input could not be read");
  try {
    return read_profile(detail::parse_json(text), text);
  } catch (const json_error& e) {
    throw std::runtime_error(std::string("read_json: ") + e.what());
  }
}

}  // namespace optimist
