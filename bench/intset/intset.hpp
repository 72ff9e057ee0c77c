// bench/intset/intset.hpp — the integer-set workload, written once for every model.
//
// A set of long keys is filled to half of its key range (10 000 keys out of 0..19 999), then
// every benchmark thread runs operations on it, each one critical section (one transaction):
//
//   80 %  contains(k)
//   10 %  insert(k)      (fails without writing when k is present: at half fill, half do)
//   10 %  erase(k)       (likewise)
//
// with k uniform over the range, so the set stays half full and the share of updates that
// really write is about 10 %. One iteration is one operation; items_per_second counts
// operations of all threads together.
//
// Three structures, each its own benchmark (BM_intset_<structure>_<model>):
//   rbtree       bench/intset/rbtree.hpp       ~14 nodes read per operation, rebalancing writes
//   hash         bench/intset/hash_set.hpp     one bucket per expected key: 1-2 nodes read
//   sorted_list  bench/intset/sorted_list.hpp  half the list read per operation: every update
//                                              conflicts with every operation that walked past
//                                              it. Smaller by default (1 000 keys out of 0..1 999)
//                                              so that a run does not take minutes; its
//                                              transactions are still 50 times longer than the
//                                              tree's.
//
// Sizes: OPTIMIST_BENCH_INTSET_KEYS (the tree and the hash set; range = 2 x keys),
// OPTIMIST_BENCH_INTSET_LIST_KEYS, OPTIMIST_BENCH_INTSET_UPDATES (percentage of operations that
// try to update, default 20); OPTIMIST_BENCH_SIZE=small shrinks the sets to 256 keys.
//
// After every run thread 0 checks the structure (validate(): red-black invariants, order,
// buckets) and that its size equals the initial size plus the successful inserts minus the
// successful erases of all threads; a failure turns the run into an error (SkipWithError).
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../common/environment.hpp"
#include "../common/models.hpp"
#include "../common/xorshift.hpp"
#include "hash_set.hpp"
#include "rbtree.hpp"
#include "sorted_list.hpp"

namespace bench::intset {

inline std::size_t update_percent() {
  static const std::size_t percent = [] {
    const std::size_t p = size_from_environment("OPTIMIST_BENCH_INTSET_UPDATES", 20);
    return p > 100 ? 100 : p;
  }();
  return percent;
}

inline std::size_t tree_keys() {
  static const std::size_t keys = workload_size("OPTIMIST_BENCH_INTSET_KEYS", 10'000, 256);
  return keys;
}

inline std::size_t list_keys() {
  static const std::size_t keys = workload_size("OPTIMIST_BENCH_INTSET_LIST_KEYS", 1'000, 256);
  return keys;
}

// ---- the structures behind one interface ------------------------------------------------------

// Each kind names its structure, says how many keys it holds, and adapts it to
// contains / insert / erase / validate / size / clear over long keys.

struct rbtree_kind {
  static constexpr const char* name = "rbtree";
  static std::size_t keys() { return tree_keys(); }

  template <class Access>
  class set {
   public:
    explicit set(std::size_t /*keys*/) {}
    bool contains(long key) const { return tree_.contains(key); }
    bool insert(long key) { return tree_.insert(key, key); }
    bool erase(long key) { return tree_.erase(key); }
    std::string validate() const { return tree_.validate(); }
    std::size_t size() const { return tree_.size(); }
    void clear() { tree_.clear(); }

   private:
    rbtree<long, long, Access> tree_;
  };
};

struct hash_kind {
  static constexpr const char* name = "hash";
  static std::size_t keys() { return tree_keys(); }

  template <class Access>
  class set : public hash_set<Access> {
   public:
    explicit set(std::size_t keys) : hash_set<Access>(keys) {}
  };
};

struct sorted_list_kind {
  static constexpr const char* name = "sorted_list";
  static std::size_t keys() { return list_keys(); }

  template <class Access>
  class set : public sorted_list<Access> {
   public:
    explicit set(std::size_t /*keys*/) {}
  };
};

// ---- one benchmark: a structure under a model -------------------------------------------------

template <class Kind, class Model>
class benchmark_case {
  using access = typename Model::access;
  using set_type = typename Kind::template set<access>;

 public:
  static void register_it() {
    const std::string name = std::string("BM_intset_") + Kind::name + "_" + Model::name();
    benchmark::RegisterBenchmark(name.c_str(), &run)->Setup(&setup)->Apply(&Model::thread_counts);
  }

 private:
  // The per-thread count of successful inserts minus erases, one cache line each.
  struct alignas(64) net_count {
    long value = 0;
  };

  // Never destroyed: optimist's reclaimer may still hold its nodes at exit.
  static set_type& shared_set() {
    static set_type* set = new set_type(Kind::keys());
    return *set;
  }

  // Outside the timed region, once per run, before the threads start: an empty structure filled
  // with keys() distinct keys drawn from [0, 2 * keys()) by a fixed sequence.
  static void setup(const benchmark::State& state) {
    prepare_error_ = Model::prepare();
    set_type& set = shared_set();
    set.clear();
    xorshift_rng rng(12345);
    const std::size_t range = 2 * Kind::keys();
    for (std::size_t added = 0; added < Kind::keys();) {
      const long key = static_cast<long>(rng.below(range));
      if (insert_outside_loop(set, key)) ++added;
    }
    net_.assign(static_cast<std::size_t>(state.threads()), net_count{});
    if constexpr (Model::is_optimist) reset_optimist_counters(state);
  }

  // One insert as its own transaction, in its own frame: under GCC TM a transaction begins with
  // a setjmp-like call, and a loop counter living across it draws -Wclobbered.
  [[gnu::noinline]] static bool insert_outside_loop(set_type& set, long key) {
    return access::atomic([&] { return set.insert(key); });
  }

  static void run(benchmark::State& state) {
    if (!prepare_error_.empty()) state.SkipWithError(prepare_error_.c_str());
    set_type& set = shared_set();
    const std::uint64_t range = 2 * Kind::keys();
    const std::uint64_t inserts = update_percent() / 2;
    const std::uint64_t updates = update_percent();
    // Written inside the loop (not from a local after it): thread 0 reads every thread's count
    // after Google Benchmark's end-of-loop barrier, which orders only what came before it.
    long& net = net_[static_cast<std::size_t>(state.thread_index())].value;
    xorshift_rng rng(static_cast<std::uint64_t>(state.thread_index()) + 1);
    for (auto _ : state) {
      const std::uint64_t op = rng.below(100);
      const long key = static_cast<long>(rng.below(range));
      if (op < inserts) {
        if (access::atomic([&] { return set.insert(key); })) ++net;
      } else if (op < updates) {
        if (access::atomic([&] { return set.erase(key); })) --net;
      } else {
        bool found = access::atomic([&] { return set.contains(key); });
        benchmark::DoNotOptimize(found);
      }
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(Model::label(state.threads()));
    if (state.thread_index() != 0) return;
    const std::string problem = check(set);
    if (!problem.empty()) state.SkipWithError(problem.c_str());
    if constexpr (Model::is_optimist) report_optimist_counters(state);
  }

  // Thread 0, after every thread has left the timed loop.
  static std::string check(const set_type& set) {
    std::string problem = set.validate();
    if (!problem.empty()) return std::string(Kind::name) + " broken after the run: " + problem;
    long expected = static_cast<long>(Kind::keys());
    for (const net_count& n : net_) expected += n.value;
    const auto size = static_cast<long>(set.size());
    if (size != expected) {
      return std::string(Kind::name) + " holds " + std::to_string(size) + " keys, expected " +
             std::to_string(expected) + " from the successful inserts and erases";
    }
    return {};
  }

  static inline std::string prepare_error_;
  static inline std::vector<net_count> net_;
};

// register_models<Model>()
//   The three structures under one model.
template <class Model>
void register_models() {
  benchmark_case<rbtree_kind, Model>::register_it();
  benchmark_case<hash_kind, Model>::register_it();
  benchmark_case<sorted_list_kind, Model>::register_it();
}

}  // namespace bench::intset
