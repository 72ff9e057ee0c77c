// tests/containers/interleave.hpp — do two operations conflict? Run one inside the other.
//
//   int attempts = optimist::test::attempts_around(
//       [&] { map.find(a); },            // in a transaction on this thread ...
//       [&] { map.insert({b, 1}); });    // ... while this one runs and commits on another
//   EXPECT_EQ(attempts, 1);              // 2 if the second wrote what the first read or wrote
//
// attempts_around(first, second)
//   Runs `first` in a transaction; in its first attempt, after `first` has done its accesses
//   and before the commit, runs `second` on another thread (as its own transactions) to its
//   end. The transaction then commits, or re-runs (without `second`) if `second` committed a
//   write to a word it had read (the transaction always writes a word of its own, so even a
//   `first` that only reads is validated at commit). Returns the number of attempts: 1 means the
//   two touched no common word in a conflicting way — a deterministic check, no timing involved.
//   In auto mode the transaction runs in stm: alone, it would run serially and give way to
//   `second` whatever that touches (runtime/stm/serial_mode.hpp), which checks nothing. In
//   serial mode it fails at once (a test that calls it skips itself there).
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "htm/hardware_mode.hpp"
#include "optimist/atomically.hpp"
#include "optimist/mode.hpp"
#include "optimist/tvar.hpp"
#include "support/serial_mode.hpp"

namespace optimist::test {

template <class First, class Second>
int attempts_around(First&& first, Second&& second) {
  // Serial mode runs one block at a time: `second`'s blocks would wait for
  // ours, which waits for them, for ever.
  if (serial_mode_on()) {
    ADD_FAILURE() << "attempts_around stages a conflict between two threads' blocks, which serial "
                     "mode cannot run: skip the test there (OPTIMIST_SKIP_IN_SERIAL_MODE_ONLY)";
    return 0;
  }
  std::optional<optimist::detail::scoped_execution_mode> speculative;
  if (optimist::execution_mode_now() == optimist::execution_mode::automatic)
    speculative.emplace(optimist::execution_mode::stm);
  int attempts = 0;
  optimist::tvar<int> private_word{0};
  optimist::atomically([&] {
    ++attempts;
    first();
    if (attempts == 1) {
      std::thread other([&] { second(); });
      other.join();
    }
    // A write of its own, so that the commit validates the reads: a read-only transaction
    // is serialised at its start and would commit even after a conflicting write.
    private_word.set(attempts);
  });
  return attempts;
}

}  // namespace optimist::test
