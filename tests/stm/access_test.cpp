// Transactional access to ordinary memory and tvars of every shape.
//
// Conflicts are detected per aligned 8-byte word, but only the bytes of the
// object itself may be read or written: two floats packed in one word, each
// updated by its own thread, must never clobber each other, inside or outside
// transactions. Objects that straddle words (odd sizes, unaligned through
// #pragma pack) and tvars of several words are always read whole, never torn:
// all their words come from one snapshot. A transaction that wrote part of a
// word and reads the whole word sees its own bytes and memory's other bytes.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "optimist/optimist.hpp"
#include "support/serial_mode.hpp"
#include "support/stress.hpp"
#include "support/think_time.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace access_test {

namespace {

using optimist::test::run_threads;
using optimist::test::scaled;

// ---- packed values sharing words ---------------------------------------------

// 4 words of two floats each: thread t owns float t; the floats of threads
// that do not exist in this run (and one sentinel) must keep their value.
struct alignas(8) float_pair {
  float value[2];
};
static_assert(sizeof(float_pair) == 8);

class AccessTest : public ::testing::TestWithParam<int> {};

TEST_P(AccessTest, PackedFloatsUpdatedByDifferentThreadsAreNotClobbered) {
  const int threads = GetParam();
  const long increments = scaled(6000);  // stays exact in a float (< 2^24)
  std::array<float_pair, 4> pairs{};
  constexpr float untouched = 1234.5f;
  for (auto& p : pairs) p.value[0] = p.value[1] = untouched;
  for (int t = 0; t < threads; ++t) pairs[static_cast<std::size_t>(t / 2)].value[t % 2] = 0.0f;
  std::atomic<long> wrong_own_value{0};

  {
    optimist::test::watchdog guard("incrementing neighbouring floats");
    run_threads(threads, [&](int index) {
      float& mine = pairs[static_cast<std::size_t>(index / 2)].value[index % 2];
      float expected = 0.0f;
      for (long i = 0; i < increments; ++i) {
        switch (i % 4) {
          case 0:  // a transaction of its own (masked standalone access)
            optimist::store(mine, optimist::load(mine) + 1.0f);
            break;
          case 1:  // a transaction that also reads the neighbour's half
            optimist::atomically([&] {
              const float_pair whole = optimist::load(pairs[static_cast<std::size_t>(index / 2)]);
              const float v = whole.value[index % 2];
              optimist::test::think(5);
              optimist::store(mine, v + 1.0f);
            });
            break;
          case 2: {  // a rolled-back attempt first: its write must not land
            try {
              optimist::atomically([&] {
                optimist::store(mine, -100.0f);
                throw std::runtime_error("undo");
              });
            } catch (const std::runtime_error&) {
            }
            optimist::atomically([&] { optimist::store(mine, optimist::load(mine) + 1.0f); });
            break;
          }
          default:  // several words in one transaction: every pair's own float
            optimist::atomically([&] {
              optimist::store(mine, optimist::load(mine) + 1.0f);
              for (auto& p : pairs) (void)optimist::load(p);
            });
            break;
        }
        expected += 1.0f;
        if (optimist::load(mine) != expected) wrong_own_value.fetch_add(1);
      }
    });
  }
  EXPECT_EQ(wrong_own_value.load(), 0) << "a thread's own float changed under it";
  for (int f = 0; f < 8; ++f) {
    const float v = pairs[static_cast<std::size_t>(f / 2)].value[f % 2];
    if (f < threads) {
      EXPECT_EQ(v, static_cast<float>(increments)) << "float " << f << " lost increments";
    } else {
      EXPECT_EQ(v, untouched) << "float " << f << " (nobody's) was clobbered";
    }
  }
}

// The same with 2-byte fields, four to a word and up to four writers in it.
TEST_P(AccessTest, PackedShortsUpdatedByDifferentThreadsAreNotClobbered) {
  const int threads = GetParam();
  const long increments = scaled(6000);
  struct alignas(8) four_shorts {
    std::uint16_t value[4];
  };
  four_shorts word{{0xAAAA, 0xAAAA, 0xAAAA, 0xAAAA}};
  for (int t = 0; t < threads; ++t) word.value[t] = 0;
  run_threads(threads, [&](int index) {
    std::uint16_t& mine = word.value[index];
    for (long i = 0; i < increments; ++i) {
      if (i % 2 == 0) {
        optimist::store(mine, static_cast<std::uint16_t>(optimist::load(mine) + 1));
      } else {
        optimist::atomically([&] {
          const std::uint16_t v = optimist::load(mine);
          optimist::test::think(5);
          optimist::store(mine, static_cast<std::uint16_t>(v + 1));
        });
      }
    }
  });
  for (int f = 0; f < 4; ++f) {
    EXPECT_EQ(word.value[f], f < threads ? static_cast<std::uint16_t>(increments) : 0xAAAA)
        << "field " << f;
  }
}

// ---- odd-sized, unaligned objects -----------------------------------------------

#pragma pack(push, 1)
template <std::size_t N>
struct odd_bytes {
  std::uint8_t b[N];
};
// One byte of lead-in knocks every element off alignment; elements then
// straddle word boundaries at varying offsets.
template <std::size_t N, std::size_t Count>
struct unaligned_row {
  std::uint8_t lead;
  odd_bytes<N> items[Count];
  std::uint8_t trail;
};
#pragma pack(pop)

template <std::size_t N>
odd_bytes<N> filled(std::uint8_t v) {
  odd_bytes<N> o;
  std::memset(o.b, v, N);
  return o;
}

template <std::size_t N>
bool uniform(const odd_bytes<N>& o) {
  for (std::size_t i = 1; i < N; ++i) {
    if (o.b[i] != o.b[0]) return false;
  }
  return true;
}

// Thread t owns items t, t + threads, ...: it writes each of them whole with
// one byte value repeated; every thread reads any item, inside and outside
// transactions, and a torn read (bytes of two different writes) shows as
// non-uniform bytes. The lead and trail bytes, and items nobody owns in this
// run, are never written.
template <std::size_t N>
void run_odd_sized(int threads, long rounds) {
  constexpr std::size_t count = 8;
  static_assert(sizeof(unaligned_row<N, count>) == 2 + N * count);
  auto row = std::make_unique<unaligned_row<N, count>>();
  row->lead = 0x11;
  row->trail = 0x22;
  for (auto& item : row->items) item = filled<N>(0x33);
  std::atomic<long> torn{0};
  std::atomic<long> lost{0};

  optimist::test::watchdog guard("copying " + std::to_string(N) + "-byte unaligned objects");
  run_threads(threads, [&](int index) {
    std::uint8_t last_written[count] = {};
    for (long round = 0; round < rounds; ++round) {
      for (std::size_t k = static_cast<std::size_t>(index); k < count;
           k += static_cast<std::size_t>(threads)) {
        const auto v = static_cast<std::uint8_t>(1 + (round * 7 + static_cast<long>(k)) % 250);
        if (round % 2 == 0) {
          optimist::store(row->items[k], filled<N>(v));  // outside: its own transaction
        } else {
          optimist::atomically([&] { optimist::store(row->items[k], filled<N>(v)); });
        }
        last_written[k] = v;
        // Read your own write, outside and inside a transaction.
        if (optimist::load(row->items[k]).b[N - 1] != v) lost.fetch_add(1);
        optimist::atomically([&] {
          const odd_bytes<N> mine = optimist::load(row->items[k]);
          if (!uniform(mine) || mine.b[0] != last_written[k]) lost.fetch_add(1);
        });
      }
      // Everyone's items: never torn.
      const std::size_t other = static_cast<std::size_t>(round) % count;
      if (!uniform(optimist::load(row->items[other]))) torn.fetch_add(1);
      optimist::atomically([&] {
        const odd_bytes<N> a = optimist::load(row->items[other]);
        optimist::test::think(5);
        const odd_bytes<N> b = optimist::load(row->items[(other + 1) % count]);
        if (!uniform(a) || !uniform(b)) torn.fetch_add(1);
      });
    }
  });

  EXPECT_EQ(torn.load(), 0) << N << "-byte objects were read torn";
  EXPECT_EQ(lost.load(), 0) << N << "-byte objects lost their owner's write";
  EXPECT_EQ(row->lead, 0x11) << "the byte before the row was clobbered";
  EXPECT_EQ(row->trail, 0x22) << "the byte after the row was clobbered";
  for (std::size_t k = 0; k < count; ++k) {
    EXPECT_TRUE(uniform(row->items[k])) << "item " << k;
    EXPECT_NE(row->items[k].b[0], 0x33) << "item " << k << ": its owner's writes never landed";
  }
}

TEST_P(AccessTest, ThreeByteObjectsAreNeverTornOrClobbered) {
  run_odd_sized<3>(GetParam(), scaled(1500));
}
TEST_P(AccessTest, FiveByteObjectsAreNeverTornOrClobbered) {
  run_odd_sized<5>(GetParam(), scaled(1500));
}
TEST_P(AccessTest, TwelveByteObjectsAreNeverTornOrClobbered) {
  run_odd_sized<12>(GetParam(), scaled(1500));
}
TEST_P(AccessTest, TwentyFourByteObjectsAreNeverTornOrClobbered) {
  run_odd_sized<24>(GetParam(), scaled(1500));
}
TEST_P(AccessTest, SixtyFourByteObjectsAreNeverTornOrClobbered) {
  run_odd_sized<optimist::max_access_size>(GetParam(), scaled(1000));
}

// Single accesses outside any transaction only: one thread stores a 7-byte
// object (read and written as 4 + 2 + 1 byte pieces of one word) with every
// byte equal, others load it. Nothing here ever starts a transaction, so no
// reader ever moves the clock: the single-access paths alone must keep the
// pieces of one load from mixing two stores.
TEST_P(AccessTest, SingleAccessesOfAPartialWordAreNeverTorn) {
  const int threads = GetParam();
  const long rounds = scaled(200000);
  struct alignas(8) holder {
    odd_bytes<7> item;
    std::uint8_t neighbour;
  };
  holder h{filled<7>(1), 0x5A};
  std::atomic<long> torn{0};
  {
    optimist::test::watchdog guard("loading a 7-byte object while another thread stores it");
    run_threads(threads, [&](int index) {
      for (long i = 0; i < rounds; ++i) {
        if (index == 0 && (threads > 1 || i % 2 == 0)) {
          optimist::store(h.item, filled<7>(static_cast<std::uint8_t>(1 + i % 200)));
        } else if (!uniform(optimist::load(h.item))) {
          torn.fetch_add(1);
        }
      }
    });
  }
  EXPECT_EQ(torn.load(), 0) << "a single load mixed the bytes of two single stores";
  EXPECT_TRUE(uniform(h.item));
  EXPECT_EQ(h.neighbour, 0x5A);
}

// ---- tvars of several words ---------------------------------------------------

struct quad {
  long v[4];
};

bool equal_parts(const quad& q) {
  return q.v[0] == q.v[1] && q.v[1] == q.v[2] && q.v[2] == q.v[3];
}

TEST_P(AccessTest, MultiWordTvarIsNeverReadTorn) {
  const int threads = GetParam();
  const long rounds = scaled(8000);
  optimist::tvar<quad> q{quad{{0, 0, 0, 0}}};
  std::atomic<long> torn_outside{0};
  std::atomic<long> torn_inside{0};
  std::atomic<long> writes{0};
  {
    optimist::test::watchdog guard("reading a four-word tvar while others write it");
    run_threads(threads, [&](int index) {
      long my_writes = 0;
      for (long i = 0; i < rounds; ++i) {
        switch ((i + index) % 4) {
          case 0:  // set() outside a transaction: a transaction of its own
            q.set(quad{{i, i, i, i}});
            ++my_writes;
            break;
          case 1:  // read-modify-write inside
            optimist::atomically([&] {
              quad now = q.get();
              optimist::test::think(5);
              for (long& part : now.v) part += 1;
              q.set(now);
            });
            ++my_writes;
            break;
          case 2: {  // get() and the conversion outside a transaction
            const quad a = q.get();
            const quad b = q;
            if (!equal_parts(a) || !equal_parts(b)) torn_outside.fetch_add(1);
            break;
          }
          default:
            optimist::atomically([&] {
              const quad a = q.get();
              optimist::test::think(5);
              const quad b = q;
              if (!equal_parts(a) || !equal_parts(b)) torn_inside.fetch_add(1);
            });
            break;
        }
      }
      writes.fetch_add(my_writes);
    });
  }
  EXPECT_EQ(torn_outside.load(), 0) << "tvar::get() outside a transaction returned a torn value";
  EXPECT_EQ(torn_inside.load(), 0) << "a transaction saw a torn multi-word tvar";
  EXPECT_TRUE(equal_parts(q.get()));
  EXPECT_GT(writes.load(), 0);
}

// A tvar of 256 words: reading it takes long enough that, were get() outside
// a transaction not one consistent snapshot, a writer's commit would land in
// the middle of a read (also when threads only take turns on a busy machine).
TEST_P(AccessTest, LargeTvarIsNeverReadTornOutsideTransactions) {
  using block = std::array<long, 256>;
  const int threads = GetParam();
  const long rounds = scaled(1500);
  auto big = std::make_unique<optimist::tvar<block>>();
  std::atomic<long> torn{0};
  auto uniform_block = [](const block& b) {
    for (long v : b) {
      if (v != b[0]) return false;
    }
    return true;
  };
  {
    optimist::test::watchdog guard("reading a 2 KiB tvar while others write it");
    run_threads(threads, [&](int index) {
      block next;
      for (long i = 0; i < rounds; ++i) {
        if ((i + index) % 3 == 0) {
          next.fill(i * 8 + index);
          big->set(next);  // outside: a transaction of its own
        } else if (!uniform_block(big->get())) {
          torn.fetch_add(1);
        }
      }
    });
  }
  EXPECT_EQ(torn.load(), 0) << "tvar::get() outside a transaction returned a torn value";
  EXPECT_TRUE(uniform_block(big->get()));
}

// ---- conversions, initialisation, read-your-own-writes ------------------------------

static_assert(!std::is_copy_constructible_v<optimist::tvar<long>>);
static_assert(!std::is_move_constructible_v<optimist::tvar<long>>);
static_assert(!std::is_copy_assignable_v<optimist::tvar<long>>);
static_assert(!std::is_convertible_v<long, optimist::tvar<long>>, "the T constructor is explicit");
static_assert(std::is_convertible_v<const optimist::tvar<long>&, long>);
static_assert(std::is_same_v<optimist::tvar<double>::value_type, double>);

TEST_P(AccessTest, ConversionsReadAndAssignmentsWrite) {
  run_threads(GetParam(), [](int index) {
    optimist::tvar<long> v{index};
    long x = v;
    EXPECT_EQ(x, index);
    v = x + 10;
    EXPECT_EQ(v.get(), index + 10);
    v = v + 1;  // conversion, then assignment
    EXPECT_EQ(static_cast<long>(v), index + 11);

    optimist::tvar<double> d;
    d = 2.5;
    double y = d;
    EXPECT_EQ(y, 2.5);

    optimist::tvar<quad> q;
    q = quad{{1, 2, 3, 4}};
    quad z = q;
    EXPECT_EQ(z.v[3], 4);

    // The same inside a transaction, seeing its own buffered writes.
    optimist::atomically([&] {
      long inside = v;
      v = inside * 2;
      EXPECT_EQ(static_cast<long>(v), 2 * (index + 11));
      q = quad{{5, 6, 7, 8}};
      quad w = q;
      EXPECT_EQ(w.v[0], 5);
      EXPECT_EQ(w.v[3], 8);
    });
    EXPECT_EQ(v.get(), 2 * (index + 11));
    EXPECT_EQ(q.get().v[1], 6);
    optimist::tvar<long>& ref = (v = 1);  // assignment returns the tvar
    EXPECT_EQ(&ref, &v);
  });
}

struct three_longs {
  long a, b, c;
};

TEST(AccessInitTest, TvarIsValueInitialised) {
  EXPECT_EQ(optimist::tvar<long>().get(), 0);
  EXPECT_EQ(optimist::tvar<int>().get(), 0);
  EXPECT_EQ(optimist::tvar<double>().get(), 0.0);
  EXPECT_EQ(optimist::tvar<bool>().get(), false);
  EXPECT_EQ(optimist::tvar<void*>().get(), nullptr);
  const three_longs t = optimist::tvar<three_longs>().get();
  EXPECT_EQ(t.a, 0);
  EXPECT_EQ(t.b, 0);
  EXPECT_EQ(t.c, 0);

  // Built on top of garbage: still zero, including the bytes of the last
  // word past the object (INVARIANT of tvar: they stay zero).
  using odd = odd_bytes<3>;
  using holder = optimist::tvar<odd>;
  alignas(holder) unsigned char storage[sizeof(holder)];
  std::memset(storage, 0xFF, sizeof storage);
  auto* v = new (storage) holder();
  const odd zero = v->get();
  EXPECT_EQ(zero.b[0], 0);
  EXPECT_EQ(zero.b[1], 0);
  EXPECT_EQ(zero.b[2], 0);
  v->set(filled<3>(0x7F));
  EXPECT_TRUE(uniform(v->get()));
  EXPECT_EQ(v->get().b[0], 0x7F);
  ASSERT_EQ(sizeof(holder), 8u);
  for (std::size_t i = sizeof(odd); i < sizeof(holder); ++i) {
    EXPECT_EQ(storage[i], 0) << "byte " << i << " past the object";
  }
  v->~holder();

  // And explicitly initialised.
  const optimist::tvar<three_longs> init{three_longs{1, 2, 3}};
  EXPECT_EQ(init.get().c, 3);
}

TEST_P(AccessTest, ReadYourOwnWritesOfPartialWords) {
  OPTIMIST_SKIP_IN_SERIAL_MODE("checks that writes are buffered until commit");
  run_threads(GetParam(), [](int) {
    float_pair p{{1.0f, 2.0f}};
    optimist::atomically([&] {
      optimist::store(p.value[0], 5.0f);
      float_pair whole = optimist::load(p);  // own byte(s) from the log, the rest from memory
      EXPECT_EQ(whole.value[0], 5.0f);
      EXPECT_EQ(whole.value[1], 2.0f);
      optimist::store(p.value[1], 7.0f);
      whole = optimist::load(p);  // now both halves from the log
      EXPECT_EQ(whole.value[0], 5.0f);
      EXPECT_EQ(whole.value[1], 7.0f);
      optimist::store(p, float_pair{{8.0f, 9.0f}});
      EXPECT_EQ(optimist::load(p.value[1]), 9.0f);  // a part of a whole write
      EXPECT_EQ(p.value[0], 1.0f) << "a transactional store reached memory before commit";
    });
    EXPECT_EQ(p.value[0], 8.0f);
    EXPECT_EQ(p.value[1], 9.0f);

    // Bytes of a word straddling object: write some single bytes, read the
    // whole unaligned object back.
    auto row = std::make_unique<unaligned_row<12, 2>>();
    row->items[0] = filled<12>(0x40);
    row->items[1] = filled<12>(0x50);
    optimist::atomically([&] {
      optimist::store(row->items[0].b[0], std::uint8_t{0x41});
      optimist::store(row->items[0].b[7], std::uint8_t{0x47});
      optimist::store(row->items[0].b[11], std::uint8_t{0x4B});
      const odd_bytes<12> seen = optimist::load(row->items[0]);
      for (std::size_t i = 0; i < 12; ++i) {
        const std::uint8_t expected = i == 0 ? 0x41 : i == 7 ? 0x47 : i == 11 ? 0x4B : 0x40;
        EXPECT_EQ(seen.b[i], expected) << "byte " << i;
      }
      EXPECT_TRUE(uniform(optimist::load(row->items[1])));
    });
    EXPECT_EQ(row->items[0].b[7], 0x47);
    EXPECT_EQ(row->items[0].b[6], 0x40);
    EXPECT_TRUE(uniform(row->items[1]));
  });
}

// A transaction that wrote one half of a word and reads the whole word while
// another thread keeps changing the other half: the other half must come
// from a consistent snapshot (it is validated like any read), and the own
// half from the log.
TEST_P(AccessTest, PartialOwnWriteWithAConcurrentNeighbour) {
  const int threads = GetParam();
  const long rounds = scaled(6000);
  // value[1] always equals `mirror`; both changed together by thread 0.
  float_pair p{{0.0f, 0.0f}};
  optimist::tvar<float> mirror{0.0f};
  std::atomic<long> inconsistent{0};
  run_threads(threads, [&](int index) {
    for (long i = 0; i < rounds; ++i) {
      if (index == 0 && i % 2 == 0) {
        optimist::atomically([&] {
          const float next = optimist::load(p.value[1]) + 1.0f;
          optimist::store(p.value[1], next);
          mirror.set(next);
        });
      } else {
        optimist::atomically([&] {
          optimist::store(p.value[0], static_cast<float>(index));
          const float m = mirror.get();
          optimist::test::think(5);
          const float_pair whole = optimist::load(p);
          if (whole.value[1] != m || whole.value[0] != static_cast<float>(index)) {
            inconsistent.fetch_add(1);
          }
        });
      }
    }
  });
  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_EQ(p.value[1], mirror.get());
  EXPECT_EQ(p.value[1], static_cast<float>(rounds / 2));
}

INSTANTIATE_TEST_SUITE_P(Threads, AccessTest, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace access_test
