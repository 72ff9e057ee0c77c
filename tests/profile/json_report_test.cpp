// report::write_json / read_json: round trips, the reader's tolerance of
// whitespace and member order, and its errors on anything else.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#include "optimist/report.hpp"
#include "profile/json_text.hpp"
#include "support/profile_equality.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace json_report_test {

namespace {

using optimist::report::conflict_kind;
using optimist::report::profile;
using optimist::report::site;

std::string json_of(const profile& p) {
  std::ostringstream out;
  optimist::report::write_json(out, p);
  return out.str();
}

profile read(const std::string& text) {
  std::istringstream in(text);
  return optimist::report::read_json(in);
}

// The message read_json throws for `text` ("" when it does not throw).
std::string error_of(const std::string& text) {
  try {
    read(text);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

profile awkward_profile() {
  profile p;
  p.totals = {std::numeric_limits<std::uint64_t>::max(), 7, 1.0 / 3.0, 1e-9, 123456.789, 0.1};
  p.conflicts.push_back({conflict_kind::write_read,
                         {"dir with space/\"quoted\"\\back.cpp", 88, "void f(int)\t[tab]", false},
                         {"caf\xc3\xa9.cpp", std::numeric_limits<unsigned>::max(), "g", true},
                         12412,
                         0.412});
  p.conflicts.push_back({conflict_kind::write_write,
                         {"ctl\x01\x1f\n\r.cpp", 1, "", false},
                         {"", 0, "", false},
                         0,
                         0});
  p.conflicts.push_back(
      {conflict_kind::inevitable, {"a.cpp", 2, "h", false}, {"b.cpp", 3, "k", true}, 1, 2.5e-300});
  p.inevitables.push_back({{"log.cpp", 20, "int main()", false}, 3, 0.05, 0.12});
  p.inevitables.push_back({{"hot.cpp", 7, "f", false}, 2, 0.01, 0.02, true});
  p.threads.push_back({0, 0.6, 0.25, 0.05, 0.1});
  p.threads.push_back({7, 1e300, 0, 5e-324, 3});
  const std::uint64_t most = std::numeric_limits<std::uint64_t>::max();
  p.hardware.push_back({{"bank \"hot\".cpp", 38, "main()::<lambda()>", true},
                        most,
                        most - 1,
                        7,
                        0,
                        {1, 2, 3, most},
                        std::numeric_limits<unsigned>::max(),
                        3});
  p.hardware.push_back({{"", 0, "", true}, 1, 0, 0, 1, {}, 1, 1});
  return p;
}

TEST(JsonReport, RoundTripGivesAnEqualProfile) {
  const profile p = awkward_profile();
  const std::string text = json_of(p);
  optimist::test::expect_equal(read(text), p);
  // And writing what was read gives the same text.
  EXPECT_EQ(json_of(read(text)), text);
}

TEST(JsonReport, RoundTripOfAnEmptyProfile) {
  const std::string text = json_of(profile{});
  EXPECT_EQ(text,
            "{\n"
            "  \"version\": 1,\n"
            "  \"totals\": {\"commits\": 0, \"aborts\": 0, \"wall_s\": 0, \"committed_s\": 0, "
            "\"aborted_s\": 0, \"waiting_s\": 0},\n"
            "  \"conflicts\": [],\n"
            "  \"inevitable\": [],\n"
            "  \"threads\": []\n"
            "}\n");
  optimist::test::expect_equal(read(text), profile{});
}

TEST(JsonReport, WritesTheDocumentedShape) {
  profile p;
  p.totals = {10, 2, 1.5, 0.9, 0.2, 0};
  p.conflicts.push_back(
      {conflict_kind::write_read, {"a.cpp", 3, "f", false}, {"a.cpp", 4, "g", true}, 3, 0.5});
  p.inevitables.push_back({{"b.cpp", 1, "h", false}, 1, 0.1, 0.2});
  p.threads.push_back({0, 0.9, 0.2, 0, 0.4});
  EXPECT_EQ(
      json_of(p),
      "{\n"
      "  \"version\": 1,\n"
      "  \"totals\": {\"commits\": 10, \"aborts\": 2, \"wall_s\": 1.5, \"committed_s\": 0.9, "
      "\"aborted_s\": 0.2, \"waiting_s\": 0},\n"
      "  \"conflicts\": [\n"
      "    {\"kind\": \"write-read\", \"aborted_site\": {\"file\": \"a.cpp\", \"line\": 3, "
      "\"function\": \"f\", \"block_only\": false}, \"other_site\": {\"file\": \"a.cpp\", "
      "\"line\": 4, \"function\": \"g\", \"block_only\": true}, \"count\": 3, "
      "\"time_lost_s\": 0.5}\n"
      "  ],\n"
      "  \"inevitable\": [\n"
      "    {\"site\": {\"file\": \"b.cpp\", \"line\": 1, \"function\": \"h\", \"block_only\": "
      "false}, \"count\": 1, \"inevitable_s\": 0.1, \"blocked_others_s\": 0.2, "
      "\"starved\": false}\n"
      "  ],\n"
      "  \"threads\": [\n"
      "    {\"thread\": 0, \"committed_s\": 0.9, \"aborted_s\": 0.2, \"waiting_s\": 0, "
      "\"outside_s\": 0.4}\n"
      "  ]\n"
      "}\n");
}

TEST(JsonReport, EscapesStrings) {
  profile p;
  p.inevitables.push_back({{"a\"b\\c\nd\x01.cpp", 1, "", false}, 1, 0, 0});
  EXPECT_NE(json_of(p).find(R"("file": "a\"b\\c\nd\u0001.cpp")"), std::string::npos) << json_of(p);
}

// The output is UTF-8 whatever the names hold: well-formed sequences are kept,
// a byte that starts none is written as \u00XX (its Latin-1 character). Before,
// a Latin-1 file name made the report unreadable for strict JSON parsers.
TEST(JsonReport, WritesUtf8WhateverTheNamesHold) {
  profile p;
  p.inevitables.push_back(
      {{"caf\xe9-\xc3\xa9-\xf0\x9f\x98\x80-\xed\xa0\x80-\xc3.cpp", 1, "", false}, 1, 0, 0});
  const std::string json = json_of(p);
  EXPECT_NE(json.find("\"file\": \"caf\\u00e9-\xc3\xa9-\xf0\x9f\x98\x80-"
                      "\\u00ed\\u00a0\\u0080-\\u00c3.cpp\""),
            std::string::npos)
      << json;
  std::istringstream in(json);
  const profile back = optimist::report::read_json(in);
  ASSERT_EQ(back.inevitables.size(), 1u);
  EXPECT_EQ(back.inevitables[0].where.file,
            "caf\xc3\xa9-\xc3\xa9-\xf0\x9f\x98\x80-\xc3\xad\xc2\xa0\xc2\x80-\xc3\x83.cpp");
}

TEST(JsonReport, AcceptsAnyWhitespaceAndMemberOrder) {
  const std::string text =
      "\r\n\t {\"threads\":[{\"outside_s\":4E-1,\"waiting_s\":0,\"aborted_s\":0.2,"
      "\"committed_s\":0.9,\"thread\":3}],\"inevitable\"  :  [  ]  ,\n"
      "\"conflicts\":[{\"time_lost_s\":5e-1,\"count\":3,\"other_site\":{\"block_only\":true,"
      "\"function\":\"g\\u00e9\\ud83d\\ude00\",\"line\":4,\"file\":\"a\\/b.cpp\"},"
      "\"aborted_site\":{\"line\":3,\"block_only\":false,\"file\":\"a.cpp\",\"function\":\"\"},"
      "\"kind\":\"write-write\"}],\"totals\":{\"waiting_s\":-0.0,\"aborted_s\":0.2,"
      "\"committed_s\":0.9,\"wall_s\":1.5,\"aborts\":2,\"commits\":10},\"version\":1}\n\n";
  const profile p = read(text);
  EXPECT_EQ(p.totals.commits, 10u);
  EXPECT_EQ(p.totals.wall_s, 1.5);
  ASSERT_EQ(p.conflicts.size(), 1u);
  EXPECT_EQ(p.conflicts[0].kind, conflict_kind::write_write);
  EXPECT_EQ(p.conflicts[0].other_site.file, "a/b.cpp");
  EXPECT_EQ(p.conflicts[0].other_site.function, "g\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_TRUE(p.conflicts[0].other_site.block_only);
  EXPECT_EQ(p.conflicts[0].time_lost_s, 0.5);
  ASSERT_EQ(p.threads.size(), 1u);
  EXPECT_EQ(p.threads[0].thread, 3u);
  EXPECT_EQ(p.threads[0].outside_s, 0.4);
}

// A valid file in which `from` is replaced by `to` (once).
std::string edited(const std::string& from, const std::string& to) {
  profile p;
  p.totals = {10, 2, 1.5, 0.9, 0.2, 0};
  p.conflicts.push_back(
      {conflict_kind::write_read, {"a.cpp", 3, "f", false}, {"a.cpp", 4, "g", true}, 3, 0.5});
  p.threads.push_back({0, 0.9, 0.2, 0, 0.4});
  std::string text = json_of(p);
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(JsonReport, SyntaxErrorsNameTheProblemAndPosition) {
  EXPECT_EQ(error_of(""), "read_json: expected a value, found the end at line 1, column 1");
  EXPECT_EQ(error_of("{\"version\": 1,\n  \"totals\" {}}"),
            "read_json: expected ':' after the field name, found '{' at line 2, column 12");
  EXPECT_EQ(error_of("[1, 2,]"), "read_json: expected a value, found ']' at line 1, column 7");
  EXPECT_EQ(error_of("{} x"), "read_json: unexpected 'x' after the value at line 1, column 4");
  EXPECT_EQ(error_of("{\"a\": \"open"), "read_json: unterminated string at line 1, column 7");
  EXPECT_EQ(error_of("{\"a\": 01}"), "read_json: leading zero in a number at line 1, column 7");
  EXPECT_EQ(error_of("{\"a\": 1.}"),
            "read_json: expected digits after the decimal point at line 1, column 9");
  EXPECT_EQ(error_of("{\"a\": tru}"),
            "read_json: expected a value (a misspelt literal?) at line 1, column 7");
  EXPECT_EQ(error_of("{\"a\": \"\\x\"}"),
            "read_json: unknown escape \\x in a string at line 1, column 8");
  EXPECT_EQ(error_of("{\"a\": \"\\ud800\"}"),
            "read_json: unpaired surrogate in \\u escape at line 1, column 8");
  EXPECT_EQ(error_of("{\"a\": \"tab\there\"}"),
            "read_json: control character in a string (escape it) at line 1, column 11");
  EXPECT_EQ(error_of("{\"a\" : 1 \"b\": 2}"),
            "read_json: expected ',' or '}' in the object, found '\"' at line 1, column 10");
  EXPECT_EQ(error_of(std::string(100, '[')),
            "read_json: nesting deeper than 64 levels at line 1, column 65");
  EXPECT_EQ(error_of("\xef\xbb\xbf{}"),
            "read_json: expected a value, found byte 0xef at line 1, column 1");
}

TEST(JsonReport, ShapeErrorsNameTheFieldAndPosition) {
  EXPECT_EQ(error_of("[]"),
            "read_json: expected the report (an object), found an array at line 1, column 1");
  EXPECT_EQ(error_of(edited("\"version\": 1", "\"version\": 2")),
            "read_json: unsupported version 2 (this reader knows version 1) at line 2, column 14");
  EXPECT_EQ(error_of(edited("\"count\": 3, ", "")),
            "read_json: missing field \"count\" in a conflict at line 5, column 5");
  EXPECT_EQ(error_of(edited("\"count\": 3", "\"count\": 3, \"extra\": null")),
            "read_json: unknown field \"extra\" in a conflict at line 5, column 205");
  EXPECT_EQ(error_of(edited("\"count\": 3", "\"count\": 3, \"count\": 4")),
            "read_json: field \"count\" appears twice in a conflict at line 5, column 205");
  EXPECT_EQ(error_of(edited("\"count\": 3", "\"count\": -3")),
            "read_json: expected a whole number that is not negative, found -3 at line 5, "
            "column 202");
  EXPECT_EQ(error_of(edited("\"count\": 3", "\"count\": 1.5")),
            "read_json: expected a whole number that is not negative, found 1.5 at line 5, "
            "column 202");
  EXPECT_EQ(error_of(edited("\"count\": 3", "\"count\": 18446744073709551616")),
            "read_json: number 18446744073709551616 is too large at line 5, column 202");
  EXPECT_EQ(error_of(edited("\"line\": 3", "\"line\": 4294967296")),
            "read_json: \"line\" 4294967296 is too large at line 5, column 70");
  EXPECT_EQ(error_of(edited("\"line\": 3", "\"line\": \"3\"")),
            "read_json: expected a whole number, found a string at line 5, column 70");
  EXPECT_EQ(error_of(edited("\"kind\": \"write-read\"", "\"kind\": \"read-write\"")),
            "read_json: \"kind\" must be \"write-write\", \"write-read\" or \"inevitable\", found "
            "\"read-write\" at line 5, column 14");
  EXPECT_EQ(error_of(edited("\"block_only\": false", "\"block_only\": 0")),
            "read_json: \"block_only\" in \"aborted_site\" must be true or false, found a number "
            "at line 5, column 104");
  EXPECT_EQ(error_of(edited("\"wall_s\": 1.5", "\"wall_s\": 1e999")),
            "read_json: number 1e999 is out of range at line 3, column 52");
  EXPECT_EQ(error_of(edited("\"threads\": [", "\"threads\": 5, \"more\": [")),
            "read_json: \"threads\" in the report must be an array, found a number at line 8, "
            "column 14");
  EXPECT_EQ(
      error_of(edited("\"aborted_site\": {\"file\": \"a.cpp\", \"line\": 3, \"function\": \"f\", "
                      "\"block_only\": false}",
                      "\"aborted_site\": []")),
      "read_json: expected \"aborted_site\" (an object), found an array at line 5, column 44");
}

// A profile with one hardware block, and the line it is written on.
profile with_hardware() {
  profile p;
  p.totals = {10, 2, 1.5, 0.9, 0.2, 0};
  p.hardware.push_back(
      {{"bank.cpp", 38, "transfer", true}, 1200, 1500, 1000, 200, {300, 0, 200, 0}, 2, 1});
  return p;
}

TEST(JsonReport, WritesHardwareBlocksUnderTheirOwnKey) {
  EXPECT_EQ(json_of(with_hardware()),
            "{\n"
            "  \"version\": 1,\n"
            "  \"totals\": {\"commits\": 10, \"aborts\": 2, \"wall_s\": 1.5, \"committed_s\": "
            "0.9, \"aborted_s\": 0.2, \"waiting_s\": 0},\n"
            "  \"conflicts\": [],\n"
            "  \"inevitable\": [],\n"
            "  \"threads\": [],\n"
            "  \"hardware\": [\n"
            "    {\"site\": {\"file\": \"bank.cpp\", \"line\": 38, \"function\": \"transfer\", "
            "\"block_only\": true}, \"blocks\": 1200, \"attempts\": 1500, \"commits\": 1000, "
            "\"skipped\": 200, \"aborts\": {\"conflict\": 300, \"capacity\": 0, \"explicit\": "
            "200, \"other\": 0}, \"threads\": 2, \"threads_in_software\": 1}\n"
            "  ]\n"
            "}\n");
}

// Grouped tasks (report.hpp) appear in the totals only when a task run
// grouped some, so that other programs' files are as before; a file
// without them reads as none.
TEST(JsonReport, WritesGroupedTasksInTheTotalsWhenThereAreAny) {
  profile p;
  p.totals = {10, 2, 1.5, 0.9, 0.2, 0, 90};
  const std::string text = json_of(p);
  EXPECT_NE(text.find("\"totals\": {\"commits\": 10, \"aborts\": 2, \"wall_s\": 1.5, "
                      "\"committed_s\": 0.9, \"aborted_s\": 0.2, \"waiting_s\": 0, "
                      "\"grouped_tasks\": 90},\n"),
            std::string::npos)
      << text;
  optimist::test::expect_equal(read(text), p);
  EXPECT_EQ(json_of(profile{}).find("grouped_tasks"), std::string::npos);
  EXPECT_EQ(read(json_of(profile{})).totals.grouped_tasks, 0u);
  std::string bad = text;
  bad.replace(bad.find("90}"), 2, "-1");
  EXPECT_EQ(error_of(bad),
            "read_json: expected a whole number that is not negative, found -1 at line 3, "
            "column 128");
}

TEST(JsonReport, FilesWithoutHardwareReadAsNone) {
  // As written before hardware blocks existed (and still, when there are none).
  const profile p = read(
      "{\"version\": 1, \"totals\": {\"commits\": 1, \"aborts\": 0, \"wall_s\": 0, "
      "\"committed_s\": 0, \"aborted_s\": 0, \"waiting_s\": 0}, \"conflicts\": [], "
      "\"inevitable\": [], \"threads\": []}");
  EXPECT_EQ(p.totals.commits, 1u);
  EXPECT_TRUE(p.hardware.empty());
  EXPECT_EQ(json_of(profile{}).find("hardware"), std::string::npos);
  // An empty list written by hand is accepted too.
  EXPECT_TRUE(read(edited("\"threads\": [", "\"hardware\": [], \"threads\": [")).hardware.empty());
}

// with_hardware()'s file with `from` replaced by `to` (once).
std::string edited_hardware(const std::string& from, const std::string& to) {
  std::string text = json_of(with_hardware());
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(JsonReport, HardwareShapeErrorsNameTheFieldAndPosition) {
  EXPECT_EQ(error_of(edited_hardware("\"hardware\": [", "\"hardware\": {}, \"x\": [")),
            "read_json: \"hardware\" in the report must be an array, found an object at line 7, "
            "column 15");
  EXPECT_EQ(error_of(edited_hardware("\"skipped\": 200, ", "")),
            "read_json: missing field \"skipped\" in a hardware block at line 8, column 5");
  EXPECT_EQ(error_of(edited_hardware("\"blocks\": 1200", "\"blocks\": -1")),
            "read_json: expected a whole number that is not negative, found -1 at line 8, "
            "column 102");
  EXPECT_EQ(error_of(edited_hardware("\"other\": 0", "\"others\": 0")),
            "read_json: missing field \"other\" in \"aborts\" at line 8, column 169");
  EXPECT_EQ(error_of(edited_hardware("\"other\": 0", "\"other\": 0, \"spurious\": 1")),
            "read_json: unknown field \"spurious\" in \"aborts\" at line 8, column 231");
  EXPECT_EQ(error_of(edited_hardware("\"aborts\": {", "\"aborts\": [], \"was\": {")),
            "read_json: expected \"aborts\" (an object), found an array at line 8, column 169");
  EXPECT_EQ(error_of(edited_hardware("\"threads_in_software\": 1", "\"threads_in_software\": 3")),
            "read_json: \"threads_in_software\" 3 is more than \"threads\" 2 in a hardware block "
            "at line 8, column 5");
  EXPECT_EQ(error_of(edited_hardware("\"threads\": 2", "\"threads\": 4294967296")),
            "read_json: \"threads\" 4294967296 is too large at line 8, column 243");
}

TEST(JsonText, NumbersAreWrittenInTheShortestExactForm) {
  auto number = [](double v) {
    std::string out;
    optimist::detail::append_json_number(out, v);
    return out;
  };
  EXPECT_EQ(number(0.412), "0.412");
  EXPECT_EQ(number(2), "2");
  EXPECT_EQ(number(1e-9), "1e-09");
  EXPECT_EQ(number(std::numeric_limits<double>::infinity()), "0");
  EXPECT_EQ(number(std::numeric_limits<double>::quiet_NaN()), "0");
}

}  // namespace

namespace {

profile with_auto_mode() {
  profile p;
  p.totals = {10, 2, 1.5, 0.9, 0.2, 0};
  p.auto_mode.speculative_s = 0.8;
  p.auto_mode.serial_s = 0.2;
  p.auto_mode.speculative_blocks = 40000;
  p.auto_mode.serial_blocks = 9000;
  p.auto_mode.samples = 3;
  optimist::mode_switch s;
  s.at_s = 0.012;
  s.to_serial = true;
  s.reason = optimist::mode_switch_reason::conflict;
  s.serial_per_s = 4100000;
  s.speculative_per_s = 2000000;
  s.aborts_per_commit = 1.3;
  s.threads = 2;
  p.auto_mode.switches.push_back(s);
  s.at_s = 0.5;
  s.to_serial = false;
  s.reason = optimist::mode_switch_reason::sampled;
  s.threads = 4;
  s.run_file = "src/rates.cpp";  // a task run's verdict
  s.run_line = 31;
  s.run_function = "apply_interest";
  p.auto_mode.switches.push_back(s);
  return p;
}

TEST(JsonReport, WritesAutoModeUnderItsOwnKey) {
  const std::string text = json_of(with_auto_mode());
  EXPECT_EQ(text,
            "{\n"
            "  \"version\": 1,\n"
            "  \"totals\": {\"commits\": 10, \"aborts\": 2, \"wall_s\": 1.5, \"committed_s\": "
            "0.9, \"aborted_s\": 0.2, \"waiting_s\": 0},\n"
            "  \"conflicts\": [],\n"
            "  \"inevitable\": [],\n"
            "  \"threads\": [],\n"
            "  \"auto_mode\": {\"speculative_s\": 0.8, \"serial_s\": 0.2, \"speculative_blocks\": "
            "40000, \"serial_blocks\": 9000, \"samples\": 3, \"switches\": [\n"
            "    {\"at_s\": 0.012, \"to\": \"serial\", \"reason\": \"conflict\", \"serial_per_s\": "
            "4100000, \"speculative_per_s\": 2e+06, \"aborts_per_commit\": 1.3, \"threads\": "
            "2},\n"
            "    {\"at_s\": 0.5, \"to\": \"speculative\", \"reason\": \"sampled\", "
            "\"serial_per_s\": 4100000, \"speculative_per_s\": 2e+06, \"aborts_per_commit\": "
            "1.3, \"threads\": 4, \"run\": {\"file\": \"src/rates.cpp\", \"line\": 31, "
            "\"function\": \"apply_interest\"}}\n"
            "  ]}\n"
            "}\n");
  optimist::test::expect_equal(read(text), with_auto_mode());
  EXPECT_EQ(json_of(read(text)), text);
}

TEST(JsonReport, FilesWithoutAutoModeReadAsNone) {
  EXPECT_TRUE(read(json_of(profile{})).auto_mode.empty());
  EXPECT_EQ(json_of(profile{}).find("auto_mode"), std::string::npos);
}

TEST(JsonReport, AutoModeShapeErrorsNameTheFieldAndPosition) {
  auto edited_auto = [](const std::string& from, const std::string& to) {
    std::string text = json_of(with_auto_mode());
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
  };
  EXPECT_EQ(error_of(edited_auto("\"reason\": \"conflict\"", "\"reason\": \"boredom\"")),
            "read_json: \"reason\" must be \"conflict\" or \"sampled\", found \"boredom\" at line "
            "8, column 47");
  EXPECT_EQ(error_of(edited_auto("\"to\": \"serial\"", "\"to\": \"htm\"")),
            "read_json: \"to\" must be \"serial\" or \"speculative\", found \"htm\" at line 8, "
            "column 5");
  EXPECT_EQ(error_of(edited_auto("\"samples\": 3, ", "")),
            "read_json: missing field \"samples\" in \"auto_mode\" at line 7, column 16");
  EXPECT_EQ(error_of(edited_auto("\"line\": 31, ", "")),
            "read_json: missing field \"line\" in \"run\" at line 9, column 161");
  EXPECT_EQ(error_of(edited_auto("\"src/rates.cpp\"", "\"\"")),
            "read_json: \"file\" in \"run\" must not be empty at line 9, column 5");
}

// A switch without "run" (files written before it existed, or a switch
// outside task runs) reads as one outside task runs.
TEST(JsonReport, ASwitchWithoutRunIsOutsideTaskRuns) {
  std::string text = json_of(with_auto_mode());
  const std::string run =
      ", \"run\": {\"file\": \"src/rates.cpp\", \"line\": 31, \"function\": \"apply_interest\"}";
  const auto at = text.find(run);
  ASSERT_NE(at, std::string::npos);
  text.erase(at, run.size());
  const profile p = read(text);
  ASSERT_EQ(p.auto_mode.switches.size(), 2u);
  EXPECT_TRUE(p.auto_mode.switches[1].run_file.empty());
  EXPECT_EQ(p.auto_mode.switches[1].run_line, 0u);
}

}  // namespace

}  // namespace json_report_test
