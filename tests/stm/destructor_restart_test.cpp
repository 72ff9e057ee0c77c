// A destructor that accesses transactional memory as an atomic block's body
// returns normally (issue 11 item 14).
//
// If that access meets a conflict, the block must restart, and the engine
// restarts by throwing restart_signal; a destructor is noexcept, so C++ calls
// std::terminate. That cannot be made an ordinary error, but the program must
// not die with only "terminate called after throwing an instance of
// 'optimist::detail::restart_signal'": it names the rule broken and the block.
// Without a conflict the same destructor simply reads, and while an exception
// unwinds the block, destructors get answers instead of a second exception.
#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

#include "optimist/optimist.hpp"
#include "support/serial_mode.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace destructor_restart_test {

namespace {

struct reads_when_destroyed {
  optimist::tvar<long>& variable;
  long* seen;
  ~reads_when_destroyed() { *seen = variable.get(); }
};

// The body reads `guarded`, then another thread commits to both variables, so
// the destructor's read of `read_at_exit` is newer than the snapshot and the
// snapshot cannot be extended: the attempt must restart, from the destructor.
void destructor_meets_conflict() {
  optimist::tvar<long> read_at_exit{0};
  optimist::tvar<long> guarded{0};
  long seen = -1;
  optimist::atomically([&] {
    reads_when_destroyed guard{read_at_exit, &seen};
    (void)guarded.get();
    std::thread([&] {
      read_at_exit.set(1);
      guarded.set(1);
    }).join();
  });
}

TEST(DestructorRestartDeathTest, ConflictInDestructorAtNormalEndNamesTheRule) {
  OPTIMIST_SKIP_IN_SERIAL_MODE(
      "the block waits for a thread whose serial block waits for it (a staged conflict)");
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(destructor_meets_conflict(),
               "a restart after a conflict in the atomic block at "
               ".*destructor_restart_test\\.cpp:[0-9]+.*\n"
               ".*rule broken: a destructor that runs when an atomic block's body returns "
               "normally");
}

TEST(DestructorRestartTest, DestructorWithoutConflictReads) {
  optimist::tvar<long> variable{42};
  long seen = -1;
  optimist::atomically([&] { reads_when_destroyed guard{variable, &seen}; });
  EXPECT_EQ(seen, 42);
}

TEST(DestructorRestartTest, DestructorWhileUnwindingGetsAnAnswer) {
  optimist::tvar<long> variable{7};
  long seen = -1;
  EXPECT_THROW(optimist::atomically([&] {
                 reads_when_destroyed guard{variable, &seen};
                 variable.set(8);
                 throw std::runtime_error("leave the block");
               }),
               std::runtime_error);
  EXPECT_EQ(seen, 8) << "the destructor sees the attempt's own write while it unwinds";
  EXPECT_EQ(variable.get(), 7);
}

}  // namespace

}  // namespace destructor_restart_test
