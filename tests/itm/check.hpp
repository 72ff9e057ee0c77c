// tests/itm/check.hpp — what the -fgnu-tm test programs share (they are plain
// programs, not GoogleTest: g++ -fgnu-tm and gtest's headers do not mix well):
// a failed check is printed and counted, main() returns g_failed != 0.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

int g_failed = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "  check failed: %s\n", what.c_str());
    ++g_failed;
  }
}

// OPTIMIST_STRESS as a multiplier (1 when unset), as in the GoogleTest suites.
long stress_scale() {
  const char* text = std::getenv("OPTIMIST_STRESS");
  return text != nullptr && std::atol(text) > 0 ? std::atol(text) : 1;
}

}  // namespace
