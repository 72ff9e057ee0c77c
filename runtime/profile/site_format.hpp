// How the human-readable outputs (text report, SVG chart) write a place in the
// user's source and a duration. Shared so that both say the same thing.
//
//   site_location(s)            "samples/train_schedule.cpp:88"
//   short_function_name(name)   "void compute(train&)" -> "compute"
//   format_seconds(0.412)       "0.412 s"
#pragma once

#include <string>
#include <string_view>

#include "optimist/report.hpp"

namespace optimist::detail {

// display_path(file)
//   The file as recorded, except that an absolute path inside the current
//   directory is shown relative to it.
std::string display_path(const std::string& file);

// site_location(s)
//   "file:line"; just "file" when the line is 0; "(unknown)" without a file.
std::string site_location(const report::site& s);

// short_function_name(name)
//   The qualified name alone. Compilers record a signature: GCC's
//   std::source_location gives "int main()", "void ns::f(int) [with T = int]",
//   "main()::<lambda()>"; Clang "auto main()::(anonymous class)::operator()()
//   const". The file and line already say exactly where, so the report keeps
//   only what helps a reader orient: the return type, every parameter list,
//   GCC's "[with ...]" and trailing qualifiers (const, noexcept, &) are
//   removed, giving "main", "ns::f", "main::<lambda>",
//   "main::(anonymous class)::operator()". Groups such as "(anonymous
//   namespace)" and "(lambda at f.cpp:3:5)" are names, and kept. When the
//   text does not parse (unbalanced brackets) it is returned as given.
std::string short_function_name(std::string_view name);

// format_seconds(s)
//   Three decimals in a unit that shows the value: "0.412 s" (also for 0 and
//   anything from 1 ms up), "0.052 ms" (1 us to 1 ms), "800 ns" (below 1 us).
std::string format_seconds(double s);

}  // namespace optimist::detail
