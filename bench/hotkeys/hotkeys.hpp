// bench/hotkeys/hotkeys.hpp — hot keys: 90 % of the updates land on 8 of 1024 words.
//
// One operation moves one unit between two distinct words of a table of 1024 (2 reads, 2
// writes, like a bank transfer). Each of the two words is, with probability 90 %, one of 8 hot
// words, and otherwise one of the 1016 others: most operations conflict with each other, the case
// where a lock is hard to beat and where an optimistic engine must not abort itself to a
// standstill. The hot words are spread over the table (every 128th word), so they sit on distinct
// cache lines and distinct ownership records: the contention is on the data, not on false
// sharing. Moves conserve the sum, which is checked after every run.
//
//   hotkeys::table<bench::mutex_access> t;
//   t.reset();
//   bench::xorshift_rng rng(0);
//   t.operate(rng);
#pragma once

#include <cstddef>

#include "../common/xorshift.hpp"

namespace hotkeys {

inline constexpr unsigned word_count = 1024;
inline constexpr unsigned hot_count = 8;
inline constexpr unsigned hot_percent = 90;
inline constexpr unsigned hot_stride = word_count / hot_count;  // hot word i is i * hot_stride
inline constexpr long initial_value = 1000;
inline constexpr long expected_total = static_cast<long>(word_count) * initial_value;

// A word index: hot with probability hot_percent, else uniform over the cold ones.
inline std::size_t pick(bench::xorshift_rng& rng) {
  if (rng.percent(hot_percent)) return rng.below(hot_count) * hot_stride;
  // The cold words: every index that is not a multiple of hot_stride.
  const std::size_t cold = rng.below(word_count - hot_count);
  return cold / (hot_stride - 1) * hot_stride + cold % (hot_stride - 1) + 1;
}

template <class Access>
struct table {
  alignas(64) long word[word_count];

  void reset() {
    for (long& w : word) w = initial_value;
  }

  void move(std::size_t from, std::size_t to) {
    Access::atomic([&] {
      Access::store(word[from], Access::load(word[from]) - 1);
      Access::store(word[to], Access::load(word[to]) + 1);
    });
  }

  void operate(bench::xorshift_rng& rng) {
    const std::size_t from = pick(rng);
    std::size_t to = pick(rng);
    while (to == from) to = pick(rng);
    move(from, to);
  }

  long total_unsynchronised() const {
    long total = 0;
    for (long w : word) total += w;
    return total;
  }
};

}  // namespace hotkeys
