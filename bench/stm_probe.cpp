// bench/stm_probe.cpp — a fixed amount of single-threaded STM work, for
// counting instructions under callgrind (no timing, no benchmark library).
//
//   stm_probe bank N     N bank transfers (2 loads, 2 stores) on 1024 accounts
//   stm_probe kmeans N   N kmeans-like updates: read and rewrite 33 words of one
//                        of 16 clusters (STAMP kmeans, 32 features)
//   stm_probe reread N   N blocks that write 64 words, then read each back twice
//   stm_probe rw16 N     N blocks that read and rewrite 16 consecutive words
//
// Built with the benchmarks as build/<dir>/stm_probe (no benchmark library:
// nothing here is timed).
// Instructions per operation: run twice (N and 2N) under
//   valgrind --tool=callgrind --callgrind-out-file=... stm_probe bank N
// and divide the difference of the totals by N (scripts in the report).
// Runs in stm mode unless OPTIMIST_MODE names another (serial, auto, ...).
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "optimist/optimist.hpp"

namespace {

alignas(64) long accounts[1024];
alignas(64) long centers[16][40];
alignas(64) long scratch[64];

unsigned long rng_state = 88172645463325252ull;
unsigned long next_random() {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

void bank(long n) {
  for (long i = 0; i < n; ++i) {
    unsigned from = next_random() & 1023, to = (from + 1 + (next_random() % 1023)) & 1023;
    optimist::atomically([&] {
      optimist::store(accounts[from], optimist::load(accounts[from]) - 1);
      optimist::store(accounts[to], optimist::load(accounts[to]) + 1);
    });
  }
}

void kmeans(long n) {
  for (long i = 0; i < n; ++i) {
    unsigned k = next_random() & 15;
    long x = static_cast<long>(next_random() & 255);
    optimist::atomically([&] {
      for (unsigned j = 0; j < 33; ++j)
        optimist::store(centers[k][j], optimist::load(centers[k][j]) + x + j);
    });
  }
}

void reread(long n) {
  for (long i = 0; i < n; ++i) {
    long sum = optimist::atomically([&] {
      for (long& w : scratch) optimist::store(w, optimist::load(w) + 1);
      long s = 0;
      for (int pass = 0; pass < 2; ++pass)
        for (const long& w : scratch) s += optimist::load(w);
      return s;
    });
    if (sum == 42) std::puts("");
  }
}

void rw16(long n) {
  for (long i = 0; i < n; ++i) {
    long* base = scratch + (next_random() & 31);
    optimist::atomically([&] {
      for (int j = 0; j < 16; ++j) optimist::store(base[j], optimist::load(base[j]) + 1);
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: stm_probe bank|kmeans|reread|rw16 N\n");
    return 2;
  }
  const char* mode = std::getenv("OPTIMIST_MODE");
  if (mode == nullptr || *mode == '\0') optimist::set_execution_mode(optimist::execution_mode::stm);
  long n = std::atol(argv[2]);
  // One untimed operation first: registration and first allocations.
  if (std::strcmp(argv[1], "bank") == 0) {
    bank(1);
    bank(n);
  } else if (std::strcmp(argv[1], "kmeans") == 0) {
    kmeans(1);
    kmeans(n);
  } else if (std::strcmp(argv[1], "reread") == 0) {
    reread(1);
    reread(n);
  } else if (std::strcmp(argv[1], "rw16") == 0) {
    rw16(1);
    rw16(n);
  } else {
    return 2;
  }
  return 0;
}
