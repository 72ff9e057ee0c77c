// samples/conflict_report.cpp — find a hot spot, fix it, check the fix.
//
//   task 1: invoice = next_invoice++, then price order 1  ─┐
//   task 2: invoice = next_invoice++, then price order 2  ─┼─> all read and write one
//   task 3: invoice = next_invoice++, then price order 3  ─┘   word: they conflict
//
// The loop below prices orders in parallel, but every task first takes an
// invoice number from one shared counter — a planted hot spot: whichever task
// commits first invalidates every other task that read the counter meanwhile.
// With reporting on, optimist names both source lines of the conflict and the
// time it cost. The fix numbers invoices by the order's position (no shared
// word); the second report shows the conflicts gone.
//
// Run: conflict_report [--orders N] [--threads T]
//      (or any program with OPTIMIST_REPORT=stderr to get the report at exit)
#include <optimist/optimist.hpp>
#include <optimist/report.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <vector>

#include "sample_options.hpp"

namespace {

struct order {
  double amount;
  double price;
  long invoice;
};

// A little real work per task, so that tasks overlap as they would in a real loop.
double price_of(double amount) {
  double p = amount;
  for (int i = 0; i < 40; ++i) p = p * 1.0001 + std::sqrt(p) * 1e-6;
  return p;
}

optimist::tvar<long> next_invoice{1};  // the hot spot: one word every task reads and writes

void with_hot_spot(std::vector<order>& orders, const optimist::run_options& options) {
  for (order& o : orders) {
    optimist::add_task([&o] {
      long invoice = next_invoice.get();
      next_invoice.set(invoice + 1);
      optimist::store(o.invoice, invoice);
      optimist::store(o.price, price_of(optimist::load(o.amount)));
    });
  }
  optimist::run_all_tasks(options);
}

void fixed(std::vector<order>& orders, const optimist::run_options& options) {
  for (std::size_t i = 0; i < orders.size(); ++i) {
    optimist::add_task([&orders, i] {
      order& o = orders[i];
      optimist::store(o.invoice, static_cast<long>(i) + 1);  // the order's own number: no sharing
      optimist::store(o.price, price_of(optimist::load(o.amount)));
    });
  }
  optimist::run_all_tasks(options);
}

// Every invoice number from 1 to orders.size() used exactly once.
bool invoices_are_unique(const std::vector<order>& orders) {
  std::vector<char> seen(orders.size() + 1, 0);
  for (const order& o : orders) {
    if (o.invoice < 1 || o.invoice > static_cast<long>(orders.size()) || seen[o.invoice])
      return false;
    seen[o.invoice] = 1;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t count = sample::option(argc, argv, "--orders", 200'000);
  optimist::run_options options;
  options.threads = static_cast<unsigned>(sample::option(argc, argv, "--threads", 0));
  std::vector<order> orders(count);
  for (std::size_t i = 0; i < count; ++i) orders[i] = {10.0 + static_cast<double>(i % 100), 0, 0};

  optimist::report::enable();

  optimist::report::reset();
  auto t0 = std::chrono::steady_clock::now();
  with_hot_spot(orders, options);
  double hot_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  optimist::report::profile hot = optimist::report::snapshot();
  std::printf("conflict_report: %zu orders on %u threads\n\n", count,
              optimist::resolve_thread_count(options));
  bool hot_ok = invoices_are_unique(orders);
  std::printf("=== with the shared invoice counter (%.3f s, invoice numbers %s)\n\n", hot_s,
              hot_ok ? "unique" : "NOT UNIQUE");
  optimist::report::write_text(std::cout, hot, 3);

  optimist::report::reset();
  t0 = std::chrono::steady_clock::now();
  fixed(orders, options);
  bool fixed_ok = invoices_are_unique(orders);
  double fixed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  optimist::report::profile after = optimist::report::snapshot();
  std::printf("\n=== after the fix: invoice numbered by position (%.3f s, invoice numbers %s)\n\n",
              fixed_s, fixed_ok ? "unique" : "NOT UNIQUE");
  optimist::report::write_text(std::cout, after, 3);

  return hot_ok && fixed_ok ? 0 : 1;
}
