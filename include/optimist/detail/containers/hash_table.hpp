// optimist/detail/containers/hash_table.hpp — the chained hash table behind tmap and tset.
//
// Not for users. Every member here must be called inside a transaction: tmap
// and tset wrap each public operation in optimist::atomically, which joins a
// running transaction or starts one.
//
// Layout
//
//   table_ ──> bucket_array { mask, heads[0..mask] }      (a tvar<node*> per bucket)
//                 heads[b] ──> node ──> node ──> null      (node::next is a tvar<node*>)
//   stripes_[0..63]   per-stripe element counts, one cache line each
//
// A key's 64-bit hash is mixed once (mix_hash) and kept in its node. The bucket
// is hash & mask, the stripe is hash & 63; since there are at least 64 buckets
// (a power of two), keys of one bucket always count in the same stripe.
//
// INVARIANT (immutable-node-fields): a node's `hash` and `key` and a bucket
// array's `mask` are written only by their constructors, before the pointer to
// them is first published by a transactional write. They are therefore read
// as plain memory: a transaction reaches a node only through a transactional
// read of a link, which orders the constructor's writes before it, and
// epoch-based reclamation keeps an erased node alive while any transaction
// that might have reached it still runs.
//
// INVARIANT (counted-by-stripe): the sum of all stripes equals the number of
// nodes reachable from the buckets; an insert adds one to the stripe of the
// key it links, an erase subtracts one from the stripe of the key it unlinks.
// So operations on keys of different buckets touch disjoint words, except
// when two different buckets share a stripe (1 in 64 for random keys).
//
// Growth: after an insert, if the key's stripe holds more than grow_load
// elements per bucket of that stripe, the whole size is summed (reading all
// stripes) and, if the map holds more elements than buckets, the bucket array
// is replaced by one twice as large, relinking every node. The rehash writes
// table_ and so conflicts with every concurrent operation; it happens
// log2(n / initial buckets) times. Looking only at the own stripe first keeps
// ordinary inserts from reading the other 63 stripes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "optimist/atomically.hpp"
#include "optimist/detail/containers/structure_changes.hpp"
#include "optimist/detail/containers/tvar_array.hpp"
#include "optimist/memory.hpp"
#include "optimist/source_location.hpp"
#include "optimist/tvar.hpp"

namespace optimist::detail::containers {

inline constexpr std::size_t size_stripe_count = 64;
inline constexpr std::size_t default_bucket_count = 64;
// Average elements per bucket of one stripe above which an insert considers growing.
inline constexpr std::int64_t grow_load = 2;

// Spreads every bit of a user hash (std::hash<integer> is the identity in
// libstdc++) over the low bits that choose bucket and stripe.
inline std::uint64_t mix_hash(std::uint64_t h) noexcept {
  constexpr std::uint64_t golden = 0x9e3779b97f4a7c15ULL;  // 2^64 / golden ratio, odd
  h ^= h >> 32;
  h *= golden;
  h ^= h >> 29;
  h *= golden;
  h ^= h >> 32;
  return h;
}

// The smallest power of two >= max(n, default_bucket_count).
inline std::size_t bucket_count_for(std::size_t n) noexcept {
  std::size_t count = default_bucket_count;
  while (count < n && count <= (static_cast<std::size_t>(-1) >> 2)) count *= 2;
  return count;
}

template <class K, class V>
struct hash_node {
  hash_node(std::uint64_t h, const K& k, const V& v) : hash(h), key(k), value(v) {}
  tvar<hash_node*> next;
  const std::uint64_t hash;  // INVARIANT immutable-node-fields
  const K key;
  tvar<V> value;
};

template <class K>
struct hash_node<K, void> {
  hash_node(std::uint64_t h, const K& k) : hash(h), key(k) {}
  tvar<hash_node*> next;
  const std::uint64_t hash;  // INVARIANT immutable-node-fields
  const K key;
};

template <class Node>
struct bucket_array {
  template <class Initial>
  bucket_array(std::size_t count, Initial&& initial)
      : mask(count - 1), heads(count, std::forward<Initial>(initial)) {}
  std::size_t count() const noexcept { return mask + 1; }
  tvar<Node*>& head_for(std::uint64_t hash) const noexcept { return heads[hash & mask]; }

  const std::size_t mask;  // INVARIANT immutable-node-fields
  const tvar_array<Node*> heads;
};

// One element count per cache line, so that counting in one stripe does not
// even share a line with another stripe.
struct alignas(64) size_stripe {
  tvar<std::int64_t> count;
};

template <class K, class V, class Hash, class KeyEqual>
class hash_table {
 public:
  using node = hash_node<K, V>;
  using buckets = bucket_array<node>;

  // Where a key is, or where it would be linked: `link` is the tvar that
  // points at the key's node, or the null link at the end of its chain.
  struct position {
    buckets* table;
    tvar<node*>* link;
    node* found;
  };

  hash_table(std::size_t bucket_count, const Hash& hash, const KeyEqual& equal)
      : hasher_(hash),
        equal_(equal),
        table_(new buckets(bucket_count_for(bucket_count), [](std::size_t) { return nullptr; })) {}

  hash_table(const hash_table&) = delete;
  hash_table& operator=(const hash_table&) = delete;

  // Outside any transaction, with no other thread using the table (as for any
  // destructor): frees every node and the bucket array directly.
  ~hash_table() {
    if (in_transaction()) {
      // Nodes this very transaction allocated are also in its allocation log;
      // freeing them here would free them twice if it aborts. Leaking is the
      // safe answer; say so.
      std::fprintf(stderr,
                   "optimist: a tmap/tset was destroyed inside a transaction; its elements are "
                   "leaked. Destroy containers outside transactions (or tx_delete them).\n");
      return;
    }
    buckets* table = table_.get();
    for (std::size_t b = 0; b < table->count(); ++b) {
      node* n = table->heads[b].get();
      while (n != nullptr) {
        node* next = n->next.get();
        delete n;
        n = next;
      }
    }
    delete table;
  }

  std::uint64_t hash_of(const K& key) const {
    return mix_hash(static_cast<std::uint64_t>(hasher_(key)));
  }

  position locate(const K& key, std::uint64_t hash, source_location site) const {
    buckets* table = table_.get(site);
    tvar<node*>* link = &table->head_for(hash);
    for (node* n = link->get(site); n != nullptr; n = link->get(site)) {
      if (n->hash == hash && equal_(n->key, key)) return {table, link, n};
      link = &n->next;
    }
    return {table, link, nullptr};
  }

  node* find(const K& key, source_location site) const {
    return locate(key, hash_of(key), site).found;
  }

  // Links a new node at the end of its chain (`where` from locate(), key
  // absent): a concurrent lookup of a key earlier in the chain never reads
  // the link written here.
  void link(const position& where, node* fresh, source_location site) {
    note_structure_change();  // INVARIANT shape-counted
    where.link->set(fresh, site);
    const std::int64_t in_stripe = add_to_stripe(fresh->hash, 1, site);
    const auto buckets_per_stripe =
        static_cast<std::int64_t>(where.table->count() / size_stripe_count);
    if (in_stripe > grow_load * buckets_per_stripe && size(site) > where.table->count()) {
      grow(where.table, site);
    }
  }

  // Removes `key` if present; returns how many nodes were removed (0 or 1).
  std::size_t erase(const K& key, source_location site) {
    const position where = locate(key, hash_of(key), site);
    if (where.found == nullptr) return 0;
    unlink(where, site);
    return 1;
  }

  // Unlinks the node found at `where` and hands it to epoch reclamation.
  void unlink(const position& where, source_location site) {
    note_structure_change();  // INVARIANT shape-counted
    where.link->set(where.found->next.get(site), site);
    add_to_stripe(where.found->hash, -1, site);
    detail::tx_delete_unlinked(where.found, site);
  }

  std::size_t size(source_location site) const {
    std::int64_t total = 0;
    for (const size_stripe& s : stripes_) total += s.count.get(site);
    return static_cast<std::size_t>(total);
  }

  bool empty(source_location site) const {
    // INVARIANT counted-by-stripe: a key counts in one stripe only, so no
    // stripe is ever negative and the first non-zero one answers.
    for (const size_stripe& s : stripes_) {
      if (s.count.get(site) != 0) return false;
    }
    return true;
  }

  std::size_t bucket_count(source_location site) const { return table_.get(site)->count(); }

  void clear(source_location site) {
    buckets* table = table_.get(site);
    for (std::size_t b = 0; b < table->count(); ++b) {
      node* n = table->heads[b].get(site);
      if (n == nullptr) continue;
      table->heads[b].set(nullptr, site);
      std::uint64_t unlinked = 0;
      while (n != nullptr) {
        node* next = n->next.get(site);
        detail::tx_delete_unlinked(n, site);
        n = next;
        ++unlinked;
      }
      note_structure_change(unlinked);  // INVARIANT shape-counted
    }
    for (size_stripe& s : stripes_) {
      if (s.count.get(site) != 0) s.count.set(0, site);
    }
  }

  // f(const node&) for every node, bucket by bucket. f may erase or assign; an insert by f
  // that grows the table would reorder the buckets being walked (elements skipped or seen
  // twice): that throws std::logic_error, naming `who`, and rolls the walk back.
  template <class F>
  void for_each_node(F&& f, const char* who, source_location site) const {
    buckets* table = table_.get(site);
    for (std::size_t b = 0; b < table->count(); ++b) {
      for (node* n = table->heads[b].get(site); n != nullptr;) {
        const std::uint64_t changes = tls_structure_changes;
        f(*n);
        node* next = n->next.get(site);
        const std::uint64_t changed = tls_structure_changes - changes;
        if (changed == 0) [[likely]] {
          n = next;  // INVARIANT shape-counted: f changed no container
          continue;
        }
        if (table_.get(site) != table)
          throw std::logic_error(std::string("optimist::") + who +
                                 ": f inserted into the container being walked and its table "
                                 "grew, which reorders the walk; insert after for_each returns");
        // An unlinked node keeps its link, so after f unlinked n and then its successor, n's
        // link leads out of the chain. One change cannot do that (INVARIANT shape-counted);
        // after more, the walk follows the links to the first node still in the chain (the
        // links of unlinked nodes never pass over a node that stayed: inserts append).
        if (changed > 1) {
          while (next != nullptr && !in_chain(table->heads[b], next, site))
            next = next->next.get(site);
        }
        n = next;
      }
    }
  }

 private:
  static bool in_chain(const tvar<node*>& head, const node* wanted, source_location site) {
    for (const node* n = head.get(site); n != nullptr; n = n->next.get(site)) {
      if (n == wanted) return true;
    }
    return false;
  }

  std::int64_t add_to_stripe(std::uint64_t hash, std::int64_t delta, source_location site) {
    tvar<std::int64_t>& count = stripes_[hash & (size_stripe_count - 1)].count;
    const std::int64_t now = count.get(site) + delta;
    count.set(now, site);
    return now;
  }

  // Replaces `old` with an array twice as large. The new heads are built in
  // plain memory (nobody can reach the new array before table_ is written);
  // the nodes' links are shared and are rewritten transactionally.
  void grow(buckets* old, source_location site) {
    const std::size_t count = old->count() * 2;
    std::vector<node*> heads(count, nullptr);
    for (std::size_t b = 0; b < old->count(); ++b) {
      node* n = old->heads[b].get(site);
      while (n != nullptr) {
        node* next = n->next.get(site);
        node*& head = heads[n->hash & (count - 1)];
        n->next.set(head, site);
        head = n;
        n = next;
      }
    }
    buckets* fresh = tx_new<buckets>(count, [&](std::size_t b) { return heads[b]; });
    note_structure_change();  // INVARIANT shape-counted
    table_.set(fresh, site);
    detail::tx_delete_unlinked(
        old, site,
        sizeof(buckets) + old->count() * sizeof(tvar<node*>));  // with its array
  }

  [[no_unique_address]] Hash hasher_;
  [[no_unique_address]] KeyEqual equal_;
  tvar<buckets*> table_;
  std::array<size_stripe, size_stripe_count> stripes_;
};

}  // namespace optimist::detail::containers
