// optimist/inevitable.hpp — transactions that can no longer abort.
//
// A transaction that must do something it cannot undo (print, write a file,
// call a library that is not transactional) first calls become_inevitable().
// From then on it will commit: it never re-runs, so the I/O happens once.
//
//   optimist::atomically([&] {
//     long b = balance.get();
//     optimist::become_inevitable();
//     std::printf("balance %ld\n", b);   // runs exactly once
//     balance.set(b - 1);
//   });
//
// become_inevitable()
//   One transaction is inevitable at a time; a second one waits until the
//   first commits. Other transactions keep running: readers always proceed,
//   and writers commit unless they write something the inevitable one has read
//   or written (in OPTIMIST_MODE=serial every block, an inevitable one too,
//   runs alone under the serial lock, as it did before it became inevitable). If what this
//   transaction read so far has already changed, it is re-run once more, inevitable from its start.
//   Outside a transaction it does nothing. A writer to a word the inevitable transaction has read
//   or written (another thread's block, or a write outside any transaction: tvar::set,
//   optimist::store) waits until it commits. So the inevitable transaction must
//   not wait for such a writer: not for a lock it holds, and not for a thread
//   it joins (or a future it gets) whose block writes those words. That is a
//   deadlock no transaction can break, since the inevitable one cannot be
//   rolled back to let the writer go first. An exception escaping an inevitable
//   block still rolls back its transactional writes (the I/O, of course, stays
//   done). One case cannot keep the promise: a destructor that calls it while
//   an exception unwinds the block, after another thread changed what the
//   block read. It cannot restart there (a second exception would terminate),
//   so it returns, the exception is dropped and the block runs again: I/O in
//   such a destructor may run twice. Do the I/O in the body.
#pragma once

#include "optimist/detail/engine.hpp"
#include "optimist/source_location.hpp"

namespace optimist {

inline void become_inevitable(source_location site = source_location::current()) {
  detail::become_inevitable(site);
}

}  // namespace optimist
