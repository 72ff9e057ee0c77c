// tests/support/white_box.hpp — looks inside the runtime, for the tests of
// auto mode and give-way (tests/stm/auto_mode_test.cpp, give_way_test.cpp),
// which check which mode an attempt ran in and how many threads the gate's
// census counts.
#pragma once

#include "stm/thread_census.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"

namespace optimist::test {

// Threads holding a descriptor (the census that auto mode's "alone" reads).
inline long threads_with_descriptors() {
  return static_cast<long>(optimist::detail::census_now() & optimist::detail::census_count_mask);
}

// The mode the running (outermost) attempt runs in; hardware outside one.
inline optimist::detail::tx_mode running_mode() {
  const optimist::detail::transaction* tx = optimist::detail::tls_current;
  return tx != nullptr ? tx->mode : optimist::detail::tx_mode::hardware;
}

}  // namespace optimist::test
