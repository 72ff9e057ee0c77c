// bench/intset/models.hpp — the synchronisation models as benchmark variants.
//
// A model is an access policy from bench/common/access.hpp plus what its variant needs around
// the run: its name (the <model> of BM_<workload>_<model>), the thread counts it runs at, what
// to do before a run (optimist: select the execution mode) and a label. The intset and vacation
// workloads are templates over a model, registered once per model:
//
//   sequential_model      uninstrumented, 1 thread only
//   mutex_model           one global std::mutex
//   spec_mutex_model      tbb::speculative_spin_mutex (only in files compiled with -mrtm)
//   gnutm_model           GCC __transaction_atomic (only in files compiled with -fgnu-tm); named
//                         gnutm_<method> when ITM_DEFAULT_METHOD is set, as the runner does for
//                         its instrumented second pass
//   optimist_model<stm>   optimist, software transactions only
//   optimist_model<htm>   optimist, hardware attempts first (on a CPU without RTM these fail and
//                         the software path runs: the row measures the cost of that)
#pragma once

#include <benchmark/benchmark.h>

#include <string>
#include <type_traits>

#include "../common/access.hpp"
#include "../common/optimist_counters.hpp"
#include "../common/thread_counts.hpp"
#if defined(__cpp_transactional_memory)
#include "../common/gnutm_access.hpp"
#endif

namespace bench {

// A model without anything to prepare: the access policy alone.
template <class Access>
struct plain_model {
  using access = Access;
  static constexpr bool is_optimist = false;
  static std::string name() { return Access::name; }
  static std::string prepare() { return {}; }
  static std::string label(int /*threads*/) { return {}; }
  static void thread_counts(benchmark::internal::Benchmark* b) {
    if constexpr (std::is_same_v<Access, sequential_access>) {
      one_thread(b);  // plain accesses would race with a second thread
    } else {
      caller_threads(b);
    }
  }
};

using sequential_model = plain_model<sequential_access>;
using mutex_model = plain_model<mutex_access>;
#if defined(__RTM__)
using spec_mutex_model = plain_model<spec_mutex_access>;
#endif

template <optimist::execution_mode Mode>
struct optimist_model {
  using access = optimist_access;
  static constexpr bool is_optimist = true;
  static std::string name() { return std::string("optimist_") + std::string(to_string(Mode)); }
  // Returns why the mode cannot run here, or nothing.
  static std::string prepare() { return use_optimist_mode(Mode); }
  static std::string label(int /*threads*/) { return optimist_mode_label(Mode); }
  static void thread_counts(benchmark::internal::Benchmark* b) { caller_threads(b); }
};

using optimist_stm_model = optimist_model<optimist::execution_mode::stm>;
using optimist_htm_model = optimist_model<optimist::execution_mode::htm>;

#if defined(__cpp_transactional_memory)
struct gnutm_model {
  using access = gnutm_access;
  static constexpr bool is_optimist = false;
  static std::string name() { return gnutm_model_name(); }
  static std::string prepare() { return {}; }
  static std::string label(int threads) { return gnutm_label(threads); }
  static void thread_counts(benchmark::internal::Benchmark* b) { caller_threads(b); }
};
#endif

}  // namespace bench
