// tests/itm/vector_barriers_avx2_gnutm.cpp — the vector barriers g++ emits when it vectorises code
// inside a transaction: _ITM_*M64 (two ints as one 8-byte vector, at -O2 on any x86-64) and
// _ITM_*M256 (loops vectorised with AVX). Built with -fgnu-tm -g -mavx2 (CMakeLists.txt: files
// named *_avx2_gnutm.cpp) and linked with optimist_itm; liboptimist_itm.so lacked both
// families, so such a program did not link against it (libitm has them). Runs only where the
// CPU has AVX2 (it says so and passes otherwise: every instruction of this file may be AVX).
//
// (To see the barriers the build uses: nm itm_vector_barriers_avx2_gnutm | grep 'M64\|M256'.)
// 1. Pairs: threads (1, 2 and 4) add 1 and 2 to the two ints of a shared pair, a transaction
//    each; no increment may be lost, and another pair copied from it inside the transaction
//    matches it.
// 2. Rows: threads (1, 2 and 4) add a row of 64 ones to a shared row of 64 longs, a
//    transaction each (a loop g++ vectorises into 256-bit loads and stores); every element
//    must count every transaction.
// OPTIMIST_STRESS (a positive integer) multiplies the transactions.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

namespace {

struct pair_of_ints {
  int p, q;
};
pair_of_ints g_pair;
pair_of_ints g_copy;
long g_row[64];
long g_ones[64];

void add_to_pair() {
  __transaction_atomic {
    g_pair.p += 1;
    g_pair.q += 2;
    g_copy.p = g_pair.p;
    g_copy.q = g_pair.q;
  }
}

void add_row() {
  __transaction_atomic {
    for (int i = 0; i < 64; ++i) g_row[i] += g_ones[i];
  }
}

template <class F>
void run_threads(int threads, long per_thread, F f) {
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([=] {
      for (long i = 0; i < per_thread; ++i) f();
    });
  }
  for (auto& w : workers) w.join();
}

}  // namespace

int main() {
  if (!__builtin_cpu_supports("avx2")) {
    std::printf("itm vector barriers: skipped (this CPU has no AVX2)\n");
    return 0;
  }
  for (long& one : g_ones) one = 1;
  const long per_thread = 2000 * stress_scale();
  for (int threads : {1, 2, 4}) {
    g_pair = {0, 0};
    run_threads(threads, per_thread, add_to_pair);
    const long n = per_thread * threads;
    check(g_pair.p == n && g_pair.q == 2 * n,
          "1, " + std::to_string(threads) + " threads: the pair holds {" +
              std::to_string(g_pair.p) + ", " + std::to_string(g_pair.q) + "}, expected {" +
              std::to_string(n) + ", " + std::to_string(2 * n) + "}");
    check(g_copy.p == g_pair.p && g_copy.q == g_pair.q,
          "1: the last copy {" + std::to_string(g_copy.p) + ", " + std::to_string(g_copy.q) +
              "} differs from the pair");

    for (long& x : g_row) x = 0;
    run_threads(threads, per_thread, add_row);
    for (int i = 0; i < 64; ++i) {
      if (g_row[i] != n) {
        check(false, "2, " + std::to_string(threads) + " threads: element " + std::to_string(i) +
                         " is " + std::to_string(g_row[i]) + ", expected " + std::to_string(n));
        break;
      }
    }
  }
  std::printf("itm vector barriers: %s\n", g_failed == 0 ? "all checks passed" : "FAILED");
  return g_failed == 0 ? 0 : 1;
}
