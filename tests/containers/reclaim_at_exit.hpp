// tests/containers/reclaim_at_exit.hpp — destroys what the containers retired before the test
// program ends.
//
// Erased nodes and replaced arrays go to epoch-based reclamation, which destroys them in batches
// on later transactions; what the test threads retired after their last batch waits in the
// reclaimer's lists (orphans, once the thread has exited) and would be reported as leaked by
// LeakSanitizer when the process exits. Every test file of this folder includes this header, so
// one global environment drains those lists after the last test, when no transaction runs.
#pragma once

#include <gtest/gtest.h>

#include "memory/epoch_reclaimer.hpp"

namespace optimist::test {

class reclaim_at_exit : public ::testing::Environment {
 public:
  void TearDown() override { optimist::detail::reclaim_now(); }
};

inline ::testing::Environment* const reclaim_at_exit_environment =
    ::testing::AddGlobalTestEnvironment(new reclaim_at_exit);

}  // namespace optimist::test
