// optimist-report: merges conflict profiles (JSON) and prints the text report.
// See runtime/profile/report_tool.hpp for the usage.
#include <iostream>

#include "profile/report_tool.hpp"

int main(int argc, char** argv) {
  return optimist::detail::optimist_report_main(argc, argv, std::cout, std::cerr);
}
