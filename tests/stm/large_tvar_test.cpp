// A tvar of a large T works without overflowing the stack (issue 11 item 11).
//
// get() outside a transaction used to keep about five copies of T on the
// stack (word buffer, byte buffer, the atomic block's result, its optional for
// the hardware path, the return value): a 1.5 MiB T overflowed the main
// thread's 8 MiB stack (shared/repro/r5_huge_tvar.cpp). A T over
// tvar::large_value_bytes now goes through one heap buffer: the test runs
// get() and set(), inside and outside transactions, on a thread whose stack
// (4 MiB) holds only a few copies of its 1 MiB value.
#include <gtest/gtest.h>
#include <pthread.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>

#include "optimist/optimist.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace large_tvar_test {

namespace {

// An odd size: the last word is partly used.
using big_value = std::array<std::uint8_t, (1u << 20) + 3>;
static_assert(sizeof(big_value) > optimist::tvar<big_value>::large_value_bytes);

constexpr std::size_t small_stack = 4u << 20;

// Runs f on a thread with a stack of `bytes` (instead of the 8 MiB default).
template <class F>
void on_small_stack(std::size_t bytes, F f) {
  pthread_attr_t attributes;
  ASSERT_EQ(pthread_attr_init(&attributes), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attributes, bytes), 0);
  pthread_t thread;
  auto body = [](void* p) -> void* {
    (*static_cast<F*>(p))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attributes, body, &f), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attributes);
}

std::unique_ptr<big_value> pattern(std::uint8_t seed) {
  auto v = std::make_unique<big_value>();
  for (std::size_t i = 0; i < v->size(); ++i) (*v)[i] = static_cast<std::uint8_t>(seed + i * 7);
  return v;
}

TEST(LargeTvarTest, GetAndSetOutsideTransactionsUseLittleStack) {
  auto variable = std::make_unique<optimist::tvar<big_value>>(*pattern(1));
  auto out = std::make_unique<big_value>();
  auto second = pattern(2);
  bool first_read_ok = false;
  bool second_read_ok = false;
  on_small_stack(small_stack, [&] {
    *out = variable->get();
    first_read_ok = *out == *pattern(1);
    variable->set(*second);
    *out = *variable;  // the conversion
    second_read_ok = *out == *second;
  });
  EXPECT_TRUE(first_read_ok) << "get() outside a transaction returned a wrong value";
  EXPECT_TRUE(second_read_ok) << "set() then get() outside a transaction lost the value";
}

TEST(LargeTvarTest, GetAndSetInsideTransactionsRollBack) {
  auto variable = std::make_unique<optimist::tvar<big_value>>(*pattern(3));
  auto out = std::make_unique<big_value>();
  auto other = pattern(4);
  bool rolled_back = false;
  bool own_write_seen = false;
  bool committed = false;
  on_small_stack(small_stack, [&] {
    try {
      optimist::atomically([&] {
        variable->set(*other);
        *out = variable->get();
        own_write_seen = *out == *other;
        throw std::runtime_error("roll back");
      });
    } catch (const std::runtime_error&) {
    }
    *out = variable->get();
    rolled_back = *out == *pattern(3);
    optimist::atomically([&] { variable->set(*other); });
    optimist::atomically([&] { *out = variable->get(); });
    committed = *out == *other;
  });
  EXPECT_TRUE(own_write_seen) << "a transaction did not read its own write of a large tvar";
  EXPECT_TRUE(rolled_back) << "a rolled-back set() of a large tvar was kept";
  EXPECT_TRUE(committed) << "a committed set() of a large tvar was lost";
}

}  // namespace

}  // namespace large_tvar_test
