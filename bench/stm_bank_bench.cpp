// bench/stm_bank_bench.cpp — bank transfers among 1024 accounts, one binary, every model.
//
// Each iteration is one transaction of bench/bank_workload.hpp (pick two accounts, from -= 1,
// to += 1), synchronised five ways:
//
//   BM_bank_sequential      plain code, no synchronisation (1 thread only: it would race)
//   BM_bank_mutex           one global std::mutex
//   BM_bank_gnutm           GCC __transaction_atomic (libitm; see stm_bank_gnutm.cpp). The name
//                           gets a suffix from ITM_DEFAULT_METHOD when that is set, so
//                           `ITM_DEFAULT_METHOD=ml_wt` reports BM_bank_gnutm_ml_wt
//   BM_bank_optimist        optimist::atomically over optimist::tvar<long> accounts
//   BM_bank_optimist_plain  optimist::atomically with optimist::load / optimist::store on a plain
//                           long[1024]
//
// All run at 1 and 2 threads with real time. items_per_second is transactions per second over
// all threads. After every run the total balance is checked (the process aborts if money was
// created or lost); optimist variants report aborts_per_tx from optimist::stats().
//
// Run it through bench/run-bank, which builds in Release, runs the libitm variant a second time
// with ITM_DEFAULT_METHOD=ml_wt (libitm reads it once, at start-up) and prints a table of ratios:
//
//   bench/run-bank            # 5 repetitions, medians; results in bench/results/stm_bank.md
//   bench/run-bank --quick    # one short run of each
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "bank_workload.hpp"
#include "optimist/optimist.hpp"

namespace {

// The accounts of the variants that use plain memory (sequential, mutex, gnutm, optimist_plain)
// and of the tvar variant. Each benchmark's setup refills them, so variants do not interfere.
alignas(64) long g_plain_accounts[bank::account_count];
alignas(64) optimist::tvar<long> g_tvar_accounts[bank::account_count];

std::mutex g_bank_mutex;

[[noreturn]] void money_not_conserved(const benchmark::State& state, long total) {
  std::fprintf(stderr,
               "stm_bank_bench: money not conserved after a run with %d thread(s): total %ld, "
               "expected %ld\n",
               state.threads(), total, bank::expected_total);
  std::abort();
}

// ---- setup and teardown: outside the timed region, once per run ------------------------------

void setup_plain(const benchmark::State&) {
  for (long& balance : g_plain_accounts) balance = bank::initial_balance;
  optimist::reset_stats();
}

void teardown_plain(const benchmark::State& state) {
  long total = 0;
  for (long balance : g_plain_accounts) total += balance;
  if (total != bank::expected_total) money_not_conserved(state, total);
}

void setup_tvar(const benchmark::State&) {
  for (optimist::tvar<long>& balance : g_tvar_accounts) balance = bank::initial_balance;
  optimist::reset_stats();  // after the refill: its stores count as commits
}

void teardown_tvar(const benchmark::State& state) {
  long total = 0;
  for (const optimist::tvar<long>& balance : g_tvar_accounts) total += balance.get();
  if (total != bank::expected_total) money_not_conserved(state, total);
}

// After the loop every thread has passed Google Benchmark's end-of-run barrier, so thread 0 reads
// counters that cover the whole run (optimist::stats() was reset by the setup).
void report_optimist_counters(benchmark::State& state) {
  if (state.thread_index() != 0) return;
  const optimist::statistics s = optimist::stats();
  const auto transactions =
      static_cast<std::uint64_t>(state.iterations()) * static_cast<std::uint64_t>(state.threads());
  if (s.commits != transactions) {
    std::fprintf(stderr, "stm_bank_bench: optimist counted %llu commits for %llu transactions\n",
                 static_cast<unsigned long long>(s.commits),
                 static_cast<unsigned long long>(transactions));
  }
  const double commits = s.commits > 0 ? static_cast<double>(s.commits) : 1.0;
  state.counters["aborts_per_tx"] = static_cast<double>(s.aborts) / commits;
}

// ---- the variants ------------------------------------------------------------------------------

void BM_bank_sequential(benchmark::State& state) {
  bank::xorshift_rng rng(static_cast<unsigned>(state.thread_index()));
  long* accounts = g_plain_accounts;
  for (auto _ : state) {
    const bank::transfer t = bank::pick_transfer(rng);
    accounts[t.from] -= 1;
    accounts[t.to] += 1;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_bank_mutex(benchmark::State& state) {
  bank::xorshift_rng rng(static_cast<unsigned>(state.thread_index()));
  long* accounts = g_plain_accounts;
  for (auto _ : state) {
    const bank::transfer t = bank::pick_transfer(rng);
    std::lock_guard<std::mutex> lock(g_bank_mutex);
    accounts[t.from] -= 1;
    accounts[t.to] += 1;
  }
  state.SetItemsProcessed(state.iterations());
}

#if !defined(OPTIMIST_NO_GNU_TM)
void BM_bank_gnutm(benchmark::State& state) {
  bank::xorshift_rng rng(static_cast<unsigned>(state.thread_index()));
  for (auto _ : state) {
    const bank::transfer t = bank::pick_transfer(rng);
    gnutm_transfer(g_plain_accounts, t.from, t.to);
  }
  state.SetItemsProcessed(state.iterations());
  const char* method = std::getenv("ITM_DEFAULT_METHOD");
  state.SetLabel(std::string("itm=") +
                 (method != nullptr && *method != '\0' ? method : "adaptive"));
}

// The libitm variant's name: BM_bank_gnutm, or BM_bank_gnutm_<method> when ITM_DEFAULT_METHOD
// chose a method (libitm reads it once, when the process starts its first transaction).
std::string gnutm_benchmark_name() {
  std::string name = "BM_bank_gnutm";
  const char* method = std::getenv("ITM_DEFAULT_METHOD");
  if (method != nullptr && *method != '\0') name += std::string("_") + method;
  return name;
}
#endif

void BM_bank_optimist(benchmark::State& state) {
  bank::xorshift_rng rng(static_cast<unsigned>(state.thread_index()));
  optimist::tvar<long>* accounts = g_tvar_accounts;
  for (auto _ : state) {
    const bank::transfer t = bank::pick_transfer(rng);
    optimist::atomically([&] {
      accounts[t.from].set(accounts[t.from].get() - 1);
      accounts[t.to].set(accounts[t.to].get() + 1);
    });
  }
  state.SetItemsProcessed(state.iterations());
  report_optimist_counters(state);
}

void BM_bank_optimist_plain(benchmark::State& state) {
  bank::xorshift_rng rng(static_cast<unsigned>(state.thread_index()));
  long* accounts = g_plain_accounts;
  for (auto _ : state) {
    const bank::transfer t = bank::pick_transfer(rng);
    optimist::atomically([&] {
      optimist::store(accounts[t.from], optimist::load(accounts[t.from]) - 1);
      optimist::store(accounts[t.to], optimist::load(accounts[t.to]) + 1);
    });
  }
  state.SetItemsProcessed(state.iterations());
  report_optimist_counters(state);
}

void register_benchmarks() {
  benchmark::RegisterBenchmark("BM_bank_sequential", BM_bank_sequential)
      ->Setup(setup_plain)
      ->Teardown(teardown_plain)
      ->Threads(1)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_bank_mutex", BM_bank_mutex)
      ->Setup(setup_plain)
      ->Teardown(teardown_plain)
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime();
#if !defined(OPTIMIST_NO_GNU_TM)
  benchmark::RegisterBenchmark(gnutm_benchmark_name().c_str(), BM_bank_gnutm)
      ->Setup(setup_plain)
      ->Teardown(teardown_plain)
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime();
#endif
  benchmark::RegisterBenchmark("BM_bank_optimist", BM_bank_optimist)
      ->Setup(setup_tvar)
      ->Teardown(teardown_tvar)
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_bank_optimist_plain", BM_bank_optimist_plain)
      ->Setup(setup_plain)
      ->Teardown(teardown_plain)
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("bank_accounts", std::to_string(bank::account_count));
#if defined(OPTIMIST_NO_GNU_TM)
  benchmark::AddCustomContext("itm_default_method", "not built (compiler is not GCC)");
#else
  const char* method = std::getenv("ITM_DEFAULT_METHOD");
  benchmark::AddCustomContext("itm_default_method",
                              method != nullptr && *method != '\0' ? method : "adaptive");
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
