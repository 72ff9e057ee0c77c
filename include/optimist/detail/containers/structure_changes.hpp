// optimist/detail/containers/structure_changes.hpp — did user code change a container's shape?
//
// Not for users. update(key, f) finds its element, calls the user's f, then writes the result
// where the element was. If f itself linked or unlinked nodes, or replaced a table or an array,
// of the same container (inside the same transaction), that position may be stale: a node that
// f erased, a chain end that f's insert extended, a bucket array that f's insert replaced. The
// write would then go to memory that is no longer part of the container, and the element, or
// f's own insert, would be lost without a word.
//
// Changes made by other threads cannot do that: they commit (or not) as transactions, and one
// that changed a link this transaction read makes it restart. So a per-thread count suffices:
// every structural change by the containers adds one per node it links or unlinks (INVARIANT
// shape-counted), and update compares the count before and after f, finding its element again
// if it moved. The walks (for_each) use the exact count: after f made one change, the node f was
// given still leads to the next one (f linked or unlinked one node: not both that node and its
// successor); after more, they find their place again. The count is not rolled back with an
// aborted attempt; that costs at most one extra search.
#pragma once

#include <cstdint>

namespace optimist::detail::containers {

inline thread_local std::uint64_t tls_structure_changes = 0;

// INVARIANT (shape-counted): called by every operation that links or unlinks nodes (`nodes`:
// how many), or replaces a container's table or array, before it returns.
inline void note_structure_change(std::uint64_t nodes = 1) noexcept {
  tls_structure_changes += nodes;
}

}  // namespace optimist::detail::containers
