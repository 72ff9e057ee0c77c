// bench/sortedmap/sortedmap_bench.cpp — bench_sortedmap: an ordered map under random lookups,
// short range scans, inserts and erases, three ways. (tbb::concurrent_map is left out: it
// cannot erase while other threads use it.)
//
//   BM_sortedmap_optimist   optimist::tsorted_map<std::uint64_t, std::uint64_t> (a skip list),
//                           each operation its own transaction
//   BM_sortedmap_mutex      std::map under one global std::mutex
//   BM_sortedmap_spin       the same under one global test-and-test-and-set spin lock
//
// Keys are drawn uniformly from OPTIMIST_BENCH_SORTEDMAP_KEYS (default 65536; 4096 with
// OPTIMIST_BENCH_SIZE=small); each map starts with every even key. The argument is the share of
// reads in percent (90 or 50): of the reads, nine in ten are lookups and one in ten sums the
// values of the first 8 keys from a random key on (lower_bound and a walk); the rest of the
// operations are half inserts and half erases, so the map stays about half full. Thread counts:
// 1, 2 and all cores. items_per_second counts operations over all threads.
//
// After every run the map's size is checked against the successful inserts and erases the
// threads counted (the process aborts on a mismatch).
//
//   build/…/bench_sortedmap --benchmark_filter='BM_sortedmap_(optimist|spin)/90'
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

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
constexpr int scan_length = 8;

std::size_t key_count() {
  static const std::size_t keys =
      bench::workload_size("OPTIMIST_BENCH_SORTEDMAP_KEYS", 65536, 4096);
  return keys;
}

enum class op { lookup, scan, insert, erase };

struct step {
  op kind;
  key_type key;
};

step next_step(bench::xorshift_rng& source, long read_percent) {
  const std::uint64_t r = source.next();
  const key_type key = (r >> 16) % key_count();
  const long roll = static_cast<long>(r % 100);
  if (roll < read_percent) return {(r >> 8) % 10 == 0 ? op::scan : op::lookup, key};
  return {(r >> 8) & 1 ? op::insert : op::erase, key};
}

// Net successful inserts minus erases of the current run, summed over threads.
std::atomic<long> g_net_inserts{0};
std::size_t g_prefilled = 0;

void check_size(const char* model, std::size_t size) {
  const long expected = static_cast<long>(g_prefilled) + g_net_inserts.load();
  if (static_cast<long>(size) != expected) {
    std::fprintf(stderr, "bench_sortedmap: %s holds %zu keys after the run, expected %ld\n", model,
                 size, expected);
    std::abort();
  }
}

// The body shared by every model: `map` answers find/scan/insert/erase for one step.
template <class Map>
void run_steps(benchmark::State& state, Map&& map) {
  bench::xorshift_rng source(static_cast<std::uint64_t>(state.thread_index()));
  const long read_percent = state.range(0);
  long net = 0;
  std::uint64_t seen = 0;
  for (auto _ : state) {
    const step s = next_step(source, read_percent);
    switch (s.kind) {
      case op::lookup:
        seen += map.find(s.key);
        break;
      case op::scan:
        seen += map.scan(s.key);
        break;
      case op::insert:
        net += map.insert(s.key);
        break;
      case op::erase:
        net -= map.erase(s.key);
        break;
    }
  }
  benchmark::DoNotOptimize(seen);
  g_net_inserts.fetch_add(net);
  state.SetItemsProcessed(state.iterations());
}

// ---- optimist::tsorted_map --------------------------------------------------------------------

using optimist_map = optimist::tsorted_map<key_type, value_type>;
std::unique_ptr<optimist_map> g_optimist;

void setup_optimist(const benchmark::State&) {
  g_optimist = std::make_unique<optimist_map>();
  for (key_type k = 0; k < key_count(); k += 2) g_optimist->insert({k, k});
  g_prefilled = g_optimist->size();
  g_net_inserts = 0;
  bench::reset_optimist_counters();
}

void teardown_optimist(const benchmark::State&) {
  check_size("optimist::tsorted_map", g_optimist->size());
  g_optimist.reset();
}

struct optimist_steps {
  optimist_map& map;
  std::uint64_t find(key_type k) { return map.find(k).has_value(); }
  std::uint64_t scan(key_type k) {
    return optimist::atomically([&] {
      std::uint64_t sum = 0;
      int taken = 0;
      map.for_each_in(k, key_count(), [&](key_type, value_type v) {
        sum += v;
        return ++taken < scan_length;  // false ends the walk
      });
      return sum;
    });
  }
  long insert(key_type k) { return map.insert({k, k}); }
  long erase(key_type k) { return static_cast<long>(map.erase(k)); }
};

void BM_sortedmap_optimist(benchmark::State& state) {
  run_steps(state, optimist_steps{*g_optimist});
  bench::report_optimist_counters(state);
}

// ---- std::map under one lock (std::mutex or the spin lock) ------------------------------------

std::unique_ptr<std::map<key_type, value_type>> g_locked;

void setup_locked(const benchmark::State&) {
  g_locked = std::make_unique<std::map<key_type, value_type>>();
  for (key_type k = 0; k < key_count(); k += 2) g_locked->emplace(k, k);
  g_prefilled = g_locked->size();
  g_net_inserts = 0;
}

void teardown_locked(const benchmark::State&) {
  check_size("std::map", g_locked->size());
  g_locked.reset();
}

template <class Lock>
Lock& map_lock() {
  static Lock lock;
  return lock;
}

template <class Lock>
struct locked_steps {
  std::map<key_type, value_type>& map;
  std::uint64_t find(key_type k) {
    std::lock_guard<Lock> lock(map_lock<Lock>());
    return map.find(k) != map.end();
  }
  std::uint64_t scan(key_type k) {
    std::lock_guard<Lock> lock(map_lock<Lock>());
    std::uint64_t sum = 0;
    auto it = map.lower_bound(k);
    for (int i = 0; i < scan_length && it != map.end(); ++i, ++it) sum += it->second;
    return sum;
  }
  long insert(key_type k) {
    std::lock_guard<Lock> lock(map_lock<Lock>());
    return map.emplace(k, k).second;
  }
  long erase(key_type k) {
    std::lock_guard<Lock> lock(map_lock<Lock>());
    return static_cast<long>(map.erase(k));
  }
};

template <class Lock>
void BM_sortedmap_locked(benchmark::State& state) {
  run_steps(state, locked_steps<Lock>{*g_locked});
}

void read_shares(benchmark::internal::Benchmark* b) {
  b->ArgName("read_pct")->Arg(90)->Arg(50);
  bench::caller_threads(b);
}

const bool registered = [] {
  benchmark::RegisterBenchmark("BM_sortedmap_optimist", BM_sortedmap_optimist)
      ->Setup(setup_optimist)
      ->Teardown(teardown_optimist)
      ->Apply(read_shares);
  benchmark::RegisterBenchmark("BM_sortedmap_mutex", BM_sortedmap_locked<std::mutex>)
      ->Setup(setup_locked)
      ->Teardown(teardown_locked)
      ->Apply(read_shares);
  benchmark::RegisterBenchmark("BM_sortedmap_spin", BM_sortedmap_locked<bench::ttas_spin_lock>)
      ->Setup(setup_locked)
      ->Teardown(teardown_locked)
      ->Apply(read_shares);
  return true;
}();

}  // namespace

int main(int argc, char** argv) {
  return bench::benchmark_main(argc, argv, "sortedmap");
}
