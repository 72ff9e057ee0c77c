// The optimist-report command-line tool, as a function (runtime/cli/
// optimist_report.cpp is its main; tests call it directly).
//
//   optimist-report [--top N] [--svg out.svg] file.json...
//
// Reads the JSON profiles (report::write_json's shape, e.g. written with
// OPTIMIST_REPORT=run.json), merges them (report::merge) and prints the text
// report to `out`; --svg also draws the conflict groups as a bar chart
// (svg_plot.hpp). --top N limits both to the N largest groups (default 10),
// and the hardware section to the N blocks with most attempts.
//
// Returns 0 on success and for --help (usage on `out`), 2 on any error (a
// missing or unreadable file, bad JSON, a bad option or --top value, an SVG
// file that cannot be written), with one line on `err`:
//   optimist-report: <what went wrong>
#pragma once

#include <iosfwd>

namespace optimist::detail {

int optimist_report_main(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace optimist::detail
