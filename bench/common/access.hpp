// bench/common/access.hpp — access policies: one workload, written once, under every model.
//
// A workload (bench/<workload>/<workload>.hpp) is a template over an access policy and touches
// shared memory only through it, so that the models differ only in how the same accesses are
// synchronised:
//
//   template <class Access>
//   void transfer(long* accounts, unsigned from, unsigned to) {
//     Access::atomic([&] {
//       Access::store(accounts[from], Access::load(accounts[from]) - 1);
//       Access::store(accounts[to], Access::load(accounts[to]) + 1);
//     });
//   }
//
// Every policy offers:
//   template <class T> static T load(const T& x);             T trivially copyable, <= 8 bytes
//   template <class T> static void store(T& x, T v);
//   template <class F> static decltype(auto) atomic(F&& f);   f() as one critical section
//   template <class T, class... A> static T* make(A&&... a);  allocation undone on abort
//   template <class T> static void destroy(T* p);             deletion deferred to a safe point
//   static constexpr const char* name;                        the model's name in BM_<w>_<name>
// and, for the benchmark drivers (bench/common/registration.hpp):
//   static std::string model_name();     name, or what the run makes of it (gnutm_ml_wt)
//   static std::string prepare();        before a run, outside any critical section: empty, or
//                                        why the model cannot run here (the run is skipped)
//   static std::string label(int threads);  what ran, for the benchmark's label (may be empty)
//
// The policies here:
//   sequential_access   plain accesses, atomic(f) just calls f: the uninstrumented baseline
//                       (single-threaded only; with more threads it would race)
//   mutex_access        one global std::mutex around atomic(f)
//   spin_access         one global test-and-test-and-set spin lock with pause and bounded
//                       exponential backoff (the best simple lock a user would keep)
//   spec_mutex_access   one global tbb::speculative_spin_mutex. Defined only where the compiler
//                       targets RTM (-mrtm, i.e. in bench/<workload>/*_rtm.cpp files): without it
//                       oneTBB's header makes the type a plain spin_mutex, and two definitions
//                       of one inline entity would differ between files (an ODR violation).
//                       oneTBB checks CPUID at run time, so on a CPU without RTM it spins.
//   optimist_access     optimist::atomically / load / store / tx_new / tx_delete. The mode (stm,
//                       htm or serial) is process-wide: call use_optimist_mode() before a run.
//   gnutm_access        GCC's __transaction_atomic, in bench/common/gnutm_access.hpp, usable only
//                       from *_gnutm.cpp files (compiled with -fgnu-tm).
//
// Nesting: atomic(f) may not be called inside atomic(f) for the lock policies (the mutexes are
// not recursive); workloads keep one critical section per operation.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

#include "optimist/optimist.hpp"

#if defined(__RTM__)
#include <tbb/spin_mutex.h>
#endif

namespace bench {

// ---- sequential_access -------------------------------------------------------------------------

struct sequential_access {
  static constexpr const char* name = "sequential";

  template <class T>
  static T load(const T& x) {
    return x;
  }
  template <class T>
  static void store(T& x, const std::type_identity_t<T>& v) {
    x = v;
  }
  template <class F>
  static decltype(auto) atomic(F&& f) {
    return std::forward<F>(f)();
  }
  template <class T, class... A>
  static T* make(A&&... a) {
    return new T(std::forward<A>(a)...);
  }
  template <class T>
  static void destroy(T* p) {
    delete p;
  }

  // Derived policies inherit these; each re-declares model_name(), since the inherited one
  // would return the base's `name`.
  static std::string model_name() { return name; }
  static std::string prepare() { return {}; }
  static std::string label(int) { return {}; }
};

// ---- mutex_access ------------------------------------------------------------------------------

// The one lock of mutex_access, shared by every workload in the process (one workload runs at a
// time, so sharing it costs nothing and keeps the model honest: a global lock).
inline std::mutex& global_mutex() {
  static std::mutex m;
  return m;
}

struct mutex_access : sequential_access {
  static constexpr const char* name = "mutex";
  static std::string model_name() { return name; }

  template <class F>
  static decltype(auto) atomic(F&& f) {
    std::lock_guard<std::mutex> lock(global_mutex());
    return std::forward<F>(f)();
  }
  // Under the lock nothing is speculative: make and destroy act at once (inherited).
};

// ---- spin_access -------------------------------------------------------------------------------

// A test-and-test-and-set spin lock: waiters spin on a plain load (the line stays shared in their
// caches) and try the exchange only when the lock looks free; each failed look pauses, doubling
// the pause up to a bound (backoff spreads the waiters' retries so they do not all hit the line
// at once on release). No fairness, no sleeping: what a user who measured std::mutex as too slow
// would write instead.
class ttas_spin_lock {
 public:
  void lock() noexcept {
    unsigned pause = 1;
    for (;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        for (unsigned i = 0; i < pause; ++i) relax();
        if (pause < max_pause) pause *= 2;
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  static constexpr unsigned max_pause = 64;
  static void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
  }
  alignas(64) std::atomic<bool> locked_{false};
};

inline ttas_spin_lock& global_spin_lock() {
  static ttas_spin_lock lock;
  return lock;
}

struct spin_access : sequential_access {
  static constexpr const char* name = "spin";
  static std::string model_name() { return name; }

  template <class F>
  static decltype(auto) atomic(F&& f) {
    std::lock_guard<ttas_spin_lock> lock(global_spin_lock());
    return std::forward<F>(f)();
  }
};

// ---- spec_mutex_access (files compiled with -mrtm only) ----------------------------------------

#if defined(__RTM__)
inline tbb::speculative_spin_mutex& global_speculative_mutex() {
  static tbb::speculative_spin_mutex m;
  return m;
}

struct spec_mutex_access : sequential_access {
  static constexpr const char* name = "spec_mutex";
  static std::string model_name() { return name; }
  static std::string label(int) {
    return optimist::htm_available() ? "RTM" : "no RTM on this CPU: a plain spin lock";
  }

  template <class F>
  static decltype(auto) atomic(F&& f) {
    tbb::speculative_spin_mutex::scoped_lock lock(global_speculative_mutex());
    return std::forward<F>(f)();
  }
  // make / destroy: with real RTM, new and delete inside the speculative region abort it and the
  // section re-runs under the lock, which is correct; only the time shows it.
};
#endif

// use_optimist_mode(mode)
//   Makes `mode` the process-wide execution mode for the optimist variants that follow
//   (BM_<w>_optimist_stm, BM_<w>_optimist_htm) and runs one empty transaction to find out whether
//   it works here. Returns an empty string, or why not (the variant then calls
//   state.SkipWithError with it). Call it outside any transaction, while none runs.
inline std::string use_optimist_mode(optimist::execution_mode mode) {
  try {
    optimist::set_execution_mode(mode);
    optimist::atomically([] {});
    return {};
  } catch (const std::exception& e) {
    optimist::set_execution_mode(optimist::execution_mode::stm);
    return std::string("optimist mode ") + std::string(optimist::to_string(mode)) +
           " unusable here: " + e.what();
  }
}

// optimist_mode_label(mode)
//   What the mode means on this machine, for benchmark labels: "stm", "htm", or "htm (no RTM:
//   attempts abort, then the per-site policy stops trying)" where CPUID reports no RTM.
inline std::string optimist_mode_label(optimist::execution_mode mode) {
  std::string label(optimist::to_string(mode));
  if (mode == optimist::execution_mode::htm && !optimist::htm_available()) {
    label += " (no RTM on this CPU: attempts abort, then the per-site policy stops trying)";
  }
  return label;
}

// ---- optimist_access ---------------------------------------------------------------------------

// The source location parameters default to the workload's call site (not this file), so that
// optimist's conflict reports (OPTIMIST_REPORT=stderr) name the workload's lines.
struct optimist_access {
  static constexpr const char* name = "optimist";

  template <class T>
  static T load(const T& x, optimist::source_location site = optimist::source_location::current()) {
    return optimist::load(x, site);
  }
  template <class T>
  static void store(T& x, const std::type_identity_t<T>& v,
                    optimist::source_location site = optimist::source_location::current()) {
    optimist::store(x, v, site);
  }
  template <class F>
  static decltype(auto) atomic(
      F&& f, optimist::source_location site = optimist::source_location::current()) {
    return optimist::atomically(std::forward<F>(f), site);
  }
  template <class T, class... A>
  static T* make(A&&... a) {
    return optimist::tx_new<T>(std::forward<A>(a)...);
  }
  template <class T>
  static void destroy(T* p, optimist::source_location site = optimist::source_location::current()) {
    optimist::tx_delete(p, site);
  }

  static std::string model_name() { return name; }
  static std::string prepare() { return {}; }
  static std::string label(int) { return {}; }
};

// optimist_stm_access / optimist_htm_access: optimist_access in one execution mode, set by
// prepare() before each run (the mode is process-wide). The BM_<w>_optimist_stm and
// BM_<w>_optimist_htm variants.
template <optimist::execution_mode Mode>
struct optimist_mode_access : optimist_access {
  static constexpr const char* name = Mode == optimist::execution_mode::stm      ? "optimist_stm"
                                      : Mode == optimist::execution_mode::htm    ? "optimist_htm"
                                      : Mode == optimist::execution_mode::serial ? "optimist_serial"
                                                                                 : "optimist_auto";
  static std::string model_name() { return name; }
  static std::string prepare() { return use_optimist_mode(Mode); }
  static std::string label(int) {
    return Mode == optimist::execution_mode::stm || Mode == optimist::execution_mode::serial
               ? std::string()
               : optimist_mode_label(Mode);
  }
};
using optimist_stm_access = optimist_mode_access<optimist::execution_mode::stm>;
using optimist_htm_access = optimist_mode_access<optimist::execution_mode::htm>;
using optimist_serial_access = optimist_mode_access<optimist::execution_mode::serial>;
// auto: serial while one thread runs blocks, speculative beside others (optimist/mode.hpp).
using optimist_auto_access = optimist_mode_access<optimist::execution_mode::automatic>;

}  // namespace bench
