// bench/common/parallel_loop.hpp — a parallel loop of critical sections, the way each model's
// user would write it.
//
//   bench::parallel_loop<Access> loop(threads);          // outside the timed region
//   loop.run(accounts.size(), [&](std::size_t i) {        // body(i): one critical section
//     Access::store(a[i].balance, Access::load(a[i].balance) * 1.05);
//   });
//
// How each model runs it:
//   sequential            the plain for loop (threads must be 1)
//   optimist models       one optimist task per index, added in bulk (optimist::add_tasks over
//                         the index range, as the other models' loops are one parallel_for),
//                         then optimist::run_all_tasks with run_options::threads = threads: each
//                         index is a task of its own on the runtime's workers (tasks_bench
//                         measures the one-add_task-per-index form of the seed)
//   the others            tbb::parallel_for over a tbb::task_arena of `threads` threads, each
//                         index's body inside Access::atomic (a global lock, libitm's
//                         transaction); oneTBB's partitioner chooses the chunks
// The body may run more than once for the transactional models (an aborted attempt re-runs), so
// it must have no effect other than through Access.
//
// tbb_loop<Access> is Access run the third way even when it is an optimist model: named
// <model>_tbb (optimist_stm_tbb), it separates what optimist's task runtime costs from what its
// transactions cost.
// chunked<Lock> (a lock model: mutex_access, spin_access), named <model>_chunk, takes the lock
// once per chunk oneTBB hands a worker, not once per index: what a lock user who measured would
// write, and the fair baseline for optimist's task runtime, which also commits consecutive
// indices in one transaction (task groups). Each index is still inside one critical section.
#pragma once

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>

#include "access.hpp"
#include "optimist/optimist.hpp"

namespace bench {

template <class Access>
struct tbb_loop : Access {
  static std::string model_name() { return Access::model_name() + "_tbb"; }
};

template <class Access>
inline constexpr bool is_tbb_loop = false;
template <class Access>
inline constexpr bool is_tbb_loop<tbb_loop<Access>> = true;

template <class Lock>
struct chunked : Lock {
  static_assert(std::is_base_of_v<sequential_access, Lock> &&
                    !std::is_same_v<Lock, sequential_access>,
                "chunked<> is for the lock models");
  static std::string model_name() { return Lock::model_name() + "_chunk"; }
};

template <class Access>
inline constexpr bool is_chunked = false;
template <class Lock>
inline constexpr bool is_chunked<chunked<Lock>> = true;

template <class Access>
class parallel_loop {
 public:
  static constexpr bool uses_optimist_tasks =
      std::is_base_of_v<optimist_access, Access> && !is_tbb_loop<Access>;
  static constexpr bool is_sequential = std::is_same_v<Access, sequential_access>;

  explicit parallel_loop(int threads) : threads_(threads) {
    if constexpr (!uses_optimist_tasks && !is_sequential) arena_.emplace(threads);
  }

  template <class Body>
  void run(std::size_t n, const Body& body) {
    if constexpr (is_sequential) {
      for (std::size_t i = 0; i < n; ++i) body(i);
    } else if constexpr (uses_optimist_tasks) {
      optimist::add_tasks(std::size_t{0}, n, [&body](std::size_t i) { body(i); });
      optimist::run_options options;
      options.threads = static_cast<unsigned>(threads_);
      optimist::run_all_tasks(options);
    } else {
      arena_->execute([&] {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n),
                          [&](const tbb::blocked_range<std::size_t>& range) {
                            if constexpr (is_chunked<Access>) {
                              Access::atomic([&] {
                                for (std::size_t i = range.begin(); i != range.end(); ++i) body(i);
                              });
                            } else {
                              for (std::size_t i = range.begin(); i != range.end(); ++i) {
                                Access::atomic([&] { body(i); });
                              }
                            }
                          });
      });
    }
  }

 private:
  int threads_;
  std::optional<tbb::task_arena> arena_;
};

}  // namespace bench
