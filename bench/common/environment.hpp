// bench/common/environment.hpp — benchmark sizes from the environment, so that a quick smoke run
// and a full run use the same binaries.
//
//   OPTIMIST_BENCH_SIZE=small      every workload picks its small size (bench/run --quick sets it)
//   OPTIMIST_BENCH_<NAME>=<n>      one workload's own knob (e.g. OPTIMIST_BENCH_TRAINS), which
//                                  wins over both
//
//   const std::size_t accounts = bench::workload_size("OPTIMIST_BENCH_ACCOUNTS", 1'000'000,
//   10'000);
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace bench {

// size_from_environment(name, fallback)
//   The value of `name` as a positive integer, or `fallback` when unset; exits with a message
//   naming the variable when it is malformed.
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

// small_sizes()
//   True when OPTIMIST_BENCH_SIZE=small; any value other than "small" or "full" exits with a
//   message, so that a typo does not silently run the full size.
inline bool small_sizes() {
  const char* text = std::getenv("OPTIMIST_BENCH_SIZE");
  if (text == nullptr || *text == '\0' || std::strcmp(text, "full") == 0) return false;
  if (std::strcmp(text, "small") == 0) return true;
  std::fprintf(stderr, "OPTIMIST_BENCH_SIZE='%s' is neither 'small' nor 'full'\n", text);
  std::exit(2);
}

// workload_size(name, full, small)
//   `name` from the environment if set, else `small` under OPTIMIST_BENCH_SIZE=small, else `full`.
inline std::size_t workload_size(const char* name, std::size_t full, std::size_t small) {
  return size_from_environment(name, small_sizes() ? small : full);
}

}  // namespace bench
