// tests/support/heap_bytes.hpp — the bytes the allocator has handed out and
// not had back, for tests that check what a component keeps.
//
//   #if OPTIMIST_TEST_HEAP_BYTES
//   const std::size_t before = optimist::test::heap_bytes_in_use();
//   ... work ...
//   EXPECT_LE(optimist::test::heap_bytes_in_use() - before, bound);
//   #endif
//
// Only with glibc (mallinfo2) and without a sanitizer (which replaces the
// allocator): OPTIMIST_TEST_HEAP_BYTES is 1 there, 0 elsewhere.
#pragma once

#include <cstddef>

// GCC says a sanitizer is on with __SANITIZE_*__, clang with __has_feature.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OPTIMIST_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define OPTIMIST_TEST_SANITIZED 1
#endif
#endif

#if defined(__GLIBC__) && !defined(OPTIMIST_TEST_SANITIZED)
#define OPTIMIST_TEST_HEAP_BYTES 1
#include <malloc.h>
#else
#define OPTIMIST_TEST_HEAP_BYTES 0
#endif

namespace optimist::test {

#if OPTIMIST_TEST_HEAP_BYTES
// Main arena and the others, small blocks and mmapped ones.
inline std::size_t heap_bytes_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}
#endif

}  // namespace optimist::test
