// bench/common/gnutm_access.hpp — the access policy of GCC's transactional memory (libitm).
//
// gnutm_access::atomic(f) runs f inside `__transaction_atomic`; loads and stores are plain C++
// that the compiler instruments inside the transaction. Include it only from *_gnutm.cpp files,
// which CMakeLists.txt compiles with -fgnu-tm and links with libitm (g++ only; other compilers
// get OPTIMIST_NO_GNU_TM=1 and leave those files out).
//
// libitm picks its method once per process, when the first transaction starts, from
// ITM_DEFAULT_METHOD. Unset, it runs serial-irrevocable (uninstrumented, one global lock) while a
// single thread is registered and ml_wt (multi-lock write-through STM) with more; the benchmark
// runner therefore runs the gnutm variants a second time with ITM_DEFAULT_METHOD=ml_wt, and
// gnutm_model_name() names them BM_<workload>_gnutm_ml_wt so that both appear in one table.
//
// make / destroy: libitm has transactional clones of operator new and delete; a delete inside a
// transaction takes effect at commit, and ml_wt commits wait for concurrent transactions to
// finish (privatisation safety), so no reader can still be looking at the freed node.
#pragma once

#if !defined(__cpp_transactional_memory)
#error "bench/common/gnutm_access.hpp needs -fgnu-tm: include it only from *_gnutm.cpp files"
#endif

#include <cstdlib>
#include <string>
#include <type_traits>
#include <utility>

#include "access.hpp"

namespace bench {

// itm_method()
//   ITM_DEFAULT_METHOD, or "adaptive" when unset (serial-irrevocable at 1 thread, ml_wt at more).
inline std::string itm_method() {
  const char* method = std::getenv("ITM_DEFAULT_METHOD");
  return method != nullptr && *method != '\0' ? method : "adaptive";
}

// gnutm_as()
//   OPTIMIST_BENCH_GNUTM_AS, set by bench/run when it runs the same -fgnu-tm code again on
//   another implementation of GCC's TM ABI (LD_PRELOAD=liboptimist_itm.so: "optimist_itm").
inline const char* gnutm_as() {
  const char* as = std::getenv("OPTIMIST_BENCH_GNUTM_AS");
  return as != nullptr && *as != '\0' ? as : nullptr;
}

// gnutm_model_name()
//   "gnutm" under libitm's default method, "gnutm_<method>" when ITM_DEFAULT_METHOD chose one,
//   or gnutm_as(): the model part of BM_<workload>_<model>.
inline std::string gnutm_model_name() {
  if (const char* as = gnutm_as()) return as;
  const char* method = std::getenv("ITM_DEFAULT_METHOD");
  if (method == nullptr || *method == '\0') return "gnutm";
  return std::string("gnutm_") + method;
}

// gnutm_label(threads)
//   The method that actually ran, for the benchmark's label.
inline std::string gnutm_label(int threads) {
  if (const char* as = gnutm_as()) return std::string("-fgnu-tm code on ") + as;
  const char* method = std::getenv("ITM_DEFAULT_METHOD");
  if (method != nullptr && *method != '\0') return std::string("itm=") + method;
  // libitm's default: its hardware fast path (uninstrumented code in an RTM transaction, a
  // lock behind it) where the CPU has RTM, else serialirr alone and ml_wt beside other threads.
  if (optimist::htm_available()) return "itm=htm (default with RTM: uninstrumented, in hardware)";
  return threads == 1 ? "itm=serialirr (default at 1 thread: uninstrumented)"
                      : "itm=ml_wt (default at more threads)";
}

struct gnutm_access : sequential_access {
  static constexpr const char* name = "gnutm";
  static std::string model_name() { return gnutm_model_name(); }
  static std::string label(int threads) { return gnutm_label(threads); }

  // Not inlined: the transaction begins with a setjmp-like call (_ITM_beginTransaction), and
  // inlined into a caller's loop it would make g++ warn (-Wclobbered, an error under
  // OPTIMIST_STRICT) that the caller's locals may be clobbered by the longjmp of a restart.
  template <class F>
  [[gnu::noinline]] static decltype(auto) atomic(F&& f) {
    if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
      __transaction_atomic {
        f();
      }
    } else {
      __transaction_atomic {
        return f();
      }
    }
  }
};

}  // namespace bench
