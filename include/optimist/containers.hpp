// optimist/containers.hpp — transactional containers.
//
// optimist::tmap<K, V> (hash map), optimist::tset<K> (hash set),
// optimist::tsorted_map<K, V> and optimist::tsorted_set<K> (ordered, with
// ranges and pops of the smallest or largest key: also a priority queue),
// optimist::tvector<T> and optimist::tqueue<T> (FIFO). Every member function
// is one atomic step: inside an atomic block it joins the transaction (as a
// nested block: if it throws, only its own effects are undone), outside one
// it runs as a transaction of its own. So several operations, even on several
// containers, compose into one atomic step:
//
//   optimist::tmap<std::string, long> stock;
//   optimist::tqueue<order> orders;
//   optimist::atomically([&] {
//     order o = orders.pop();                    // waits while the queue is empty
//     if (stock[o.item] < o.count) throw out_of_stock{};   // undoes the pop too
//     stock[o.item] -= o.count;
//   });
//
// Element types. Values that transactions modify live in tvars and must be
// trivially copyable: the maps' V and tvector's T. What is never modified after
// insertion is stored as plain memory and need only be copyable: the maps' and
// sets' K (std::string works) and tqueue's T. Results are copies (find()
// returns std::optional<V>), valid after the transaction ends.
//
// Conflicts. Two operations conflict only if they touch the same words:
//   tmap/tset  operations on keys in different buckets are independent. The
//              size is kept in 64 counters, one per cache line, chosen by the
//              key's hash (keys of one bucket share one), so inserts and erases
//              of different keys collide on a counter 1 time in 64. size()
//              reads all 64: inside a transaction it conflicts with every
//              concurrent insert and erase (inherent in an exact size).
//   tsorted_map/tsorted_set  a skip list: an insert or erase writes only the
//              links that point at its key's node, and a lookup reads the links
//              along its search path, so operations on keys far apart in the
//              order are independent (but for the rare tall node both paths
//              pass: about 1 in 4^levels between them). A range walk reads the
//              links from its first key to the first key past it: it conflicts
//              with inserts and erases inside the range or between its last key
//              and the next. pop_first() writes the front (pops conflict with
//              each other, as a priority queue's must). The size is kept in 64
//              counters, one per thread in the order threads first insert or
//              erase (modulo 64), so threads collide on one only when they share
//              a slot; empty() reads the front only.
//   tvector    reads and writes of different elements are independent; every
//              element access reads the size (it is bounds-checked), so
//              push_back / pop_back conflict with all element accesses and with
//              each other (inherent in a vector's size).
//   tqueue     on a non-empty queue, push and pop touch different words; pushes
//              conflict with pushes, pops with pops.
//
// Memory. Nodes and arrays are allocated with optimist::tx_new (undone if the
// transaction aborts) and freed with optimist::tx_delete: an erased node is
// reclaimed only when no transaction can still be reading it. Create and
// destroy containers outside transactions (a container destroyed inside one
// leaks its contents, with a warning on stderr), or tx_new / tx_delete them.
// Like std containers they are not copyable; destroy one only when no other
// thread uses it.
//
// Every member takes a last `site` parameter, defaulted to the call site, that
// conflict reports quote (operator[] cannot; its proxy's assignments can).
//
// tmap<K, V, Hash = std::hash<K>, KeyEqual = std::equal_to<K>>
//   tmap(bucket_count = 64), tmap{{k, v}, ...}
//   insert({k, v}) -> bool                inserted? (an existing value is left alone)
//   insert_or_assign(k, v) -> bool        inserted? (else assigned)
//   find(k) -> std::optional<V>
//   contains(k) -> bool
//   erase(k) -> std::size_t               0 or 1
//   update(k, f) -> V                     value = f(value or V{}), inserting if absent. f may
//                                         itself change the map (even key k): its changes
//                                         stay, and f's result is then written to k
//   m[k]                                  a proxy: `V x = m[k]` (V{} if absent, inserts
//                                         nothing), `m[k] = v`, `m[k] += d` (also -= *= /=
//                                         |= &= ^= ++ --; compound forms insert V{} first
//                                         if absent and return the new value)
//   size(), empty(), clear(), bucket_count()
//   for_each(f)                           f(const K&, const V&) for every element, in one
//                                         transaction (outside one, f may run again if
//                                         the transaction restarts: give it no side effects
//                                         other than collecting). f may erase or assign
//                                         elements, but must not insert into this map (an
//                                         insert that grows the table would reorder the walk:
//                                         it throws std::logic_error and the walk rolls back)
//   snapshot() -> std::vector<std::pair<K, V>>   every element, one consistent view
//   Growth: the bucket array doubles when an insert finds its key's counter above
//   2 elements per bucket and the whole map above 1 (so about 1 to 2 per bucket).
//   The rehash conflicts with every concurrent operation but happens only
//   log2(n / 64) times; pass the expected size as bucket_count to avoid it.
//
// tset<K, Hash = std::hash<K>, KeyEqual = std::equal_to<K>>
//   The same table without values: insert(k) -> bool, contains, erase, size,
//   empty, clear, bucket_count, for_each(f(const K&)), snapshot() -> std::vector<K>.
//
// tsorted_map<K, V, Compare = std::less<K>>
//   tsorted_map(less = Compare()), tsorted_map{{k, v}, ...}
//   insert, insert_or_assign, find, contains, erase, update, m[k], size,
//   empty, clear, for_each(f), snapshot() as tmap (for_each and snapshot in
//   key order; f may erase or assign elements, and the walk goes on from the
//   first key after f's that is still there; whether keys f inserts are
//   visited is unspecified). The ordered queries return
//   std::optional<std::pair<K, V>> (std::nullopt: no such element):
//   first(), last()                       the smallest and the largest key
//   lower_bound(k), upper_bound(k)        the first key >= k, > k (as std::map)
//   floor(k)                              the last key <= k
//   pop_first(), pop_last()               remove and return the smallest / largest
//   range(lo, hi) -> std::vector<std::pair<K, V>>   every key in [lo, hi), in order
//   for_each_in(lo, hi, f)                f(const K&, const V&) for every key in [lo, hi)
//   (for_each and for_each_in: an f that returns bool ends the walk by returning false,
//   so "the first 10 keys from k" reads 10 nodes, not the rest of the map; an f that
//   returns anything but void or bool does not compile)
//   erase_range(lo, hi) -> std::size_t    removes every key in [lo, hi); how many
//   A range with hi <= lo is empty. Compare must be a strict weak order; what it
//   throws propagates and leaves the map as it was. A lookup costs about 2 log2(n)
//   transactional reads; an insert writes 1.33 links on average.
//   To wait for an element, combine with optimist::retry:
//     auto job = optimist::atomically([&] {
//       auto next = jobs.pop_first();           // the earliest deadline first
//       if (!next) optimist::retry();           // sleeps until an insert commits
//       return *next;
//     });
//
// tsorted_set<K, Compare = std::less<K>>
//   The same list without values: insert(k) -> bool, contains, erase, size,
//   empty, clear, first, last, lower_bound, upper_bound, floor, pop_first,
//   pop_last (each -> std::optional<K>), range(lo, hi) -> std::vector<K>,
//   for_each(f(const K&)), for_each_in(lo, hi, f), erase_range, snapshot().
//
// tvector<T>
//   tvector(), tvector(n, value = T{}), tvector{a, b, ...}
//   push_back(v); pop_back() -> T (the removed element)
//   at(i) -> T, get(i) -> T, set(i, v), update(i, f) -> T, v[i] (a proxy as for tmap)
//   (update's f may push or pop: the result goes to element i as f left it, or throws
//   std::out_of_range if f popped it)
//   size(), empty(), capacity(), reserve(n), clear() (the capacity stays), snapshot()
//   Every index is checked: i >= size() throws std::out_of_range naming the index
//   and the size; pop_back() on an empty vector throws std::out_of_range too.
//   Growth doubles the capacity by copying into a new array.
//
// tqueue<T>
//   push(v)
//   try_pop() -> std::optional<T>         the first item, or std::nullopt if empty
//   pop() -> T                            the first item; while the queue is empty it
//                                         waits until a push commits, as
//                                         optimist::retry (<optimist/retry.hpp>) does:
//                                         it composes with or_else, and inside a task
//                                         the task is set aside instead of holding its
//                                         worker. Each push wakes one waiting consumer
//                                         (thread or task), not all of them
//   pop_until(deadline) -> std::optional<T>  as pop(), but std::nullopt once the
//                                         deadline (std::chrono::steady_clock) has passed
//                                         with the queue still empty (optimist::retry_until)
//   pop_for(timeout) -> std::optional<T>  pop_until(now + timeout); a timeout past the clock's
//                                         range (hours::max()) waits for ever
//   front() -> T                          std::out_of_range if empty
//   size(), empty(), snapshot() -> std::vector<T> (first to last)
//
// Every operation throws what its allocation throws (std::bad_alloc) and what
// the user's hash, equality or copy constructor throws, leaving the container
// as it was. One copy is made after the commit: the one that returns a removed
// value (pop, try_pop, pop_first, ...) out of its atomic block. If that copy
// throws, the removal stands (give T a move constructor that does not throw).
// tqueue keeps a copy of the last item popped (its node becomes the queue's
// head) until the next pop: a T that holds a resource holds it that long.
// Items popped before it go with their nodes: at once in serial blocks, else
// when the popping thread reclaims (every few hundred removals, and before it
// sleeps in a wait such as pop() on an empty queue).
#pragma once

#include "optimist/detail/containers/tmap.hpp"
#include "optimist/detail/containers/tqueue.hpp"
#include "optimist/detail/containers/tset.hpp"
#include "optimist/detail/containers/tsorted_map.hpp"
#include "optimist/detail/containers/tsorted_set.hpp"
#include "optimist/detail/containers/tvector.hpp"
