// A misaligned 8-byte word is refused, never read torn (issue 11 item 13).
//
// optimist::load / optimist::store take the one-word path for an 8-byte type
// whose alignment is 8. A field of a #pragma pack struct has such a type but
// an address that is not a multiple of 8: it spans two words, the orec check
// covered only the first, and a transaction could read it torn
// (shared/repro/r3_packed_torn.cpp). Every such access, inside or outside a
// transaction, now throws std::invalid_argument naming the address and the
// alignment required, and a transaction it leaves is rolled back. The
// enclosing packed struct, loaded or stored whole, still works.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "optimist/optimist.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace misaligned_access_test {

namespace {

#pragma pack(push, 1)
struct packed_record {
  char tag;
  long value;  // bytes 1..8: spans two words when the record is 8-aligned
};
#pragma pack(pop)

static_assert(alignof(long) == 8 && sizeof(long) == 8, "the one-word path needs such a type");

alignas(64) packed_record g_record{'r', 5};

std::string address_of(const void* p) {
  char text[32];
  std::snprintf(text, sizeof text, "%p", p);
  return text;
}

// The message must name the problem, the address and the alignment required.
template <class F>
void expect_refused(F&& access, const void* address) {
  try {
    access();
    ADD_FAILURE() << "a misaligned 8-byte access at " << address << " was not refused";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("misaligned"), std::string::npos) << what;
    EXPECT_NE(what.find(address_of(address)), std::string::npos) << what;
    EXPECT_NE(what.find("multiple of 8"), std::string::npos) << what;
    EXPECT_NE(what.find("packed struct"), std::string::npos) << what;
  }
}

TEST(MisalignedAccessTest, LoadOfPackedFieldIsRefused) {
  long& field = g_record.value;
  ASSERT_NE(reinterpret_cast<std::uintptr_t>(&field) % 8, 0u);
  expect_refused([&] { (void)optimist::load(field); }, &field);  // outside a transaction
  expect_refused([&] { optimist::atomically([&] { (void)optimist::load(field); }); }, &field);
}

TEST(MisalignedAccessTest, StoreOfPackedFieldIsRefusedAndRolledBack) {
  long& field = g_record.value;
  optimist::tvar<long> other{1};
  expect_refused([&] { optimist::store(field, 9L); }, &field);
  expect_refused(
      [&] {
        optimist::atomically([&] {
          other.set(2);
          optimist::store(field, 9L);
        });
      },
      &field);
  EXPECT_EQ(other.get(), 1) << "the refused transaction's other writes were committed";
  // Copied out first: EXPECT_EQ binds a reference to its operands, and the field is misaligned
  // (gtest's comparison is shared with other files that keep UBSan's alignment check).
  const long after_refusal = optimist::load(g_record).value;
  EXPECT_EQ(after_refusal, 5) << "the refused store changed the field";
}

TEST(MisalignedAccessTest, WholePackedStructStillWorks) {
  optimist::atomically([&] {
    packed_record r = optimist::load(g_record);
    r.value += 1;
    optimist::store(g_record, r);
  });
  const long after_update = optimist::load(g_record).value;
  EXPECT_EQ(after_update, 6);
  optimist::store(g_record, packed_record{'r', 5});
}

}  // namespace

}  // namespace misaligned_access_test
