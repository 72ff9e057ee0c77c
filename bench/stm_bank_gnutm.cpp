// bench/stm_bank_gnutm.cpp — the bank transfer under GCC's transactional memory (libitm).
//
// The only file of stm_bank_bench compiled with -fgnu-tm (CMakeLists.txt adds it for g++ and
// links libitm). libitm picks its method at start-up: with ITM_DEFAULT_METHOD unset it runs
// serial-irrevocable (uninstrumented, under a global lock) while one thread is registered and
// ml_wt with more; ITM_DEFAULT_METHOD=ml_wt forces the instrumented multi-lock write-through
// STM at every thread count. bench/run-bank runs the benchmark both ways.
#include "bank_workload.hpp"

void gnutm_transfer(long* accounts, unsigned from, unsigned to) {
  __transaction_atomic {
    accounts[from] -= 1;
    accounts[to] += 1;
  }
}
