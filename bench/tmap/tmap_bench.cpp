// bench/tmap/tmap_bench.cpp — bench_tmap: a concurrent hash map under random lookups, inserts
// and erases, three ways.
//
//   BM_tmap_optimist   optimist::tmap<std::uint64_t, std::uint64_t>, each operation its own
//                      transaction (find / insert / erase called outside any atomic block)
//   BM_tmap_mutex      std::unordered_map under one global std::mutex
//   BM_tmap_spin       the same under one global test-and-test-and-set spin lock (access.hpp)
//   BM_tmap_tbb        tbb::concurrent_hash_map (per-bucket reader-writer locks)
//
// Keys are drawn uniformly from OPTIMIST_BENCH_TMAP_KEYS (default 65536; 4096 with
// OPTIMIST_BENCH_SIZE=small); each map starts with every even key and as many buckets as keys.
// The argument is the share of lookups in percent (90 or 50); the other operations are half
// inserts and half erases, so the map stays about half full. Thread counts: 1, 2 and all cores.
// items_per_second counts operations over all threads; optimist adds aborts_per_tx.
//
// After every run the map's size is checked against the successful inserts and erases the
// threads counted (the process aborts on a mismatch).
//
//   build/…/bench_tmap --benchmark_filter='BM_tmap_(optimist|tbb)/90'
#include <tbb/concurrent_hash_map.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "../common/access.hpp"
#include "../common/benchmark_main.hpp"
#include "../common/environment.hpp"
#include "../common/optimist_counters.hpp"
#include "../common/thread_counts.hpp"
#include "../common/xorshift.hpp"
#include "optimist/containers.hpp"

namespace {

using key_type = std::uint64_t;
using value_type = std::uint64_t;

std::size_t key_count() {
  static const std::size_t keys = bench::workload_size("OPTIMIST_BENCH_TMAP_KEYS", 65536, 4096);
  return keys;
}

// One operation of the mix, drawn from a per-thread xorshift generator.
using operation_source = bench::xorshift_rng;

enum class op { lookup, insert, erase };

struct step {
  op kind;
  key_type key;
};

step next_step(operation_source& source, long lookup_percent) {
  const std::uint64_t r = source.next();
  const key_type key = (r >> 16) % key_count();
  const long roll = static_cast<long>(r % 100);
  if (roll < lookup_percent) return {op::lookup, key};
  return {(r >> 8) & 1 ? op::insert : op::erase, key};
}

// Net successful inserts minus erases of the current run, summed over threads.
std::atomic<long> g_net_inserts{0};
std::size_t g_prefilled = 0;

void check_size(const char* model, std::size_t size) {
  const long expected = static_cast<long>(g_prefilled) + g_net_inserts.load();
  if (static_cast<long>(size) != expected) {
    std::fprintf(stderr, "bench_tmap: %s holds %zu keys after the run, expected %ld\n", model, size,
                 expected);
    std::abort();
  }
}

// ---- optimist::tmap --------------------------------------------------------------------------

std::unique_ptr<optimist::tmap<key_type, value_type>> g_tmap;

void setup_optimist(const benchmark::State&) {
  g_tmap = std::make_unique<optimist::tmap<key_type, value_type>>(key_count());
  for (key_type k = 0; k < key_count(); k += 2) g_tmap->insert({k, k});
  g_prefilled = g_tmap->size();
  g_net_inserts = 0;
  bench::reset_optimist_counters();
}

void teardown_optimist(const benchmark::State&) {
  check_size("optimist::tmap", g_tmap->size());
  g_tmap.reset();
}

void BM_tmap_optimist(benchmark::State& state) {
  operation_source source(static_cast<std::uint64_t>(state.thread_index()));
  const long lookup_percent = state.range(0);
  optimist::tmap<key_type, value_type>& map = *g_tmap;
  long net = 0;
  std::uint64_t found = 0;
  for (auto _ : state) {
    const step s = next_step(source, lookup_percent);
    switch (s.kind) {
      case op::lookup:
        found += map.find(s.key).has_value();
        break;
      case op::insert:
        net += map.insert({s.key, s.key});
        break;
      case op::erase:
        net -= static_cast<long>(map.erase(s.key));
        break;
    }
  }
  benchmark::DoNotOptimize(found);
  g_net_inserts.fetch_add(net);
  state.SetItemsProcessed(state.iterations());
  bench::report_optimist_counters(state);
}

// ---- std::unordered_map under one lock (std::mutex or the spin lock) --------------------------

std::unique_ptr<std::unordered_map<key_type, value_type>> g_locked_map;

void setup_mutex(const benchmark::State&) {
  g_locked_map = std::make_unique<std::unordered_map<key_type, value_type>>();
  g_locked_map->reserve(key_count());
  for (key_type k = 0; k < key_count(); k += 2) g_locked_map->emplace(k, k);
  g_prefilled = g_locked_map->size();
  g_net_inserts = 0;
}

void teardown_mutex(const benchmark::State&) {
  check_size("std::unordered_map", g_locked_map->size());
  g_locked_map.reset();
}

template <class Lock>
Lock& map_lock() {
  static Lock lock;
  return lock;
}

template <class Lock>
void BM_tmap_locked(benchmark::State& state) {
  operation_source source(static_cast<std::uint64_t>(state.thread_index()));
  const long lookup_percent = state.range(0);
  std::unordered_map<key_type, value_type>& map = *g_locked_map;
  long net = 0;
  std::uint64_t found = 0;
  for (auto _ : state) {
    const step s = next_step(source, lookup_percent);
    std::lock_guard<Lock> lock(map_lock<Lock>());
    switch (s.kind) {
      case op::lookup:
        found += map.find(s.key) != map.end();
        break;
      case op::insert:
        net += map.emplace(s.key, s.key).second;
        break;
      case op::erase:
        net -= static_cast<long>(map.erase(s.key));
        break;
    }
  }
  benchmark::DoNotOptimize(found);
  g_net_inserts.fetch_add(net);
  state.SetItemsProcessed(state.iterations());
}

// ---- tbb::concurrent_hash_map ----------------------------------------------------------------

using tbb_map = tbb::concurrent_hash_map<key_type, value_type>;
std::unique_ptr<tbb_map> g_tbb_map;

void setup_tbb(const benchmark::State&) {
  g_tbb_map = std::make_unique<tbb_map>(key_count());
  for (key_type k = 0; k < key_count(); k += 2) g_tbb_map->insert({k, k});
  g_prefilled = g_tbb_map->size();
  g_net_inserts = 0;
}

void teardown_tbb(const benchmark::State&) {
  check_size("tbb::concurrent_hash_map", g_tbb_map->size());
  g_tbb_map.reset();
}

void BM_tmap_tbb(benchmark::State& state) {
  operation_source source(static_cast<std::uint64_t>(state.thread_index()));
  const long lookup_percent = state.range(0);
  tbb_map& map = *g_tbb_map;
  long net = 0;
  std::uint64_t found = 0;
  for (auto _ : state) {
    const step s = next_step(source, lookup_percent);
    switch (s.kind) {
      case op::lookup: {
        tbb_map::const_accessor a;
        found += map.find(a, s.key);
        break;
      }
      case op::insert:
        net += map.insert({s.key, s.key});
        break;
      case op::erase:
        net -= map.erase(s.key);
        break;
    }
  }
  benchmark::DoNotOptimize(found);
  g_net_inserts.fetch_add(net);
  state.SetItemsProcessed(state.iterations());
}

void lookup_shares(benchmark::internal::Benchmark* b) {
  b->ArgName("lookup_pct")->Arg(90)->Arg(50);
  bench::caller_threads(b);
}

const bool registered = [] {
  benchmark::RegisterBenchmark("BM_tmap_optimist", BM_tmap_optimist)
      ->Setup(setup_optimist)
      ->Teardown(teardown_optimist)
      ->Apply(lookup_shares);
  benchmark::RegisterBenchmark("BM_tmap_mutex", BM_tmap_locked<std::mutex>)
      ->Setup(setup_mutex)
      ->Teardown(teardown_mutex)
      ->Apply(lookup_shares);
  benchmark::RegisterBenchmark("BM_tmap_spin", BM_tmap_locked<bench::ttas_spin_lock>)
      ->Setup(setup_mutex)
      ->Teardown(teardown_mutex)
      ->Apply(lookup_shares);
  benchmark::RegisterBenchmark("BM_tmap_tbb", BM_tmap_tbb)
      ->Setup(setup_tbb)
      ->Teardown(teardown_tbb)
      ->Apply(lookup_shares);
  return true;
}();

}  // namespace

int main(int argc, char** argv) {
  return bench::benchmark_main(argc, argv, "tmap");
}
