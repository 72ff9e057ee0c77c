// optimist/retry.hpp — blocking inside transactions.
//
// optimist::retry() says: this transaction has seen a state it cannot proceed
// with (an empty queue, a balance too low). The attempt is rolled back and the
// thread waits until a committed transaction changes a word it read, then runs
// the block again.
//
//   int item = optimist::atomically([&] {
//     if (queue_size.get() == 0) optimist::retry();
//     return take_one();
//   });
//
// retry()
//   Only inside an atomic block; outside one it throws std::logic_error.
#pragma once

#include "optimist/source_location.hpp"

namespace optimist {

[[noreturn]] void retry(source_location site = source_location::current());

}  // namespace optimist
