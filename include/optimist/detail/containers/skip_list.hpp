// optimist/detail/containers/skip_list.hpp — the ordered skip list behind tsorted_map and
// tsorted_set.
//
// Not for users. Every member here must be called inside a transaction: the
// containers wrap each public operation in optimist::atomically, which joins a
// running transaction or starts one.
//
// Layout
//
//   level 2   head_[2] ───────────────────────> [30] ─────────────> null
//   level 1   head_[1] ─────────> [12] ───────> [30] ─────────────> null
//   level 0   head_[0] ──> [5] ──> [12] ──> [17] ──> [30] ──> [41] ──> null
//
// Every node is in the level-0 list, in key order; a node of height h is also
// in the lists of levels 1 .. h-1. Heights are drawn per insert with
// P(h > l) = 4^-l, so a search reads about 2 log2(n) links. A node's links
// (`next`, one tvar<node*> per level) and the heads are transactional words;
// levels_ is the number of levels in use (searches start there, instead of
// reading all max_levels heads).
//
// Conflicts follow from which links an operation reads and writes: an insert
// or erase of key k writes only the links that point at k's node (its
// predecessors', at each of its levels) and a search reads the links along its
// path. So operations on keys far apart in the order touch disjoint words,
// except on the few tall nodes every search passes (a link there is written
// only when a node of that height is inserted or erased next to it). A walk
// over [lo, hi) reads the level-0 links from the first key >= lo to the first
// key >= hi: it conflicts with inserts and erases of keys in the range or
// between its last key and the next one.
//
// INVARIANT (sorted-levels): at every level, following `next` from the head
// visits nodes in strictly increasing key order (by Compare), and the nodes of
// level l+1 are a subset of those of level l. Each insert links the new node
// at levels 0 .. h-1 between the predecessors a single search found (all in
// one transaction); each erase unlinks it at all of its levels.
//
// INVARIANT (immutable-node-fields, as in hash_table.hpp): a node's key and
// height, and its links' initial values, are written by its constructor only,
// before the node is published by a transactional write of a predecessor link.
// The key and height are read as plain memory; the links are transactional
// words from then on.
//
// INVARIANT (counted-by-stripe): the sum of the 64 stripes is the number of
// nodes in the level-0 list. An insert adds one and an erase subtracts one in
// the stripe of the thread that runs it (so a stripe may go negative; only the
// sum means anything), and two threads collide on a stripe only if they share
// one of 64 slots, never because their keys are close.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "optimist/atomically.hpp"
#include "optimist/detail/containers/hash_table.hpp"
#include "optimist/detail/containers/structure_changes.hpp"
#include "optimist/memory.hpp"
#include "optimist/source_location.hpp"
#include "optimist/tvar.hpp"

namespace optimist::detail::containers {

// 16 levels at P = 1/4 keep searches logarithmic up to 4^16 = 2^32 elements.
inline constexpr int skip_max_levels = 16;

// The height of a new node: 1 + the number of trailing zero bit pairs of a
// per-thread xorshift draw. Not transactional: an attempt that restarts may
// draw another height, and every height is correct.
inline int random_skip_height() noexcept {
  static std::atomic<std::uint64_t> threads_seeded{0};
  thread_local std::uint64_t state =
      mix_hash(threads_seeded.fetch_add(1, std::memory_order_relaxed) + 0x2545f4914f6cdd1dULL) | 1;
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  // The high half of the product: its low bits are the state's own low bits.
  std::uint64_t bits = (state * 0x2545f4914f6cdd1dULL) >> 32;
  int height = 1;
  while ((bits & 3) == 0 && height < skip_max_levels) {
    ++height;
    bits >>= 2;
  }
  return height;
}

// True if a walk's f (taking A...) returns void or bool: only a bool can end a walk, so an f
// that returns anything else (an int 0, an optional) would be ignored without a word.
template <class F, class... A>
constexpr bool walk_result_ok() {
  if constexpr (std::is_invocable_v<F&, A...>) {
    using R = std::invoke_result_t<F&, A...>;
    return std::is_void_v<R> || std::is_same_v<R, bool>;
  } else {
    return true;  // the is_invocable check reports it
  }
}

// The stripe this thread counts in (INVARIANT counted-by-stripe).
inline std::size_t thread_size_stripe() noexcept {
  static std::atomic<std::size_t> threads_seen{0};
  thread_local const std::size_t stripe =
      threads_seen.fetch_add(1, std::memory_order_relaxed) % size_stripe_count;
  return stripe;
}

// What a node holds besides its links: the key, and for a map its value.
template <class K, class V>
struct skip_payload {
  skip_payload(const K& k, const V& v) : key(k), value(v) {}
  const K key;  // INVARIANT immutable-node-fields
  tvar<V> value;
};

template <class K>
struct skip_payload<K, void> {
  explicit skip_payload(const K& k) : key(k) {}
  const K key;  // INVARIANT immutable-node-fields
};

// A node; its links live in the sized_skip_node derived from it, which is the
// object tx_new allocates (the virtual destructor lets tx_delete free it
// through this type).
template <class K, class V>
struct skip_node : skip_payload<K, V> {
  using link = tvar<skip_node*>;

  template <class... Payload>
  skip_node(int h, link* links, const Payload&... payload)
      : skip_payload<K, V>(payload...), height(h), next(links) {}
  skip_node(const skip_node&) = delete;
  skip_node& operator=(const skip_node&) = delete;
  virtual ~skip_node() = default;

  const int height;  // INVARIANT immutable-node-fields: levels 0 .. height-1
  link* const next;  // next[l]: the following node at level l
};

// A node with room for `Capacity` links (heights are rounded up to 1, 2, 4, 8
// or 16, so that five node types serve every height).
template <class K, class V, int Capacity>
struct sized_skip_node final : skip_node<K, V> {
  using base = skip_node<K, V>;
  using link = typename base::link;

  // successors[l]: the initial value of next[l], l < h.
  template <class... Payload>
  sized_skip_node(int h, base* const* successors, const Payload&... payload)
      : base(h, links, payload...) {
    // The array's tvars were built null; each one is rebuilt with its
    // initial value (same type, trivially destructible: links[l] names the
    // new object). INVARIANT immutable-node-fields: not reachable yet.
    for (int l = 0; l < h; ++l) ::new (static_cast<void*>(&links[l])) link(successors[l]);
  }

  link links[Capacity];
};

template <class K, class V, class Compare>
class skip_list {
 public:
  using node = skip_node<K, V>;
  using link = typename node::link;

  // Where a key is, or would be linked: before[l] is the link that points at
  // the first node with key >= the searched key at level l (for every level
  // up to skip_max_levels; above levels_ the heads); found is that node at
  // level 0 if its key is equal.
  struct position {
    std::array<link*, skip_max_levels> before;
    node* found;
  };

  explicit skip_list(const Compare& less) : less_(less) {}
  skip_list(const skip_list&) = delete;
  skip_list& operator=(const skip_list&) = delete;

  // Outside any transaction, with no other thread using the list (as for any
  // destructor): frees every node directly.
  ~skip_list() {
    if (in_transaction()) {
      // As hash_table: nodes this transaction allocated are also in its
      // allocation log, so freeing them here could free them twice.
      std::fprintf(stderr,
                   "optimist: a tsorted_map/tsorted_set was destroyed inside a transaction; its "
                   "elements are leaked. Destroy containers outside transactions (or tx_delete "
                   "them).\n");
      return;
    }
    node* n = heads_[0].get();
    while (n != nullptr) {
      node* following = n->next[0].get();
      delete n;
      n = following;
    }
  }

  // The first node with key >= `key` (lower) or > `key` (upper), with the
  // links before it at every level.
  position locate(const K& key, source_location site) const {
    return search([&](const node& n) { return less_(n.key, key); }, key, site);
  }

  node* lower_bound(const K& key, source_location site) const {
    return locate(key, site).before[0]->get(site);
  }
  node* upper_bound(const K& key, source_location site) const {
    return search_last([&](const node& n) { return !less_(key, n.key); }, site).second;
  }
  // The last node with key <= `key`, or null.
  node* floor(const K& key, source_location site) const {
    return search_last([&](const node& n) { return !less_(key, n.key); }, site).first;
  }
  node* find(const K& key, source_location site) const { return locate(key, site).found; }
  node* first(source_location site) const { return heads_[0].get(site); }
  node* last(source_location site) const {
    return search_last([](const node&) { return true; }, site).first;
  }

  // Links a new node for a key that is absent (`where` from locate()).
  template <class... Payload>
  void link_new(const position& where, source_location site, const Payload&... payload) {
    const int height = random_skip_height();
    const int levels = levels_.get(site);
    if (height > levels) levels_.set(height, site);
    std::array<node*, skip_max_levels> successors{};
    // Above the levels in use the heads are null (levels_ counts every level
    // any node ever had), so only the links below are read.
    for (int l = 0; l < height && l < levels; ++l) successors[l] = where.before[l]->get(site);
    node* fresh = make_node(height, successors.data(), payload...);
    note_structure_change();  // INVARIANT shape-counted
    for (int l = 0; l < height; ++l) where.before[l]->set(fresh, site);
    count(1, site);
  }

  // Unlinks `victim`, the node every where.before[l] points at for l below
  // its height, and hands it to epoch reclamation.
  void unlink(const position& where, node* victim, source_location site) {
    note_structure_change();  // INVARIANT shape-counted
    for (int l = 0; l < victim->height; ++l) where.before[l]->set(victim->next[l].get(site), site);
    count(-1, site);
    detail::tx_delete_unlinked(victim, site);
  }

  std::size_t erase(const K& key, source_location site) {
    const position where = locate(key, site);
    if (where.found == nullptr) return 0;
    unlink(where, where.found, site);
    return 1;
  }

  // Removes the first node and returns it (reclaimed later: the caller may
  // read it until its transaction ends), or null if the list is empty.
  node* pop_first(source_location site) {
    node* n = heads_[0].get(site);
    if (n == nullptr) return nullptr;
    // The first node is first at each of its levels: the heads point at it.
    position at_front;
    for (int l = 0; l < skip_max_levels; ++l) at_front.before[l] = &heads_[l];
    at_front.found = n;
    unlink(at_front, n, site);
    return n;
  }

  node* pop_last(source_location site) {
    node* n = last(site);
    if (n == nullptr) return nullptr;
    unlink(locate(n->key, site), n, site);
    return n;
  }

  // Removes every node with key in [lo, hi); returns how many.
  std::size_t erase_range(const K& lo, const K& hi, source_location site) {
    if (!less_(lo, hi)) return 0;
    const position where = locate(lo, site);
    std::size_t erased = 0;
    // The first remaining node >= lo is also the first >= lo at each of its
    // levels (a node of that level between them would be at level 0 too), so
    // where.before[l] points at it for every l below its height.
    for (node* n = where.before[0]->get(site); n != nullptr && less_(n->key, hi);
         n = where.before[0]->get(site)) {
      unlink(where, n, site);
      ++erased;
    }
    return erased;
  }

  void clear(source_location site) {
    node* n = heads_[0].get(site);
    if (n == nullptr) return;
    const int levels = levels_.get(site);
    for (int l = 0; l < levels; ++l) heads_[l].set(nullptr, site);
    std::uint64_t unlinked = 0;
    while (n != nullptr) {
      node* following = n->next[0].get(site);
      detail::tx_delete_unlinked(n, site);
      n = following;
      ++unlinked;
    }
    note_structure_change(unlinked);  // INVARIANT shape-counted
    for (size_stripe& s : stripes_) {
      if (s.count.get(site) != 0) s.count.set(0, site);
    }
  }

  std::size_t size(source_location site) const {
    std::int64_t total = 0;
    for (const size_stripe& s : stripes_) total += s.count.get(site);
    return static_cast<std::size_t>(total);
  }
  bool empty(source_location site) const { return heads_[0].get(site) == nullptr; }

  // f(const node&) for every node, in key order (for_each_node), or for
  // every node with key in [lo, hi) (for_each_node_in), until f returns false
  // if it returns bool. f may change the list: the walk goes on to the first
  // node after the one f was given that is still linked.
  template <class F>
  void for_each_node(F&& f, source_location site) const {
    walk(
        heads_[0].get(site), [](const node&) { return false; }, f, site);
  }
  template <class F>
  void for_each_node_in(const K& lo, const K& hi, F&& f, source_location site) const {
    if (!less_(lo, hi)) return;
    walk(
        lower_bound(lo, site), [&](const node& n) { return !less_(n.key, hi); }, f, site);
  }

 private:
  template <class Stop, class F>
  void walk(node* from, Stop&& stop, F&& f, source_location site) const {
    for (node* n = from; n != nullptr && !stop(*n);) {
      node* const current = n;
      const std::uint64_t changes = tls_structure_changes;
      if constexpr (std::is_same_v<std::invoke_result_t<F&, const node&>, bool>) {
        if (!f(*current)) return;  // f answered false: the walk ends here
      } else {
        f(*current);
      }
      // An unlinked node keeps the links it had, so after f unlinked `current` and then its
      // successor, current's link leads to a node that is no longer in the list. One change
      // cannot do that (INVARIANT shape-counted); after more, the walk searches again.
      if (tls_structure_changes - changes <= 1) [[likely]] {
        n = current->next[0].get(site);
      } else {
        n = upper_bound(current->key, site);  // the key stays readable: freed after commit
      }
    }
  }

  // Down from the top level, moving right while advance(next node) holds.
  // Returns the links at which each level stopped.
  template <class Advance>
  position search(Advance&& advance, const K& key, source_location site) const {
    position where;
    const int levels = levels_.get(site);
    link* links = heads_.data();
    for (int l = skip_max_levels - 1; l >= levels; --l) where.before[l] = &heads_[l];
    node* candidate = nullptr;
    for (int l = levels - 1; l >= 0; --l) {
      for (;;) {
        candidate = links[l].get(site);
        if (candidate == nullptr || !advance(*candidate)) break;
        links = candidate->next;
      }
      where.before[l] = &links[l];
    }
    where.found = candidate != nullptr && !less_(key, candidate->key) ? candidate : nullptr;
    return where;
  }

  // As search, without recording the links: the last node for which
  // advance() held (null: none) and the node after it.
  template <class Advance>
  std::pair<node*, node*> search_last(Advance&& advance, source_location site) const {
    const int levels = levels_.get(site);
    node* last = nullptr;
    node* following = nullptr;
    link* links = heads_.data();
    for (int l = levels - 1; l >= 0; --l) {
      for (;;) {
        following = links[l].get(site);
        if (following == nullptr || !advance(*following)) break;
        last = following;
        links = following->next;
      }
    }
    return {last, following};
  }

  template <class... Payload>
  static node* make_node(int height, node* const* successors, const Payload&... payload) {
    if (height <= 1) return tx_new<sized_skip_node<K, V, 1>>(height, successors, payload...);
    if (height <= 2) return tx_new<sized_skip_node<K, V, 2>>(height, successors, payload...);
    if (height <= 4) return tx_new<sized_skip_node<K, V, 4>>(height, successors, payload...);
    if (height <= 8) return tx_new<sized_skip_node<K, V, 8>>(height, successors, payload...);
    return tx_new<sized_skip_node<K, V, skip_max_levels>>(height, successors, payload...);
  }

  void count(std::int64_t delta, source_location site) {
    tvar<std::int64_t>& c = stripes_[thread_size_stripe()].count;
    c.set(c.get(site) + delta, site);
  }

  [[no_unique_address]] Compare less_;
  mutable std::array<link, skip_max_levels> heads_{};
  tvar<int> levels_{1};
  std::array<size_stripe, size_stripe_count> stripes_;
};

}  // namespace optimist::detail::containers
