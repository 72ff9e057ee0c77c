// bench/train/train.hpp — the train-schedule fixed-point loop.
//
// Every train's start time depends on its feeders' (network.hpp): sweep over all trains,
// recomputing each from its feeders, until a sweep changes nothing. Start times only grow
// towards the one earliest schedule, so every model — whatever order its threads take — ends at
// exactly train::fixed_point(network). Unlike the interest-rate loop, elements read what other
// elements write: the transactional models conflict, and the number of sweeps depends on the
// order the updates happened in.
//
//   train::schedule<bench::mutex_access> s(train::shared_network(50'000));
//   bench::parallel_loop<bench::mutex_access> loop(2);
//   std::size_t sweeps = s.solve(loop);
#pragma once

#include <cstddef>
#include <vector>

#include "network.hpp"

namespace train {

template <class Access>
struct schedule {
  const network& net;
  std::vector<long> start;
  std::vector<long> before;  // start times before the current sweep

  explicit schedule(const network& n) : net(n), start(n.earliest), before(n.size()) {}

  // The body of the loop for train t: one critical section.
  void update(std::size_t t) {
    const long s = recompute(net, t, [&](std::size_t f) { return Access::load(start[f]); });
    if (s != Access::load(start[t])) Access::store(start[t], s);
  }

  // Sweeps with `loop` (bench/common/parallel_loop.hpp) from the earliest times until a sweep
  // changes nothing; returns the number of sweeps. Whether a sweep changed anything is found by
  // comparing with a copy taken before it, outside the critical sections: a flag set inside them
  // would be one more shared word that every transaction writes (and conflicts on), and one set
  // by an attempt that later aborts would be wrong. Every model, sequential included, pays the
  // copy (about a nanosecond per train).
  template <class Loop>
  std::size_t solve(Loop& loop) {
    start = net.earliest;
    std::size_t sweeps = 0;
    do {
      before = start;
      loop.run(net.size(), [this](std::size_t t) { update(t); });
      ++sweeps;
    } while (start != before);
    return sweeps;
  }
};

}  // namespace train
