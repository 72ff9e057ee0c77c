// Sizes for the benchmarks from the environment (e.g. OPTIMIST_BENCH_TRAINS), so that a
// quick run and a long run use the same binary.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>

namespace bench {

// The value of `name` as a positive integer, or `fallback` when unset; exits with a message
// naming the variable when it is malformed.
inline std::size_t size_from_environment(const char* name, std::size_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (*end != '\0' || value == 0) {
    std::fprintf(stderr, "%s='%s' is not a positive integer\n", name, text);
    std::exit(2);
  }
  return static_cast<std::size_t>(value);
}

}  // namespace bench
