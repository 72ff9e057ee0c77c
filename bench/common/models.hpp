// bench/common/models.hpp — the synchronisation models as benchmark variants.
//
// A model is an access policy of access.hpp seen as a benchmark variant: its name (the <model>
// of BM_<workload>_<model>, from the policy's model_name()), what to do before a run (the
// policy's prepare(): optimist selects its execution mode), a label, and the thread counts it
// runs at. Workloads that register one benchmark per model (intset, vacation) are templates over
// a model:
//
//   sequential_model      uninstrumented, 1 thread only
//   mutex_model           one global std::mutex
//   spin_model            one global test-and-test-and-set spin lock with backoff
//   spec_mutex_model      tbb::speculative_spin_mutex (only in files compiled with -mrtm)
//   gnutm_model           GCC __transaction_atomic (only in files compiled with -fgnu-tm); named
//                         gnutm_<method> when ITM_DEFAULT_METHOD is set, as the runner does for
//                         its instrumented second pass
//   optimist_stm_model    optimist, software transactions only
//   optimist_htm_model    optimist, hardware attempts first (on a CPU without RTM they are
//                         simulated aborts and the software path runs: the row measures the cost)
//   optimist_serial_model optimist, serial mode (one global lock, in place, undo log)
//   optimist_auto_model   optimist, auto mode (the default): serial while one thread runs
//                         blocks, speculative beside others
#pragma once

#include <benchmark/benchmark.h>

#include <string>
#include <type_traits>

#include "access.hpp"
#include "optimist_counters.hpp"
#include "thread_counts.hpp"
#if defined(__cpp_transactional_memory)
#include "gnutm_access.hpp"
#endif

namespace bench {

template <class Access>
struct model {
  using access = Access;
  static constexpr bool is_optimist = std::is_base_of_v<optimist_access, Access>;
  static std::string name() { return Access::model_name(); }
  // Returns why the model cannot run here, or nothing.
  static std::string prepare() { return Access::prepare(); }
  static std::string label(int threads) { return Access::label(threads); }
  static void thread_counts(benchmark::internal::Benchmark* b) {
    if constexpr (std::is_same_v<Access, sequential_access>) {
      one_thread(b);  // plain accesses would race with a second thread
    } else {
      caller_threads(b);
    }
  }
};

using sequential_model = model<sequential_access>;
using mutex_model = model<mutex_access>;
using spin_model = model<spin_access>;
#if defined(__RTM__)
using spec_mutex_model = model<spec_mutex_access>;
#endif
using optimist_stm_model = model<optimist_stm_access>;
using optimist_htm_model = model<optimist_htm_access>;
using optimist_serial_model = model<optimist_serial_access>;
using optimist_auto_model = model<optimist_auto_access>;
#if defined(__cpp_transactional_memory)
using gnutm_model = model<gnutm_access>;
#endif

}  // namespace bench
