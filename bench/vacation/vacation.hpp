// bench/vacation/vacation.hpp — the travel-reservation workload, written once for every model.
//
// Modelled on the description of STAMP's "vacation" benchmark (our own code): a travel agency
// (bench/vacation/travel_agency.hpp) keeps cars, flights, rooms and customers in red-black trees,
// and client threads run transactions against it. One iteration is one client transaction, one
// critical section under every model (BM_vacation_<model>):
//
//   90 %  make-reservation  look at `queries` items of random kinds and ids; per kind, book the
//                           most expensive one that has a free unit for a random customer
//                           (created if it does not exist yet)
//    5 %  delete-customer   cancel all reservations of a random customer (their units become
//                           free) and remove it
//    5 %  update-tables     `queries` times: a random item gains 100 units at a new price
//                           (created if absent), or is retired if nobody has reserved it
//
// That is the "low contention" mix: most transactions read a few tree paths and write a few
// words of unrelated items. Item and customer ids are drawn from the first 90 % of the ids
// (the rest are never touched after the start), like STAMP's query range.
//
// Start of every run: `relations` cars, flights and rooms (ids 0..relations-1, 100 units each,
// random prices) and `relations` customers without reservations. The state drifts during a run:
// reservations accumulate (about 2.3 per transaction against 5 % of a customer's list cancelled),
// so customers' lists grow slowly and a model that runs more iterations ends on slightly longer
// lists. Tree lookups dominate the cost, so this moves the ratios little; the `reservations`
// counter shows how far a run went.
//
// Sizes: OPTIMIST_BENCH_VACATION_RELATIONS (default 16 384; small: 256),
// OPTIMIST_BENCH_VACATION_QUERIES (items per transaction, default 4, at most 32).
//
// After every run thread 0 checks the agency's consistency (travel_agency::consistency_problem:
// red-black invariants, used + free == total, reservations per item == used) and reports a
// failure with SkipWithError.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "../common/environment.hpp"
#include "../common/models.hpp"
#include "../common/xorshift.hpp"
#include "travel_agency.hpp"

namespace bench::vacation {

inline constexpr std::size_t max_queries = 32;
inline constexpr long units_per_item = 100;
inline constexpr unsigned reservation_percent = 90;
inline constexpr unsigned delete_customer_percent = 5;  // the rest (5 %) update the tables
inline constexpr unsigned query_range_percent = 90;

inline long relations() {
  static const long n =
      static_cast<long>(workload_size("OPTIMIST_BENCH_VACATION_RELATIONS", 16'384, 256));
  return n;
}

inline std::size_t queries() {
  static const std::size_t n =
      std::min(size_from_environment("OPTIMIST_BENCH_VACATION_QUERIES", 4), max_queries);
  return n;
}

// Ids the clients use: the first 90 % (at least 1).
inline long query_range() {
  return std::max(1L, relations() * static_cast<long>(query_range_percent) / 100);
}

inline long random_price(xorshift_rng& rng) {
  return 50 + static_cast<long>(rng.below(50)) * 10;
}

// ---- the client transactions --------------------------------------------------------------------

// What a transaction will look at, drawn before it starts: the transaction itself makes no random
// choice, so a re-run after an abort asks the same questions.
struct query {
  item_kind kind;
  long id;
};

template <class Access>
long make_reservation(travel_agency<Access>& agency, long customer_id,
                      const std::array<query, max_queries>& asked, std::size_t count) {
  return Access::atomic([&] {
    std::array<long, item_kind_count> best_price;
    std::array<long, item_kind_count> best_id{};
    best_price.fill(-1);
    for (std::size_t q = 0; q < count; ++q) {
      const auto k = static_cast<std::size_t>(asked[q].kind);
      const long price = agency.price_if_free(asked[q].kind, asked[q].id);
      if (price > best_price[k]) {
        best_price[k] = price;
        best_id[k] = asked[q].id;
      }
    }
    long booked = 0;
    if (*std::max_element(best_price.begin(), best_price.end()) < 0) return booked;
    auto* c = agency.customer_for(customer_id);
    for (std::size_t k = 0; k < item_kind_count; ++k) {
      if (best_price[k] >= 0 && agency.reserve(c, static_cast<item_kind>(k), best_id[k])) ++booked;
    }
    return booked;
  });
}

template <class Access>
long delete_customer(travel_agency<Access>& agency, long customer_id) {
  return Access::atomic([&] { return agency.delete_customer(customer_id); });
}

struct table_update {
  item_kind kind;
  long id;
  long price;  // < 0: retire the item instead
};

template <class Access>
void update_tables(travel_agency<Access>& agency, const std::array<table_update, max_queries>& todo,
                   std::size_t count) {
  Access::atomic([&] {
    for (std::size_t u = 0; u < count; ++u) {
      if (todo[u].price >= 0) {
        agency.add_capacity(todo[u].kind, todo[u].id, units_per_item, todo[u].price);
      } else {
        agency.retire_item(todo[u].kind, todo[u].id);
      }
    }
  });
}

// ---- one benchmark: the workload under a model
// ---------------------------------------------------

template <class Model>
class benchmark_case {
  using access = typename Model::access;
  using agency_type = travel_agency<access>;

 public:
  static void register_it() {
    const std::string name = "BM_vacation_" + Model::name();
    benchmark::RegisterBenchmark(name.c_str(), &run)->Setup(&setup)->Apply(&Model::thread_counts);
  }

 private:
  // Never destroyed: optimist's reclaimer may still hold its nodes at exit.
  static agency_type& shared_agency() {
    static agency_type* agency = new agency_type;
    return *agency;
  }

  // Outside the timed region, once per run, before the threads start: the initial tables, one
  // small transaction per row.
  static void setup(const benchmark::State& state) {
    prepare_error_ = Model::prepare();
    agency_type& agency = shared_agency();
    agency.clear();
    xorshift_rng rng(4242);
    for (long id = 0; id < relations(); ++id) {
      for (int k = 0; k < item_kind_count; ++k) {
        add_row(agency, static_cast<item_kind>(k), id, random_price(rng));
      }
      add_customer(agency, id);
    }
    if constexpr (Model::is_optimist) reset_optimist_counters(state);
  }

  // Each row its own transaction, in its own frame: under GCC TM a transaction begins with a
  // setjmp-like call, and a loop counter living across it draws -Wclobbered.
  [[gnu::noinline]] static void add_row(agency_type& agency, item_kind kind, long id, long price) {
    access::atomic([&] { agency.add_capacity(kind, id, units_per_item, price); });
  }
  [[gnu::noinline]] static void add_customer(agency_type& agency, long id) {
    access::atomic([&] { agency.customer_for(id); });
  }

  static void run(benchmark::State& state) {
    if (!prepare_error_.empty()) state.SkipWithError(prepare_error_.c_str());
    agency_type& agency = shared_agency();
    const auto range = static_cast<std::uint64_t>(query_range());
    const std::size_t count = queries();
    xorshift_rng rng(static_cast<std::uint64_t>(state.thread_index()) + 77);
    std::array<query, max_queries> asked{};
    std::array<table_update, max_queries> todo{};
    for (auto _ : state) {
      const std::uint64_t action = rng.below(100);
      if (action < reservation_percent) {
        for (std::size_t q = 0; q < count; ++q) {
          asked[q] = {static_cast<item_kind>(rng.below(item_kind_count)),
                      static_cast<long>(rng.below(range))};
        }
        const long customer_id = static_cast<long>(rng.below(range));
        benchmark::DoNotOptimize(make_reservation(agency, customer_id, asked, count));
      } else if (action < reservation_percent + delete_customer_percent) {
        const long customer_id = static_cast<long>(rng.below(range));
        benchmark::DoNotOptimize(delete_customer(agency, customer_id));
      } else {
        for (std::size_t u = 0; u < count; ++u) {
          const bool add = rng.below(2) == 0;
          todo[u] = {static_cast<item_kind>(rng.below(item_kind_count)),
                     static_cast<long>(rng.below(range)), add ? random_price(rng) : -1};
        }
        update_tables(agency, todo, count);
      }
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(Model::label(state.threads()));
    if (state.thread_index() != 0) return;
    // Every thread has passed the end-of-loop barrier: the agency is quiescent.
    const std::string problem = agency.consistency_problem();
    if (!problem.empty()) {
      state.SkipWithError(("vacation: inconsistent after the run: " + problem).c_str());
    }
    state.counters["reservations"] = static_cast<double>(agency.reservation_count());
    state.counters["customers"] = static_cast<double>(agency.customer_count());
    if constexpr (Model::is_optimist) report_optimist_counters(state);
  }

  static inline std::string prepare_error_;
};

template <class Model>
void register_model() {
  benchmark_case<Model>::register_it();
}

}  // namespace bench::vacation
