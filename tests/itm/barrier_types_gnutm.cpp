// tests/itm/barrier_types_gnutm.cpp — every kind of barrier of liboptimist_itm.so gives the
// results plain code gives (issue 15, item 2: the barriers' fast paths). Built with -fgnu-tm and
// linked with optimist_itm instead of libitm.
//
// 1. Sub-word isolation, at 1, 2 and 4 threads: each thread increments its own byte, short, int
//    and float of words shared with the other threads, and all of them a shared short, int and
//    double; no increment may be lost (a byte written back as a whole word would lose the
//    neighbours').
// 2. Read after write in one word: a transaction writes some bytes of a word and then reads the
//    whole word's fields back (the log's bytes merged with memory's).
// 3. Wider and misaligned types: long double, _Complex double, __m128, an 8-byte field of a packed
//    struct that straddles two words.
// 4. memcpy, memmove (overlapping, both directions, longer than the barrier's 256-byte chunks)
//    and memset at odd offsets, compared with the same operations on a plain copy.
// OPTIMIST_STRESS (a positive integer) multiplies the increments of 1.
#include <immintrin.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

namespace {

// ---- 1. sub-word isolation ------------------------------------------------------------------

constexpr int max_threads = 4;
struct alignas(8) packed_counters {
  std::uint8_t bytes[8];    // one word: thread t owns bytes[t]
  std::uint16_t shorts[4];  // one word
  std::uint32_t ints[4];    // two words
  float floats[4];          // two words
  std::uint16_t shared16;   // with shared32: one word written by every thread
  std::uint16_t unused;
  std::uint32_t shared32;
  double shared_double;
};
packed_counters g_counters;

void increments(int threads) {
  std::memset(&g_counters, 0, sizeof g_counters);
  const long per_thread = 200 * stress_scale();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([t, per_thread] {
      for (long i = 0; i < per_thread; ++i) {
        __transaction_atomic {
          g_counters.bytes[t] = static_cast<std::uint8_t>(g_counters.bytes[t] + 1);
          g_counters.shorts[t] = static_cast<std::uint16_t>(g_counters.shorts[t] + 3);
          g_counters.ints[t] += 5;
          g_counters.floats[t] += 1.0f;
        }
        __transaction_atomic {
          g_counters.shared16 = static_cast<std::uint16_t>(g_counters.shared16 + 1);
          g_counters.shared32 += 2;
          g_counters.shared_double += 0.5;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  const std::string at = std::to_string(threads) + " threads: ";
  for (int t = 0; t < threads; ++t) {
    const std::string who = at + "thread " + std::to_string(t) + "'s ";
    check(g_counters.bytes[t] == static_cast<std::uint8_t>(per_thread),
          who + "byte " + std::to_string(g_counters.bytes[t]));
    check(g_counters.shorts[t] == static_cast<std::uint16_t>(3 * per_thread),
          who + "short " + std::to_string(g_counters.shorts[t]));
    check(g_counters.ints[t] == static_cast<std::uint32_t>(5 * per_thread),
          who + "int " + std::to_string(g_counters.ints[t]));
    check(g_counters.floats[t] == static_cast<float>(per_thread),
          who + "float " + std::to_string(g_counters.floats[t]));
  }
  for (int t = threads; t < max_threads; ++t) {
    check(g_counters.bytes[t] == 0 && g_counters.shorts[t] == 0 && g_counters.ints[t] == 0 &&
              g_counters.floats[t] == 0.0f,
          at + "a counter no thread owns changed");
  }
  for (int t = max_threads; t < 8; ++t) check(g_counters.bytes[t] == 0, at + "an unused byte");
  const long total = per_thread * threads;
  check(g_counters.shared16 == static_cast<std::uint16_t>(total),
        at + "shared short " + std::to_string(g_counters.shared16));
  check(g_counters.unused == 0, at + "the unused short changed");
  check(g_counters.shared32 == static_cast<std::uint32_t>(2 * total),
        at + "shared int " + std::to_string(g_counters.shared32));
  check(g_counters.shared_double == 0.5 * static_cast<double>(total),
        at + "shared double " + std::to_string(g_counters.shared_double));
}

// ---- 2. read after write in one word ----------------------------------------------------------

struct alignas(8) mixed_word {
  std::uint8_t a, b;
  std::uint16_t c;
  std::uint32_t d;
};
mixed_word g_mixed;
std::uint32_t g_mixed_sum;

void read_after_write() {
  g_mixed = {10, 20, 300, 4000};
  __transaction_atomic {
    g_mixed.a = 1;  // written: bytes 0 and 2-3 come from the log,
    g_mixed.c = 2;  // bytes 1 and 4-7 from memory
    g_mixed_sum = g_mixed.a + g_mixed.b + g_mixed.c + g_mixed.d;
    g_mixed.d = g_mixed_sum;
    g_mixed.b = static_cast<std::uint8_t>(g_mixed.b + g_mixed.a);
  }
  check(g_mixed_sum == 1 + 20 + 2 + 4000, "read after write: sum " + std::to_string(g_mixed_sum));
  check(g_mixed.a == 1 && g_mixed.b == 21 && g_mixed.c == 2 && g_mixed.d == 4023,
        "read after write: fields " + std::to_string(g_mixed.a) + " " + std::to_string(g_mixed.b) +
            " " + std::to_string(g_mixed.c) + " " + std::to_string(g_mixed.d));
}

// ---- 3. wider and misaligned types ------------------------------------------------------------

struct __attribute__((packed)) packed_record {
  char tag[5];
  std::uint64_t value;  // bytes 5..12: straddles two words
  std::uint32_t count;  // bytes 13..16: straddles two words, misaligned
};
struct alignas(16) wide_values {
  long double extended;
  _Complex double complex_value;
  __m128 vector;
  packed_record packed;
};
wide_values g_wide;
wide_values g_wide_copy;

void wide_types() {
  g_wide.extended = 1.25L;
  g_wide.complex_value = 1.0 + 2.0i;
  g_wide.vector = _mm_set_ps(4.0f, 3.0f, 2.0f, 1.0f);
  std::memcpy(g_wide.packed.tag, "abcd", 5);
  g_wide.packed.value = 0x0102030405060708ull;
  g_wide.packed.count = 7;
  for (int i = 0; i < 3; ++i) {
    __transaction_atomic {
      g_wide.extended = g_wide.extended * 2.0L;
      g_wide.complex_value = g_wide.complex_value + (0.5 + 0.25i);
      g_wide.vector = g_wide_copy.vector;  // a whole __m128 read and written
      g_wide.packed.value = g_wide.packed.value + 0x1000000000000001ull;
      g_wide.packed.count = g_wide.packed.count + 1;
      g_wide_copy.vector = g_wide.vector;
    }
    __transaction_atomic {
      g_wide_copy.vector = g_wide.vector;
    }
  }
  check(g_wide.extended == 10.0L, "long double");
  check(__real__ g_wide.complex_value == 2.5 && __imag__ g_wide.complex_value == 2.75,
        "_Complex double");
  float lanes[4];
  std::memcpy(lanes, &g_wide_copy.vector, sizeof lanes);
  check(lanes[0] == 0.0f && lanes[3] == 0.0f, "__m128 copied through transactions");
  check(g_wide.packed.value == 0x0102030405060708ull + 3 * 0x1000000000000001ull,
        "8-byte field across two words");
  check(g_wide.packed.count == 10, "misaligned 4-byte field across two words");
  check(std::memcmp(g_wide.packed.tag, "abcd", 5) == 0, "the packed neighbour bytes");
}

// ---- 4. memcpy, memmove, memset ---------------------------------------------------------------

constexpr std::size_t buffer_size = 700;
unsigned char g_buffer[buffer_size];
unsigned char g_source[buffer_size];
std::size_t g_from, g_to, g_length;  // globals, so that the calls stay library calls
int g_fill;

void fill_pattern(unsigned char* bytes, unsigned seed) {
  for (std::size_t i = 0; i < buffer_size; ++i) bytes[i] = static_cast<unsigned char>(seed + 7 * i);
}

[[gnu::noinline]] void tx_memmove() {
  __transaction_atomic {
    std::memmove(g_buffer + g_to, g_buffer + g_from, g_length);
  }
}
[[gnu::noinline]] void tx_memcpy() {
  __transaction_atomic {
    std::memcpy(g_buffer + g_to, g_source + g_from, g_length);
  }
}
[[gnu::noinline]] void tx_memset() {
  __transaction_atomic {
    std::memset(g_buffer + g_to, g_fill, g_length);
  }
}

void byte_ranges() {
  struct copy_case {
    std::size_t from, to, length;
  };
  const copy_case cases[] = {{0, 0, 0},     {1, 3, 1},     {5, 3, 29},   {3, 5, 29},
                             {8, 16, 64},   {16, 8, 64},   {1, 2, 300},  {2, 1, 300},
                             {0, 390, 300}, {390, 0, 300}, {7, 13, 600}, {13, 7, 600}};
  unsigned char expected[buffer_size];
  unsigned seed = 1;
  for (const copy_case& c : cases) {
    const std::string what = "(from " + std::to_string(c.from) + ", to " + std::to_string(c.to) +
                             ", " + std::to_string(c.length) + " bytes)";
    g_from = c.from;
    g_to = c.to;
    g_length = c.length;
    fill_pattern(g_buffer, ++seed);
    std::memcpy(expected, g_buffer, buffer_size);
    std::memmove(expected + c.to, expected + c.from, c.length);
    tx_memmove();
    check(std::memcmp(g_buffer, expected, buffer_size) == 0, "memmove " + what);

    fill_pattern(g_buffer, ++seed);
    fill_pattern(g_source, ++seed);
    std::memcpy(expected, g_buffer, buffer_size);
    std::memcpy(expected + c.to, g_source + c.from, c.length);
    tx_memcpy();
    check(std::memcmp(g_buffer, expected, buffer_size) == 0, "memcpy " + what);

    fill_pattern(g_buffer, ++seed);
    g_fill = 0xA0 + static_cast<int>(seed % 16);
    std::memcpy(expected, g_buffer, buffer_size);
    std::memset(expected + c.to, g_fill, c.length);
    tx_memset();
    check(std::memcmp(g_buffer, expected, buffer_size) == 0, "memset " + what);
  }
}

}  // namespace

int main() {
  for (int threads : {1, 2, 4}) increments(threads);
  read_after_write();
  wide_types();
  byte_ranges();
  std::printf("itm barrier types: %s\n", g_failed == 0 ? "all checks passed" : "FAILED");
  return g_failed == 0 ? 0 : 1;
}
