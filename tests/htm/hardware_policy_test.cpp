// The hardware-first policy, driven through the abort-injection seam
// (htm/abort_injection.hpp), so that it is covered on every CPU:
//
//   capacity            -> software at once (one attempt)
//   conflict + retry    -> retried, at most max_attempts (4) times
//   conflict, no retry  -> software at once
//   explicit `locked`   -> retried (a software committer is about to unlock)
//   other explicit code -> software at once
//   per-site learning   -> after a window of 16 failing blocks a site skips
//                          hardware for 64 blocks; other sites are unaffected
//
// Every case also checks that the block's effects happened exactly once (it
// ran in software after the hardware attempts) and runs on several threads at
// once: the policy and the injection are per thread.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "htm/abort_injection.hpp"
#include "htm/hardware_mode.hpp"
#include "htm/site_policy.hpp"
#include "optimist/optimist.hpp"
#include "stm/thread_registry.hpp"
#include "support/threads.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace hardware_policy_test {

namespace {

using optimist::hardware_abort_cause;
using optimist::detail::rtm_abort_capacity;
using optimist::detail::rtm_abort_conflict;
using optimist::detail::rtm_abort_retry;
using optimist::detail::rtm_explicit_status;
using optimist::test::run_threads;

// Counts the attempts it answered, always with the same status.
struct fixed_status {
  unsigned status;
  std::uint64_t answered = 0;
  static unsigned next(void* self) {
    auto* s = static_cast<fixed_status*>(self);
    ++s->answered;
    return s->status;
  }
};

// Installs an abort source on this thread for the scope.
class injected {
 public:
  explicit injected(fixed_status& source) {
    optimist::detail::set_abort_injection(&fixed_status::next, &source);
  }
  ~injected() { optimist::detail::set_abort_injection(nullptr, nullptr); }
  injected(const injected&) = delete;
  injected& operator=(const injected&) = delete;
};

class HardwarePolicy : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    previous_ = optimist::execution_mode_now();
    optimist::set_execution_mode(optimist::execution_mode::htm);
    optimist::detail::forget_hardware_policy();  // descriptors (and their tables) are reused
    optimist::reset_stats();
  }
  void TearDown() override { optimist::set_execution_mode(previous_); }

  // Attempts per block for a status, measured on fresh sites of each thread.
  void expect_attempts_per_block(unsigned status, std::uint64_t expected) {
    const int threads = GetParam();
    optimist::tvar<long> counter{0};
    run_threads(threads, [&](int) {
      fixed_status source{status};
      injected scope(source);
      optimist::atomically([&] { counter = counter.get() + 1; });
      EXPECT_EQ(source.answered, expected);
    });
    EXPECT_EQ(counter.get(), threads);  // each block took effect once, in software
    optimist::statistics s = optimist::stats();
    EXPECT_EQ(s.hardware.attempts, expected * static_cast<std::uint64_t>(threads));
    EXPECT_EQ(s.hardware.commits, 0u);
    EXPECT_EQ(s.hardware.fallbacks, static_cast<std::uint64_t>(threads));
    EXPECT_EQ(s.hardware.aborts(), s.hardware.attempts);
    EXPECT_EQ(s.commits, static_cast<std::uint64_t>(threads));
  }

 private:
  optimist::execution_mode previous_ = optimist::execution_mode::automatic;
};

TEST_P(HardwarePolicy, CapacityGoesToSoftwareAtOnce) {
  expect_attempts_per_block(rtm_abort_capacity, 1);
  EXPECT_EQ(optimist::stats().hardware.aborts_for(hardware_abort_cause::capacity),
            static_cast<std::uint64_t>(GetParam()));
}

TEST_P(HardwarePolicy, CapacityWinsOverTheRetryBit) {
  expect_attempts_per_block(rtm_abort_capacity | rtm_abort_retry, 1);
}

TEST_P(HardwarePolicy, ConflictWithRetryBitIsRetried) {
  expect_attempts_per_block(rtm_abort_conflict | rtm_abort_retry, 4);
  EXPECT_EQ(optimist::stats().hardware.aborts_for(hardware_abort_cause::conflict),
            4u * static_cast<std::uint64_t>(GetParam()));
}

TEST_P(HardwarePolicy, ConflictWithoutRetryBitIsNotRetried) {
  expect_attempts_per_block(rtm_abort_conflict, 1);
}

TEST_P(HardwarePolicy, StatusZeroIsNotRetried) {
  // What a CPU with TSX disabled in firmware answers, every time.
  expect_attempts_per_block(0, 1);
  EXPECT_EQ(optimist::stats().hardware.aborts_for(hardware_abort_cause::other),
            static_cast<std::uint64_t>(GetParam()));
}

TEST_P(HardwarePolicy, LockedBySoftwareCommitterIsRetried) {
  expect_attempts_per_block(rtm_explicit_status(optimist::detail::abort_code_locked), 4);
  EXPECT_EQ(optimist::stats().hardware.aborts_for(hardware_abort_cause::explicit_abort),
            4u * static_cast<std::uint64_t>(GetParam()));
}

TEST_P(HardwarePolicy, OtherExplicitCodesGoToSoftware) {
  for (unsigned code :
       {optimist::detail::abort_code_reserved, optimist::detail::abort_code_inevitable,
        optimist::detail::abort_code_exception, optimist::detail::abort_code_retry}) {
    SCOPED_TRACE("code " + std::to_string(code));
    optimist::detail::forget_hardware_policy();
    optimist::reset_stats();
    expect_attempts_per_block(rtm_explicit_status(code), 1);
  }
}

// Runs `blocks` blocks at one site (one source line) and returns how many
// hardware attempts they made.
std::uint64_t attempts_at_site_a(fixed_status& source, optimist::tvar<long>& v, int blocks) {
  std::uint64_t before = source.answered;
  for (int i = 0; i < blocks; ++i) optimist::atomically([&] { v = v.get() + 1; });
  return source.answered - before;
}
std::uint64_t attempts_at_site_b(fixed_status& source, optimist::tvar<long>& v, int blocks) {
  std::uint64_t before = source.answered;
  for (int i = 0; i < blocks; ++i) optimist::atomically([&] { v = v.get() + 1; });
  return source.answered - before;
}

TEST_P(HardwarePolicy, EachSiteLearnsToStopTrying) {
  const int threads = GetParam();
  optimist::tvar<long> a{0};
  optimist::tvar<long> b{0};
  // The policy belongs to the thread's descriptor, which a thread that starts
  // later may inherit: hold every descriptor until all threads have one.
  std::barrier all_have_a_descriptor(threads);
  run_threads(threads, [&](int) {
    optimist::detail::this_thread_transaction();
    all_have_a_descriptor.arrive_and_wait();
    fixed_status source{rtm_abort_capacity};
    injected scope(source);
    // A window of 16 failing blocks: each tried once.
    EXPECT_EQ(attempts_at_site_a(source, a, 16), 16u);
    // Judged: the next 64 blocks at that site skip hardware...
    EXPECT_EQ(attempts_at_site_a(source, a, 64), 0u);
    // ...while another site still tries.
    EXPECT_EQ(attempts_at_site_b(source, b, 1), 1u);
    // Then the site is tried again for a window, fails, and skips twice as long.
    EXPECT_EQ(attempts_at_site_a(source, a, 16), 16u);
    EXPECT_EQ(attempts_at_site_a(source, a, 128), 0u);
    EXPECT_EQ(attempts_at_site_a(source, a, 1), 1u);
  });
  EXPECT_EQ(a.get(), threads * (16 + 64 + 16 + 128 + 1));
  EXPECT_EQ(b.get(), threads);
  optimist::statistics s = optimist::stats();
  EXPECT_EQ(s.hardware.skipped, static_cast<std::uint64_t>(threads) * (64 + 128));
  EXPECT_EQ(s.hardware.attempts, static_cast<std::uint64_t>(threads) * (16 + 1 + 16 + 1));
}

TEST_P(HardwarePolicy, ExceptionsStillPropagateWithRollback) {
  const int threads = GetParam();
  optimist::tvar<long> v{0};
  run_threads(threads, [&](int) {
    fixed_status source{rtm_explicit_status(optimist::detail::abort_code_exception)};
    injected scope(source);
    EXPECT_THROW(optimist::atomically([&] {
                   v = v.get() + 1;
                   throw std::runtime_error("boom");
                 }),
                 std::runtime_error);
  });
  EXPECT_EQ(v.get(), 0);
}

TEST_P(HardwarePolicy, SoftwareModeNeverTries) {
  optimist::set_execution_mode(optimist::execution_mode::stm);
  optimist::tvar<long> v{0};
  run_threads(GetParam(), [&](int) {
    fixed_status source{rtm_abort_capacity};
    injected scope(source);
    for (int i = 0; i < 10; ++i) optimist::atomically([&] { v = v.get() + 1; });
    EXPECT_EQ(source.answered, 0u);
  });
  EXPECT_EQ(v.get(), 10 * GetParam());
  EXPECT_EQ(optimist::stats().hardware.attempts, 0u);
}

TEST_P(HardwarePolicy, NestedBlocksLeaveTheDecisionToTheOutermost) {
  optimist::tvar<long> v{0};
  run_threads(GetParam(), [&](int) {
    fixed_status source{rtm_abort_capacity};
    injected scope(source);
    optimist::atomically([&] {
      optimist::atomically([&] { v = v.get() + 1; });
      optimist::atomically([&] { v = v.get() + 1; });
    });
    EXPECT_EQ(source.answered, 1u);  // the outermost block's one attempt only
  });
  EXPECT_EQ(v.get(), 2 * GetParam());
}

TEST_P(HardwarePolicy, ThreadOverrideBeatsProcessMode) {
  optimist::set_execution_mode(optimist::execution_mode::stm);
  run_threads(GetParam(), [&](int index) {
    fixed_status source{rtm_abort_capacity};
    injected scope(source);
    optimist::tvar<long> v{0};
    if (index % 2 == 0) {
      optimist::detail::scoped_execution_mode htm(optimist::execution_mode::htm);
      optimist::atomically([&] { v = 1; });
      EXPECT_EQ(source.answered, 1u);
    }
    optimist::atomically([&] { v = 2; });
    EXPECT_EQ(source.answered, index % 2 == 0 ? 1u : 0u);
  });
}

INSTANTIATE_TEST_SUITE_P(Threads, HardwarePolicy, ::testing::Values(1, 2, 4),
                         [](const auto& param) { return std::to_string(param.param) + "threads"; });

TEST(ExecutionMode, ParsesTheThreeModesAndNamesABadOne) {
  EXPECT_EQ(optimist::parse_execution_mode("stm"), optimist::execution_mode::stm);
  EXPECT_EQ(optimist::parse_execution_mode("htm"), optimist::execution_mode::htm);
  EXPECT_EQ(optimist::parse_execution_mode("auto"), optimist::execution_mode::automatic);
  try {
    optimist::parse_execution_mode("fast");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"fast\""), std::string::npos) << e.what();
  }
  for (auto mode : {optimist::execution_mode::stm, optimist::execution_mode::htm,
                    optimist::execution_mode::automatic}) {
    EXPECT_EQ(optimist::parse_execution_mode(optimist::to_string(mode)), mode);
  }
}

TEST(ExecutionMode, KindsFollowTheCpu) {
  using optimist::detail::hardware_kind;
  using optimist::detail::hardware_kind_for;
  EXPECT_EQ(hardware_kind_for(optimist::execution_mode::stm), hardware_kind::none);
  // htm always has a hardware path: the real one, or a simulation of a CPU
  // whose every attempt aborts (where XBEGIN raises SIGILL).
  EXPECT_EQ(hardware_kind_for(optimist::execution_mode::htm),
            optimist::detail::rtm_instruction_executes() ? hardware_kind::real
                                                         : hardware_kind::simulated);
  EXPECT_EQ(hardware_kind_for(optimist::execution_mode::automatic),
            optimist::htm_available() && optimist::detail::rtm_instruction_executes()
                ? hardware_kind::real
                : hardware_kind::none);
  EXPECT_THROW(optimist::set_execution_mode(static_cast<optimist::execution_mode>(7)),
               std::invalid_argument);
}

TEST(ExecutionMode, SimulatedOrRealHardwareKeepsTransactionsCorrect) {
  // No injection: the real path of this CPU (simulated aborts here when TSX is
  // absent). Money is conserved across concurrent transfers either way.
  auto previous = optimist::execution_mode_now();
  optimist::set_execution_mode(optimist::execution_mode::htm);
  constexpr int accounts = 8;
  optimist::tvar<long> balance[accounts];
  for (auto& b : balance) b.set(100);
  optimist::detail::forget_hardware_policy();
  optimist::reset_stats();
  run_threads(2, [&](int index) {
    for (int i = 0; i < 2000; ++i) {
      int from = (i + index) % accounts;
      int to = (i * 7 + 3 + index) % accounts;
      optimist::atomically([&] {
        balance[from] = balance[from].get() - 1;
        balance[to] = balance[to].get() + 1;
      });
    }
  });
  long total = 0;
  for (auto& b : balance) total += b.get();
  EXPECT_EQ(total, 100 * accounts);
  optimist::statistics s = optimist::stats();
  EXPECT_EQ(s.commits, 4000u);
  EXPECT_GT(s.hardware.attempts, 0u);
  EXPECT_EQ(s.hardware.attempts, s.hardware.commits + s.hardware.aborts());
  optimist::set_execution_mode(previous);
}

}  // namespace

}  // namespace hardware_policy_test
