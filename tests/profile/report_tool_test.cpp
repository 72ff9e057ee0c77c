// optimist-report, through detail::optimist_report_main: arguments, merging
// files, output, and a one-line error with exit status 2 for each failure.
#include "profile/report_tool.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <initializer_list>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "optimist/report.hpp"
#include "profile/temp_files.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace report_tool_test {

namespace {

using optimist::report::conflict_kind;
using optimist::report::profile;

struct result {
  int status = -1;
  std::string out;
  std::string err;
};

result run_tool(std::vector<std::string> args) {
  args.insert(args.begin(), "optimist-report");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::ostringstream out;
  std::ostringstream err;
  result r;
  r.status =
      optimist::detail::optimist_report_main(static_cast<int>(args.size()), argv.data(), out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

profile run_profile(double scale) {
  profile p;
  p.totals = {100, 10, 2.0 * scale, 1.0, 0.25, 0.125};
  p.conflicts.push_back({conflict_kind::write_read,
                         {"nowhere/q.cpp", 10, "pop", false},
                         {"nowhere/q.cpp", 20, "push", false},
                         6,
                         0.5 * scale});
  p.conflicts.push_back({conflict_kind::write_write,
                         {"nowhere/q.cpp", 20, "push", false},
                         {"nowhere/q.cpp", 20, "push", false},
                         4,
                         0.25});
  p.threads.push_back({0, 1.0, 0.25, 0.125, 0.5});
  return p;
}

std::string write_profile(const optimist::test::temp_dir& dir, const std::string& name,
                          const profile& p) {
  std::ostringstream json;
  optimist::report::write_json(json, p);
  return dir.write(name, json.str());
}

std::string text_report(const profile& p, std::size_t top) {
  std::ostringstream out;
  optimist::report::write_text(out, p, top);
  return out.str();
}

void expect_one_line_error(const result& r, const std::string& message) {
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "optimist-report: " + message + "\n");
}

TEST(ReportTool, MergesFilesAndPrintsTheTextReport) {
  optimist::test::temp_dir dir;
  const std::string a = write_profile(dir, "a.json", run_profile(1));
  const std::string b = write_profile(dir, "b.json", run_profile(2));
  const result r = run_tool({a, b});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, text_report(optimist::report::merge({run_profile(1), run_profile(2)}), 10));
  EXPECT_NE(r.out.find("1.500 s lost in 12 aborts (write-read)\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0.500 s lost in 8 aborts (write-write)\n"), std::string::npos) << r.out;
}

TEST(ReportTool, MergesHardwareBlocksAcrossFiles) {
  optimist::test::temp_dir dir;
  profile a = run_profile(1);
  a.hardware.push_back({{"nowhere/q.cpp", 8, "pop", true}, 100, 120, 90, 0, {20, 5, 5, 0}, 2, 0});
  profile b = run_profile(2);
  b.hardware.push_back({{"nowhere/q.cpp", 8, "pop", true}, 50, 20, 10, 30, {0, 10, 0, 0}, 1, 1});
  const result r =
      run_tool({write_profile(dir, "a.json", a), write_profile(dir, "b.json", b), "--top", "1"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, text_report(optimist::report::merge({a, b}), 1));
  EXPECT_NE(r.out.find("Hardware transactions, by atomic block\n"
                       "\n"
                       "150 blocks, 100 committed in hardware (66.7%), 140 attempts, 30 skipped "
                       "by the policy\n"
                       "  atomic block:  nowhere/q.cpp:8 in pop\n"
                       "  aborts:        20 conflict, 15 capacity, 5 explicit, 0 other\n"
                       "  policy:        hardware off on 1 of 3 threads\n"),
            std::string::npos)
      << r.out;
}

TEST(ReportTool, TopLimitsTheGroups) {
  optimist::test::temp_dir dir;
  const std::string a = write_profile(dir, "a.json", run_profile(1));
  for (const auto& args :
       {std::vector<std::string>{"--top", "1", a}, std::vector<std::string>{"--top=1", a}}) {
    const result r = run_tool(args);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, text_report(run_profile(1), 1));
    EXPECT_NE(r.out.find("... 1 more conflict group: 0.250 s lost in 4 aborts\n"),
              std::string::npos)
        << r.out;
  }
}

TEST(ReportTool, DefaultTopIsTen) {
  optimist::test::temp_dir dir;
  profile p;
  for (unsigned i = 0; i < 12; ++i) {
    p.conflicts.push_back({conflict_kind::write_read,
                           {"nowhere/q.cpp", i + 1, "", false},
                           {"nowhere/q.cpp", 100, "", false},
                           1,
                           1.0 + i});
  }
  const result r = run_tool({write_profile(dir, "many.json", p)});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\n... 2 more conflict groups: 3.000 s lost in 2 aborts\n"),
            std::string::npos)
      << r.out;
}

TEST(ReportTool, WritesAnSvgChart) {
  optimist::test::temp_dir dir;
  const std::string a = write_profile(dir, "a.json", run_profile(1));
  const std::string svg = (dir.path() / "chart.svg").string();
  const result r = run_tool({"--svg", svg, a});
  EXPECT_EQ(r.status, 0) << r.err;
  std::ifstream in(svg);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_NE(text.find("<svg "), std::string::npos);
  EXPECT_NE(text.find("write-read: nowhere/q.cpp:10 \xe2\x86\x90 nowhere/q.cpp:20"),
            std::string::npos)
      << text;
}

TEST(ReportTool, HelpPrintsUsage) {
  for (const char* flag : {"--help", "-h"}) {
    const result r = run_tool({flag});
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out.rfind("usage: optimist-report [--top N] [--svg out.svg] file.json...\n", 0), 0u)
        << r.out;
    EXPECT_EQ(r.err, "");
  }
}

TEST(ReportTool, ErrorsAreOneLineWithStatusTwo) {
  optimist::test::temp_dir dir;
  const std::string good = write_profile(dir, "good.json", run_profile(1));
  const std::string bad = dir.write("bad.json", "{\"version\": 1,\n  \"totals\": }");
  const std::string missing = (dir.path() / "missing.json").string();

  expect_one_line_error(run_tool({}), "no input files (see --help)");
  expect_one_line_error(run_tool({missing}),
                        "cannot open '" + missing + "': No such file or directory");
  expect_one_line_error(run_tool({good, bad}),
                        bad + ": expected a value, found '}' at line 2, column 13");
  expect_one_line_error(run_tool({dir.path().string()}),
                        "'" + dir.path().string() + "' is a directory");
  expect_one_line_error(run_tool({"--top", "0", good}),
                        "--top wants a whole number from 1 up, not '0'");
  expect_one_line_error(run_tool({"--top", "ten", good}),
                        "--top wants a whole number from 1 up, not 'ten'");
  expect_one_line_error(run_tool({"--top=-1", good}),
                        "--top wants a whole number from 1 up, not '-1'");
  expect_one_line_error(run_tool({"--top=", good}), "--top wants a whole number from 1 up, not ''");
  expect_one_line_error(run_tool({good, "--top"}), "--top needs a value");
  expect_one_line_error(run_tool({"--svg"}), "--svg needs a value");
  expect_one_line_error(run_tool({"--verbose", good}), "unknown option '--verbose' (see --help)");
  const std::string unwritable = (dir.path() / "no" / "such" / "dir.svg").string();
  expect_one_line_error(run_tool({"--svg", unwritable, good}),
                        "cannot write '" + unwritable + "': No such file or directory");
}

TEST(ReportTool, DoubleDashEndsOptions) {
  optimist::test::temp_dir dir;
  const std::string odd = write_profile(dir, "--top", run_profile(1));
  optimist::test::current_directory_guard cd(dir.path());
  const result r = run_tool({"--", "--top"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, text_report(run_profile(1), 10));
}

}  // namespace

}  // namespace report_tool_test
