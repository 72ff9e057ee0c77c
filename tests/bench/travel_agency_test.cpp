// The travel agency of the vacation benchmark (bench/vacation/travel_agency.hpp).
//
// - Single steps under the sequential policy: a reservation takes one free unit and records the
//   price; deleting the customer gives the unit back and bills the prices; an item with
//   reservations cannot be retired, a free one can (its units leave with it); a full item takes
//   no reservation.
// - The client transaction mix of bench/vacation/vacation.hpp under the optimist policy with 1,
//   2 and 4 threads: afterwards consistency_problem() finds nothing (trees valid, used + free ==
//   total, the customers' reservations per item == used), and the units are conserved: the sum
//   of `total` over all items changed only by the adds and retirements the transactions
//   reported.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "../../bench/common/access.hpp"
#include "../../bench/common/xorshift.hpp"
#include "../../bench/vacation/travel_agency.hpp"
#include "support/stress.hpp"
#include "support/threads.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace travel_agency_test {

namespace {

using bench::vacation::item_kind;
using optimist::test::run_threads;
using optimist::test::scaled;

TEST(TravelAgency, ReserveCancelAndRetire) {
  bench::vacation::travel_agency<bench::sequential_access> agency;
  agency.add_capacity(item_kind::flight, 7, 2, 300);
  agency.add_capacity(item_kind::room, 3, 1, 80);
  EXPECT_EQ(agency.price_if_free(item_kind::flight, 7), 300);
  EXPECT_EQ(agency.price_if_free(item_kind::car, 7), -1);

  auto* alice = agency.customer_for(1);
  EXPECT_EQ(agency.customer_for(1), alice);
  EXPECT_TRUE(agency.reserve(alice, item_kind::flight, 7));
  EXPECT_TRUE(agency.reserve(alice, item_kind::room, 3));
  EXPECT_FALSE(agency.reserve(alice, item_kind::room, 3)) << "the room has one unit";
  EXPECT_EQ(agency.price_if_free(item_kind::room, 3), -1);
  EXPECT_FALSE(agency.reserve(alice, item_kind::car, 1)) << "no such car";
  EXPECT_EQ(agency.retire_item(item_kind::room, 3), 0) << "the room is reserved";
  EXPECT_EQ(agency.reservation_count(), 2u);
  EXPECT_EQ(agency.consistency_problem(), "");

  EXPECT_EQ(agency.delete_customer(1), 380);
  EXPECT_EQ(agency.delete_customer(1), -1);
  EXPECT_EQ(agency.reservation_count(), 0u);
  EXPECT_EQ(agency.price_if_free(item_kind::room, 3), 80);
  EXPECT_EQ(agency.total_units(), 3);
  EXPECT_EQ(agency.retire_item(item_kind::room, 3), 1);
  EXPECT_EQ(agency.total_units(), 2);
  EXPECT_EQ(agency.price_if_free(item_kind::room, 3), -1);
  EXPECT_EQ(agency.consistency_problem(), "");
}

class TravelAgencyConcurrent : public ::testing::TestWithParam<int> {};

TEST_P(TravelAgencyConcurrent, ClientMixKeepsTheAgencyConsistent) {
  using access = bench::optimist_access;
  bench::vacation::travel_agency<access> agency;
  constexpr long relations = 64;
  constexpr long units = 10;  // few units: items fill up and reservations start failing
  long initial_total = 0;
  for (long id = 0; id < relations; ++id) {
    for (int k = 0; k < bench::vacation::item_kind_count; ++k) {
      access::atomic([&] { agency.add_capacity(static_cast<item_kind>(k), id, units, 100 + id); });
      initial_total += units;
    }
    access::atomic([&] { agency.customer_for(id); });
  }

  std::atomic<long> total_change{0};
  const long transactions = scaled(2'000);
  run_threads(GetParam(), [&](int index) {
    bench::xorshift_rng rng(static_cast<std::uint64_t>(index) + 1);
    long change = 0;
    for (long i = 0; i < transactions; ++i) {
      const std::uint64_t action = rng.below(100);
      const auto kind = static_cast<item_kind>(rng.below(3));
      const long id = static_cast<long>(rng.below(relations));
      const long other_id = static_cast<long>(rng.below(relations));
      const long customer_id = static_cast<long>(rng.below(relations));
      if (action < 80) {
        access::atomic([&] {
          auto* c = agency.customer_for(customer_id);
          agency.reserve(c, kind, id);
          agency.reserve(c, static_cast<item_kind>((static_cast<int>(kind) + 1) % 3), other_id);
        });
      } else if (action < 90) {
        access::atomic([&] { return agency.delete_customer(customer_id); });
      } else if (action < 95) {
        access::atomic([&] { agency.add_capacity(kind, id, units, 100); });
        change += units;
      } else {
        change -= access::atomic([&] { return agency.retire_item(kind, id); });
      }
    }
    total_change += change;
  });
  EXPECT_EQ(agency.consistency_problem(), "");
  const long total = agency.total_units();
  EXPECT_EQ(total, initial_total + total_change.load());
}

INSTANTIATE_TEST_SUITE_P(Threads, TravelAgencyConcurrent, ::testing::Values(1, 2, 4));

}  // namespace

}  // namespace travel_agency_test
