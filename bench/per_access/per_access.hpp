// bench/per_access/per_access.hpp — what one transaction and one access cost.
//
// A transaction touches `words` consecutive 8-byte words (1, 2, 4, ... 64), either reading them
// all (read-only: a sum) or reading and writing each (read-write: +1 each). Each thread works in
// its own region of the array, so transactions of different threads never conflict: what is
// measured is the model's own cost per transaction and per access (and, for the locks, the
// serialisation), not contention. Every model runs exactly this code.
//
//   per_access::words_array<bench::optimist_access> a;
//   a.reset();
//   long sum = a.read_only(/*region=*/0, /*first=*/100, /*count=*/8);   // 8: every word is 1
#pragma once

#include <cstddef>

namespace per_access {

inline constexpr std::size_t max_words = 64;
// Words per thread's region: 8 KiB, so the working set of every model stays in the L1 cache.
inline constexpr std::size_t region_words = 1024;
// Regions for up to this many threads; more threads share regions (and may then conflict).
inline constexpr std::size_t regions = 64;

template <class Access>
struct words_array {
  alignas(64) long word[regions * region_words];

  void reset() {
    for (long& w : word) w = 1;
  }

  // Sum of words [first, first + count) of the region `region`.
  long read_only(std::size_t region, std::size_t first, std::size_t count) {
    const long* base = word + (region % regions) * region_words + first;
    return Access::atomic([&] {
      long sum = 0;
      for (std::size_t i = 0; i < count; ++i) sum += Access::load(base[i]);
      return sum;
    });
  }

  // Adds 1 to each of those words.
  void read_write(std::size_t region, std::size_t first, std::size_t count) {
    long* base = word + (region % regions) * region_words + first;
    Access::atomic([&] {
      for (std::size_t i = 0; i < count; ++i) Access::store(base[i], Access::load(base[i]) + 1);
    });
  }

  // The sum of one region, once nothing writes it any more.
  long region_total_unsynchronised(std::size_t region) const {
    const long* base = word + (region % regions) * region_words;
    long total = 0;
    for (std::size_t i = 0; i < region_words; ++i) total += base[i];
    return total;
  }
};

}  // namespace per_access
