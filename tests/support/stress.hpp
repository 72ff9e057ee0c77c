// tests/support/stress.hpp — how long the stress tests run.
//
// Every stress test sizes its work as `base * stress_scale()`. The scale comes
// from the environment variable OPTIMIST_STRESS (a positive integer, default
// 1), so CI runs small and a long soak is one variable away:
//
//   OPTIMIST_STRESS=50 ctest --output-on-failure -R stm.
//
// A value that is not a positive integer is rejected loudly (abort) rather
// than silently read as 1: a soak run that quietly ran small would be a lie.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace optimist::test {

// stress_scale()
//   OPTIMIST_STRESS as a multiplier, 1 when unset or empty.
inline long stress_scale() {
  static const long scale = [] {
    const char* text = std::getenv("OPTIMIST_STRESS");
    if (text == nullptr || *text == '\0') return 1L;
    char* end = nullptr;
    errno = 0;
    long value = std::strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < 1 || value > 1'000'000) {
      std::fprintf(stderr, "OPTIMIST_STRESS='%s': expected an integer from 1 to 1000000\n", text);
      std::abort();
    }
    return value;
  }();
  return scale;
}

// scaled(base)
//   base * stress_scale(): the size of a stress loop.
inline long scaled(long base) {
  return base * stress_scale();
}

}  // namespace optimist::test
