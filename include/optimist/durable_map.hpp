// optimist/durable_map.hpp — a transactional hash map that lives in a durable
// store's heap and survives kill -9 and power loss.
//
//   durable::map<K, V, Buckets = 1024, Hash = durable::stable_hash<K>>
//                      a heap object (make it a root, or a member of one):
//                      a fixed array of bucket heads; its nodes are
//                      allocated in the same heap with store::make.
//   durable::stable_hash<K>
//                      the default hash: the key's bytes, the same in every
//                      process (std::hash need not be).
//
//   optimist::durable::store store("index.store");
//   auto& index = store.root<optimist::durable::map<long, long>>("index");
//   optimist::atomically([&] {                      // durable when it returns
//     long stock = index.find(store, 17).value_or(0);
//     index.insert_or_assign(store, 17, stock + 5);
//     index.erase(store, 18);
//   });
//   // after a crash and reopen: index.find(store, 17) is what the last
//   // committed block stored.
//
// Operations take the store that holds the map (nodes are durable::ptr
// offsets, resolved against its heap); passing another store throws
// std::invalid_argument. Each operation is one atomic step: inside an atomic
// block it joins the transaction (a nested block: if it throws, only its own
// effects are undone), outside one it runs as a transaction of its own. Every
// effect is transactional, node allocation and freeing included: an exception
// or an abort leaves the map and the heap as they were, and when the outermost
// atomically() returns the effects are durable (with durability::full).
//
// Element types. K and V must be trivially copyable (they are stored in the
// heap's words) with alignment <= 16, and hold no raw pointers (use
// durable::ptr). Keys are compared with == if K has one, else byte-wise. The
// default hash hashes the key's bytes, so it needs a K without padding or
// floating point (std::has_unique_object_representations); pass a Hash for
// other keys — it must agree with K's == and give the same value in every
// process and every build that opens the store, or keys are no longer found
// after a reopen. (Changing Buckets changes the root's type: reopening with
// another is a store_error, not a silently misplaced key.)
//
// Conflicts. Operations on keys in different buckets touch different words.
// Inserts and erases also update one of 16 size counters (chosen by bucket):
// two of them on different keys collide 1 time in 16. size() reads all 16.
//
// insert_or_assign(store, k, v) -> bool   inserted? (else assigned)
// find(store, k) -> std::optional<V>
// contains(store, k) -> bool
// erase(store, k) -> bool                 erased? (the node is freed)
// clear(store)                            erases every element
// size(), empty()
// for_each(store, f)                      f(const K&, const V&) for every element,
//                                         in one transaction (f may run again
//                                         if it restarts: keep it free of
//                                         other effects, and from inserting
//                                         into or erasing from this map)
//
// Cost: a lookup reads the bucket's chain (Buckets is fixed: the map does not
// rehash; choose it near the expected size). The map object itself is
// 8 * (Buckets + 16) bytes.
#pragma once

#include "optimist/detail/durable_map.hpp"
