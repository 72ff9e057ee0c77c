// bench/vacation/travel_agency.hpp — the database of the travel-reservation workload, written
// once for every model.
//
// bench::vacation::travel_agency<Access> keeps four tables, each a red-black tree
// (bench/intset/rbtree.hpp) keyed by id:
//
//   cars, flights, rooms   id -> item {total, used, free, price}
//   customers              id -> customer {list of reservations}
//
// A reservation books one unit of one item for one customer and remembers the item's kind, id
// and the price paid. The operations below are the steps of the client transactions
// (bench/vacation/vacation.hpp); each runs inside the caller's Access::atomic and touches shared
// memory only through Access, so that a client transaction is one critical section under every
// model.
//
// Consistency (checked by consistency_problem() after a run, while no thread uses the agency):
//   - every table and the customer table are valid red-black trees;
//   - for every item used + free == total, with used >= 0 and free >= 0;
//   - every reservation names an existing item, and the reservations of all customers for an
//     item number exactly its `used`.
// retire_item() removes only items nobody has reserved, which keeps the last point true.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "../intset/rbtree.hpp"

namespace bench::vacation {

// The kinds of bookable items; a long so that a reservation's fields are whole words.
enum class item_kind : long { car, flight, room };
inline constexpr int item_kind_count = 3;

inline const char* to_string(item_kind kind) {
  switch (kind) {
    case item_kind::car:
      return "car";
    case item_kind::flight:
      return "flight";
    case item_kind::room:
      return "room";
  }
  return "?";
}

template <class Access>
class travel_agency {
 public:
  struct item {
    item(long capacity, long unit_price) : total(capacity), free(capacity), price(unit_price) {}
    long total;
    long used = 0;
    long free;
    long price;
  };

  struct reservation {
    reservation(item_kind k, long i, long p, reservation* n) : kind(k), id(i), price(p), next(n) {}
    item_kind kind;
    long id;
    long price;
    reservation* next;
  };

  struct customer {
    reservation* bookings = nullptr;
  };

  travel_agency() = default;
  travel_agency(const travel_agency&) = delete;
  travel_agency& operator=(const travel_agency&) = delete;
  ~travel_agency() { clear(); }

  // ---- steps of the client transactions (inside the caller's Access::atomic) -------------------

  // add_capacity(kind, id, count, price)
  //   Adds `count` units to the item (creating it if absent) and sets its price.
  void add_capacity(item_kind kind, long id, long count, long price) {
    item* it = nullptr;
    if (table(kind).find(id, &it)) {
      Access::store(it->total, Access::load(it->total) + count);
      Access::store(it->free, Access::load(it->free) + count);
      if (Access::load(it->price) != price) Access::store(it->price, price);
    } else {
      table(kind).insert(id, Access::template make<item>(count, price));
    }
  }

  // retire_item(kind, id)
  //   Removes the item if it exists and nobody holds a reservation for it. Returns the units that
  //   left with it (its total), 0 if it stays or does not exist.
  long retire_item(item_kind kind, long id) {
    item* it = nullptr;
    if (!table(kind).find(id, &it) || Access::load(it->used) != 0) return 0;
    const long units = Access::load(it->total);
    table(kind).erase(id);
    Access::destroy(it);
    return units;
  }

  // price_if_free(kind, id)
  //   The item's price if it exists and has a free unit, else -1.
  long price_if_free(item_kind kind, long id) const {
    item* it = nullptr;
    if (!table(kind).find(id, &it) || Access::load(it->free) <= 0) return -1;
    return Access::load(it->price);
  }

  // customer_for(id)
  //   The customer with this id, created (without reservations) if absent.
  customer* customer_for(long id) {
    customer* c = nullptr;
    if (customers_.find(id, &c)) return c;
    c = Access::template make<customer>();
    customers_.insert(id, c);
    return c;
  }

  // reserve(c, kind, id)
  //   Books one unit of the item for customer c; false if the item is gone or full.
  bool reserve(customer* c, item_kind kind, long id) {
    item* it = nullptr;
    if (!table(kind).find(id, &it)) return false;
    const long free = Access::load(it->free);
    if (free <= 0) return false;
    Access::store(it->free, free - 1);
    Access::store(it->used, Access::load(it->used) + 1);
    Access::template store<reservation*>(
        c->bookings, Access::template make<reservation>(kind, id, Access::load(it->price),
                                                        Access::load(c->bookings)));
    return true;
  }

  // delete_customer(id)
  //   Cancels every reservation of the customer (the units become free again) and removes it.
  //   Returns the customer's bill (the sum of the prices paid), or -1 if there is no such
  //   customer.
  long delete_customer(long id) {
    customer* c = nullptr;
    if (!customers_.find(id, &c)) return -1;
    long bill = 0;
    for (reservation* r = Access::load(c->bookings); r != nullptr;) {
      item* it = nullptr;
      // Always found: an item with reservations is never retired (see the consistency note).
      if (table(Access::load(r->kind)).find(Access::load(r->id), &it)) {
        Access::store(it->used, Access::load(it->used) - 1);
        Access::store(it->free, Access::load(it->free) + 1);
      }
      bill += Access::load(r->price);
      reservation* next = Access::load(r->next);
      Access::destroy(r);
      r = next;
    }
    customers_.erase(id);
    Access::destroy(c);
    return bill;
  }

  // ---- only while no other thread uses the agency ----------------------------------------------

  // consistency_problem()
  //   Empty if the invariants above hold, else the first one found broken.
  std::string consistency_problem() const {
    for (int k = 0; k < item_kind_count; ++k) {
      const std::string problem = tables_[static_cast<std::size_t>(k)].validate();
      if (!problem.empty())
        return std::string(to_string(static_cast<item_kind>(k))) + " table: " + problem;
    }
    if (std::string problem = customers_.validate(); !problem.empty())
      return "customer table: " + problem;

    // Reservations per item, from the customers' side.
    std::array<std::unordered_map<long, long>, item_kind_count> booked;
    std::string problem;
    customers_.for_each([&](long customer_id, customer* c) {
      for (const reservation* r = c->bookings; r != nullptr; r = r->next) {
        const auto k = static_cast<std::size_t>(r->kind);
        if (k >= item_kind_count) {
          problem = "customer " + std::to_string(customer_id) + " has a reservation of no kind";
          return;
        }
        ++booked[k][r->id];
      }
    });
    if (!problem.empty()) return problem;

    for (int k = 0; k < item_kind_count && problem.empty(); ++k) {
      const auto kind = static_cast<item_kind>(k);
      auto& count = booked[static_cast<std::size_t>(k)];
      tables_[static_cast<std::size_t>(k)].for_each([&](long id, item* it) {
        if (!problem.empty()) return;
        const std::string name = std::string(to_string(kind)) + " " + std::to_string(id);
        if (it->used < 0 || it->free < 0 || it->used + it->free != it->total) {
          problem = name + ": used " + std::to_string(it->used) + " + free " +
                    std::to_string(it->free) + " != total " + std::to_string(it->total);
          return;
        }
        const auto found = count.find(id);
        const long reserved = found == count.end() ? 0 : found->second;
        if (reserved != it->used) {
          problem = name + ": used " + std::to_string(it->used) + " but " +
                    std::to_string(reserved) + " reservations";
        }
        if (found != count.end()) count.erase(found);
      });
      if (problem.empty() && !count.empty()) {
        problem = std::to_string(count.size()) + " reserved " + to_string(kind) +
                  " id(s) missing from the table, e.g. " + std::to_string(count.begin()->first);
      }
    }
    return problem;
  }

  // reservation_count()
  //   All customers' reservations (a full walk).
  std::size_t reservation_count() const {
    std::size_t n = 0;
    customers_.for_each([&n](long, customer* c) {
      for (const reservation* r = c->bookings; r != nullptr; r = r->next) ++n;
    });
    return n;
  }

  std::size_t customer_count() const { return customers_.size(); }

  // total_units()
  //   The sum of `total` over all items of all kinds.
  long total_units() const {
    long units = 0;
    for (const auto& t : tables_) t.for_each([&units](long, item* it) { units += it->total; });
    return units;
  }

  // clear()
  //   Hands every item, customer and reservation to Access::destroy and empties the tables.
  void clear() {
    for (auto& t : tables_) {
      t.for_each([](long, item* it) { Access::destroy(it); });
      t.clear();
    }
    customers_.for_each([](long, customer* c) {
      for (reservation* r = c->bookings; r != nullptr;) {
        reservation* next = r->next;
        Access::destroy(r);
        r = next;
      }
      Access::destroy(c);
    });
    customers_.clear();
  }

 private:
  using item_table = rbtree<long, item*, Access>;

  item_table& table(item_kind kind) { return tables_[static_cast<std::size_t>(kind)]; }
  const item_table& table(item_kind kind) const { return tables_[static_cast<std::size_t>(kind)]; }

  std::array<item_table, item_kind_count> tables_;
  rbtree<long, customer*, Access> customers_;
};

}  // namespace bench::vacation
