// optimist/optimist.hpp — everything optimist offers, in one include.
//
//   #include <optimist/optimist.hpp>
//
//   optimist::tvar<long> counter;
//   optimist::atomically([&] { counter.set(counter.get() + 1); });
//
// What each header offers:
//   atomically.hpp   optimist::atomically(f): run f as a transaction
//   tvar.hpp         optimist::tvar<T>: a transactional variable
//   access.hpp       optimist::load / optimist::store: transactional access to plain memory
//   memory.hpp       optimist::tx_new / optimist::tx_delete: allocation undone on abort
//   containers.hpp   optimist::tmap / tset / tvector / tqueue: transactional containers
//   durable.hpp      optimist::durable::store: a persistent heap on a file, durable commits
//   durable_map.hpp  optimist::durable::map: a transactional hash map in that heap
//   inevitable.hpp   optimist::become_inevitable(): a transaction that may do I/O
//   retry.hpp        optimist::retry() / or_else(f, g): wait for a state, try alternatives
//   stats.hpp        optimist::stats(): commits, aborts by cause, restarts
//   mode.hpp         optimist::set_execution_mode(): software only or hardware first
//   tasks.hpp        optimist::add_task / run_all_tasks / task_queue: parallel loops
//   stm.h            the C API (include it from C code)
#pragma once

#include "optimist/access.hpp"
#include "optimist/atomically.hpp"
#include "optimist/containers.hpp"
#include "optimist/durable.hpp"
#include "optimist/durable_map.hpp"
#include "optimist/inevitable.hpp"
#include "optimist/memory.hpp"
#include "optimist/mode.hpp"
#include "optimist/retry.hpp"
#include "optimist/source_location.hpp"
#include "optimist/stats.hpp"
#include "optimist/tasks.hpp"
#include "optimist/tvar.hpp"
