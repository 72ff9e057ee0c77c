// tests/tasks/commit_log.hpp — a transactional append-only log of task ids,
// shared by the task tests that check commit order:
//
//   optimist::test::commit_log log(count);
//   q.add([&log, i] { log.append(i); });   // inside the task's transaction
//   EXPECT_EQ(log.entries(), expected);    // after the run
#pragma once

#include <cstddef>
#include <vector>

#include "optimist/optimist.hpp"

namespace optimist::test {

struct commit_log {
  explicit commit_log(std::size_t capacity) : ids(capacity, -1) {}
  void append(long id) {
    const long at = optimist::load(length);
    optimist::store(ids[static_cast<std::size_t>(at)], id);
    optimist::store(length, at + 1);
  }
  std::vector<long> entries() const {
    return std::vector<long>(ids.begin(), ids.begin() + optimist::load(length));
  }
  std::vector<long> ids;
  long length = 0;
};

}  // namespace optimist::test
