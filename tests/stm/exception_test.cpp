// Exceptions and atomic blocks: an exception escaping a block rolls back
// exactly that block's effects and reaches the caller unchanged (same type,
// same message, same object identity); an inner block that throws is rolled
// back alone and the outer one can catch and go on; running out of memory for
// the write set is an ordinary std::bad_alloc that leaves nothing half done.
//
// Every case runs on GetParam() threads at once, each on its own variables
// or, where stated, on shared ones, so the rollback paths also run while
// other threads commit.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "htm/hardware_mode.hpp"
#include "optimist/optimist.hpp"
#include "stm/write_log.hpp"
#include "support/serial_mode.hpp"
#include "support/stress.hpp"
#include "support/think_time.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace exception_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;

// A user exception type that is not derived from std::exception.
struct overdraft {
  int account;
  long missing;
  std::string note;
};

// Derived from a standard exception, to check that nothing slices it.
class audit_failure : public std::logic_error {
 public:
  audit_failure(const std::string& what, int ledger) : std::logic_error(what), ledger_(ledger) {}
  int ledger() const { return ledger_; }

 private:
  int ledger_;
};

struct inner_failure {
  int level;
};

// Resets the write-log entry limit even if an assertion leaves the test early.
struct entry_limit_for_testing {
  explicit entry_limit_for_testing(std::size_t limit) {
    optimist::detail::write_log::set_entry_limit_for_testing(limit);
  }
  ~entry_limit_for_testing() {
    optimist::detail::write_log::set_entry_limit_for_testing(
        std::numeric_limits<std::size_t>::max());
  }
};

std::vector<std::unique_ptr<optimist::tvar<long>>> make_tvars(std::size_t n, long value) {
  std::vector<std::unique_ptr<optimist::tvar<long>>> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(std::make_unique<optimist::tvar<long>>(value));
  return v;
}

class ExceptionTest : public ::testing::TestWithParam<int> {};

TEST_P(ExceptionTest, PartialEffectsAreUndoneWhenAnExceptionEscapes) {
  const int threads = GetParam();
  const long rounds = scaled(2000);
  // Shared by all threads: committed rounds add 1 to `committed` and move
  // `a`/`b` together; the throwing rounds also wrote to all three.
  optimist::tvar<long> committed{0};
  optimist::tvar<long> a{0};
  optimist::tvar<long> b{0};
  std::vector<long> plain(static_cast<std::size_t>(threads), 0);
  std::atomic<long> caught{0};
  std::atomic<long> wrong{0};

  {
    optimist::test::watchdog guard("throwing out of half the transactions");
    run_threads(threads, [&](int index) {
      long& mine = plain[static_cast<std::size_t>(index)];
      for (long round = 0; round < rounds; ++round) {
        const bool fail = round % 2 == 1;
        try {
          optimist::atomically([&] {
            committed.set(committed.get() + 1);
            a.set(a.get() + 5);
            optimist::store(mine, optimist::load(mine) + 1);
            if (fail) throw overdraft{index, round, "round " + std::to_string(round)};
            b.set(b.get() + 5);
          });
        } catch (const overdraft& e) {
          caught.fetch_add(1);
          if (!fail || e.account != index || e.missing != round ||
              e.note != "round " + std::to_string(round)) {
            wrong.fetch_add(1);
          }
        }
      }
    });
  }
  const long expected_commits = threads * (rounds / 2);
  EXPECT_EQ(wrong.load(), 0) << "an exception arrived altered or from the wrong round";
  EXPECT_EQ(caught.load(), threads * (rounds - rounds / 2));
  EXPECT_EQ(committed.get(), expected_commits);
  EXPECT_EQ(a.get(), 5 * expected_commits) << "a write before the throw survived the rollback";
  EXPECT_EQ(b.get(), 5 * expected_commits);
  for (long v : plain) EXPECT_EQ(v, rounds / 2);
}

TEST_P(ExceptionTest, ExactTypeAndMessageReachTheCaller) {
  run_threads(GetParam(), [](int index) {
    optimist::tvar<long> v{7};

    try {
      optimist::atomically([&] {
        v.set(8);
        throw std::runtime_error("account " + std::to_string(index) + " is frozen");
      });
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "account " + std::to_string(index) + " is frozen");
    }

    try {
      optimist::atomically([&] {
        v.set(9);
        throw audit_failure("ledger mismatch", index);
      });
      ADD_FAILURE() << "no exception";
    } catch (const audit_failure& e) {  // not sliced to std::logic_error
      EXPECT_STREQ(e.what(), "ledger mismatch");
      EXPECT_EQ(e.ledger(), index);
    }

    try {
      optimist::atomically([&] {
        v.set(10);
        throw overdraft{index, 250, "no funds"};
      });
      ADD_FAILURE() << "no exception";
    } catch (const overdraft& e) {
      EXPECT_EQ(e.account, index);
      EXPECT_EQ(e.missing, 250);
      EXPECT_EQ(e.note, "no funds");
    }

    // A non-class type and the very same object (not a copy of it).
    try {
      optimist::atomically([&]() -> long { throw 42; });
      ADD_FAILURE() << "no exception";
    } catch (int e) {
      EXPECT_EQ(e, 42);
    }
    auto original = std::make_exception_ptr(std::out_of_range("the original"));
    try {
      optimist::atomically([&] {
        v.set(11);
        std::rethrow_exception(original);
      });
      ADD_FAILURE() << "no exception";
    } catch (const std::out_of_range& e) {
      try {
        std::rethrow_exception(original);
      } catch (const std::out_of_range& same) {
        EXPECT_EQ(&e, &same) << "the block replaced the exception object";
      }
    }

    EXPECT_EQ(v.get(), 7) << "a write of a throwing block was committed";
    // The thread's transaction state is clean afterwards.
    EXPECT_FALSE(optimist::in_transaction());
    EXPECT_EQ(optimist::atomically([&] { return v.get() + 1; }), 8);
  });
}

TEST_P(ExceptionTest, NestedBlockThrowsOuterCatchesAndContinues) {
  run_threads(GetParam(), [](int) {
    for (long round = 0; round < scaled(200); ++round) {
      optimist::tvar<long> a{1};
      optimist::tvar<long> b{2};
      optimist::tvar<long> c{3};
      optimist::tvar<long> d{4};
      long inner_saw_a = 0;
      long outer_saw_a_after = 0;
      long outer_saw_b_after = 0;
      bool caught = false;

      optimist::atomically([&] {
        a.set(10);  // before the inner block: must commit
        try {
          optimist::atomically([&] {
            inner_saw_a = a.get();  // the outer block's write
            b.set(20);
            a.set(100);  // overwrites an outer write: must be restored
            throw inner_failure{2};
          });
        } catch (const inner_failure& e) {
          caught = e.level == 2;
        }
        outer_saw_a_after = a.get();
        outer_saw_b_after = b.get();
        c.set(30);  // after the inner block: must commit
      });

      EXPECT_TRUE(caught);
      EXPECT_EQ(inner_saw_a, 10) << "the nested block did not see its parent's write";
      EXPECT_EQ(outer_saw_a_after, 10) << "the inner rollback did not restore the outer write";
      EXPECT_EQ(outer_saw_b_after, 2) << "the inner write survived its rollback";
      EXPECT_EQ(a.get(), 10);
      EXPECT_EQ(b.get(), 2);
      EXPECT_EQ(c.get(), 30);
      EXPECT_EQ(d.get(), 4);
      if (::testing::Test::HasFailure()) return;
    }
  });
}

TEST_P(ExceptionTest, NestedBlockReadsSeeOuterWritesAndCommitIntoIt) {
  run_threads(GetParam(), [](int) {
    optimist::tvar<long> a{0};
    optimist::tvar<long> b{0};
    struct pair_of_floats {
      float left;
      float right;
    } packed{1.0f, 2.0f};

    optimist::atomically([&] {
      a.set(5);
      optimist::store(packed.left, 1.5f);
      optimist::atomically([&] {
        EXPECT_EQ(a.get(), 5);
        pair_of_floats seen = optimist::load(packed);  // part from the log, part from memory
        EXPECT_EQ(seen.left, 1.5f);
        EXPECT_EQ(seen.right, 2.0f);
        b.set(a.get() + 1);
        optimist::store(packed.right, 2.5f);
      });
      EXPECT_EQ(b.get(), 6) << "a committed nested write is not visible to its parent";
      EXPECT_EQ(optimist::load(packed.right), 2.5f);
      // Nothing is visible outside before the outermost commit.
      EXPECT_TRUE(optimist::in_transaction());
    });
    EXPECT_EQ(a.get(), 5);
    EXPECT_EQ(b.get(), 6);
    EXPECT_EQ(optimist::load(packed).left, 1.5f);
    EXPECT_EQ(optimist::load(packed).right, 2.5f);
  });
}

TEST_P(ExceptionTest, ThrowAfterWritingManyWordsLeavesAllUnchanged) {
  run_threads(GetParam(), [](int index) {
    // Enough words for the redo log to switch from linear scan to its hash
    // index, plus odd bytes that share words with untouched neighbours.
    constexpr std::size_t words = 3000;
    auto tvars = make_tvars(words / 10, index);
    std::vector<long> plain(words, index);
    std::vector<unsigned char> bytes(words, static_cast<unsigned char>(index));

    for (int round = 0; round < 3; ++round) {
      try {
        optimist::atomically([&] {
          for (auto& t : tvars) t->set(t->get() + 1000);
          for (std::size_t i = 0; i < words; ++i) optimist::store(plain[i], -1L);
          for (std::size_t i = 0; i < words; i += 3) optimist::store(bytes[i], 0xEE);
          // Read back through the log: the transaction sees its own writes.
          for (std::size_t i = 0; i < words; i += 97) {
            if (optimist::load(plain[i]) != -1) throw std::logic_error("lost own write");
          }
          throw std::length_error("too many words");
        });
        ADD_FAILURE() << "no exception";
      } catch (const std::length_error& e) {
        EXPECT_STREQ(e.what(), "too many words");
      }
    }
    for (auto& t : tvars) EXPECT_EQ(t->get(), index);
    std::size_t changed = 0;
    for (long v : plain) changed += v != index;
    for (unsigned char v : bytes) changed += v != static_cast<unsigned char>(index);
    EXPECT_EQ(changed, 0u) << "words written before the throw leaked into memory";
  });
}

// The write set outgrowing memory (simulated by the write log's test seam):
// std::bad_alloc reaches the caller, nothing is applied, and the thread can
// run big transactions again once memory is back.
TEST_P(ExceptionTest, BadAllocFromAnOversizedWriteSetAppliesNothing) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("the write-log size limit");
  constexpr std::size_t limit = 100;
  std::vector<std::vector<long>> arrays(static_cast<std::size_t>(GetParam()),
                                        std::vector<long>(2 * limit, 0));
  std::atomic<long> bad_allocs{0};
  std::atomic<long> other_exceptions{0};
  std::atomic<long> returned{0};
  {
    entry_limit_for_testing scope(limit);
    run_threads(GetParam(), [&](int index) {
      // The seam limits the software write log. A hardware transaction keeps
      // no log (its 200 words fit the CPU's buffers and it commits), so with
      // real RTM (htm and auto modes) the blocks must run in software here.
      optimist::detail::scoped_execution_mode software(optimist::execution_mode::stm);
      std::vector<long>& words = arrays[static_cast<std::size_t>(index)];
      try {
        optimist::atomically([&] {
          for (long& w : words) optimist::store(w, 7L);
        });
        returned.fetch_add(1);
      } catch (const std::bad_alloc&) {
        bad_allocs.fetch_add(1);
      } catch (...) {
        other_exceptions.fetch_add(1);
      }
      EXPECT_FALSE(optimist::in_transaction());

      // Nested: the inner block runs out, the outer one catches and commits
      // what it wrote before and after.
      bool inner_failed = false;
      optimist::atomically([&] {
        optimist::store(words[0], 1L);
        try {
          optimist::atomically([&] {
            for (long& w : words) optimist::store(w, 9L);
          });
        } catch (const std::bad_alloc&) {
          inner_failed = true;
        }
        optimist::store(words[1], 2L);
      });
      EXPECT_TRUE(inner_failed);
      EXPECT_EQ(words[0], 1);
      EXPECT_EQ(words[1], 2);
      for (std::size_t i = 2; i < words.size(); ++i) {
        if (words[i] != 0) {
          ADD_FAILURE() << "word " << i << " of the failed inner block was applied";
          break;
        }
      }
    });
  }
  EXPECT_EQ(bad_allocs.load(), GetParam());
  EXPECT_EQ(other_exceptions.load(), 0);
  EXPECT_EQ(returned.load(), 0);

  // The limit is gone: the same transaction commits in full.
  run_threads(GetParam(), [&](int index) {
    std::vector<long>& words = arrays[static_cast<std::size_t>(index)];
    optimist::atomically([&] {
      for (long& w : words) optimist::store(w, 7L);
    });
    for (long w : words) {
      if (w != 7) {
        ADD_FAILURE() << "a full-size write set did not commit after the limit was lifted";
        break;
      }
    }
  });
}

// An inevitable transaction has done its irrevocable part, but its
// transactional writes still roll back when an exception escapes — and it
// gives the inevitability token back (otherwise the next inevitable block,
// on any thread, would wait forever).
TEST_P(ExceptionTest, ExceptionFromAnInevitableBlockRollsBackAndReleasesTheToken) {
  optimist::tvar<long> shared{0};
  std::atomic<long> side_effects{0};
  const long rounds = scaled(200);
  optimist::test::watchdog guard("alternating throwing and committing inevitable blocks");
  run_threads(GetParam(), [&](int) {
    for (long round = 0; round < rounds; ++round) {
      try {
        optimist::atomically([&] {
          shared.set(shared.get() + 1);
          optimist::become_inevitable();
          side_effects.fetch_add(1);
          shared.set(shared.get() + 1);
          if (round % 2 == 0) throw std::runtime_error("after the side effect");
        });
      } catch (const std::runtime_error&) {
      }
    }
  });
  EXPECT_EQ(side_effects.load(), GetParam() * rounds);
  EXPECT_EQ(shared.get(), 2 * GetParam() * (rounds / 2));
}

// RAII inside a transaction: a guard's destructor reads and writes tvars. It
// runs at the end of every attempt — also while an attempt that lost a
// conflict unwinds (restart_signal) or a user exception unwinds it. Those
// runs must neither terminate the program (a barrier throwing during
// unwinding) nor leave effects: only the committed attempts' increments count.
struct count_on_exit {
  optimist::tvar<long>& counter;
  ~count_on_exit() noexcept(false) { counter.set(counter.get() + 1); }
};

TEST_P(ExceptionTest, DestructorsMayUseTheTransactionWhileItUnwinds) {
  const int threads = GetParam();
  const long rounds = scaled(5000);
  optimist::tvar<long> x{0};
  optimist::tvar<long> exits{0};
  std::atomic<long> thrown{0};
  {
    optimist::test::watchdog guard("destructors that use the transaction being unwound");
    run_threads(threads, [&](int index) {
      for (long i = 0; i < rounds; ++i) {
        try {
          optimist::atomically([&] {
            count_on_exit on_exit{exits};
            const long seen = x.get();
            optimist::test::think(5);
            x.set(seen + 1);
            if ((i + index) % 5 == 0) throw std::runtime_error("unwind me");
          });
        } catch (const std::runtime_error&) {
          thrown.fetch_add(1);
        }
      }
    });
  }
  const long committed = threads * rounds - thrown.load();
  EXPECT_EQ(x.get(), committed);
  EXPECT_EQ(exits.get(), committed) << "a destructor's write survived its attempt's rollback";
}

// A nested block that became inevitable and then throws: its writes are
// rolled back alone, the transaction stays inevitable, and the enclosing
// block's writes before and after commit.
TEST_P(ExceptionTest, InevitableNestedBlockThatThrowsRollsBackAlone) {
  optimist::tvar<long> a{0}, b{0}, c{0};
  std::atomic<long> side_effects{0};
  const long rounds = scaled(200);
  run_threads(GetParam(), [&](int) {
    for (long i = 0; i < rounds; ++i) {
      optimist::atomically([&] {
        a.set(a.get() + 1);
        try {
          optimist::atomically([&] {
            optimist::become_inevitable();
            side_effects.fetch_add(1);
            b.set(b.get() + 1);
            throw inner_failure{2};
          });
        } catch (const inner_failure&) {
        }
        c.set(c.get() + 1);
      });
    }
  });
  const long total = GetParam() * rounds;
  EXPECT_EQ(side_effects.load(), total) << "an inevitable block ran its side effect twice";
  EXPECT_EQ(a.get(), total);
  EXPECT_EQ(b.get(), 0);
  EXPECT_EQ(c.get(), total);
}

INSTANTIATE_TEST_SUITE_P(Threads, ExceptionTest, ::testing::Values(1, 2, 4));

// A block's result is copied out of atomically() after its commit (a type without a move
// constructor: GCC 12 cannot elide that copy; Clang 14 can, and the test is skipped). A copy that
// throws there comes after the nested block's commit: it must not undo the enclosing block's level.
// It went to block_exception, which took the enclosing block for the outermost one and discarded
// its whole attempt (`a` lost, `b` committed on its own).
struct copy_throws_when_told {
  static inline int copies_left = std::numeric_limits<int>::max();
  long v;
  explicit copy_throws_when_told(long value) : v(value) {}
  copy_throws_when_told(const copy_throws_when_told& other) : v(other.v) {
    if (copies_left-- == 0) throw std::runtime_error("copy");
  }
};

TEST(ResultCopyAfterCommit, AThrowingCopyLeavesTheEnclosingBlockWhole) {
  optimist::tvar<long> a{0}, b{0}, c{0};
  bool caught = false;
  optimist::atomically([&] {
    a.set(1);
    copy_throws_when_told::copies_left = 0;
    try {
      copy_throws_when_told r = optimist::atomically([&] {
        c.set(5);
        return copy_throws_when_told(7);
      });
      (void)r;
    } catch (const std::runtime_error&) {
      caught = true;
    }
    copy_throws_when_told::copies_left = std::numeric_limits<int>::max();
    b.set(1);
  });
  // Clang elides the copy (the return value is constructed in place): nothing threw.
  if (!caught) GTEST_SKIP() << "this compiler made no copy of the result after the commit";
  EXPECT_EQ(a.get(), 1) << "the enclosing block's write was lost";
  EXPECT_EQ(b.get(), 1);
  EXPECT_EQ(c.get(), 5) << "the nested block committed before its result was copied";
  EXPECT_FALSE(optimist::in_transaction());
}

}  // namespace

}  // namespace exception_test
