// bench/train/network.hpp — the train-schedule kernel of samples/train_schedule.cpp, for
// benchmarks.
//
// A random acyclic network (fixed seed) in which each train waits for up to four trains of lower
// rank; ranks are a random permutation, so a sweep in index order reads both updated and
// not-yet-updated feeders. One sweep recomputes every train's start time from its feeders':
//
//   start[t] = max(earliest[t], max over feeders f of start[f] + duration[f] + transfer)
//
// As one task per train, tasks read what other tasks write, and conflict.
//
//   const train::network& n = train::shared_network(200'000);
//   long s = train::recompute(n, t, [&](std::size_t f) { return optimist::load(start[f]); });
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace train {

struct network {
  std::vector<long> duration;
  std::vector<long> earliest;
  std::vector<std::vector<std::size_t>> feeders;

  std::size_t size() const { return duration.size(); }
};

inline constexpr long transfer_minutes = 5;

// generate(trains, seed)
//   The same network for the same arguments.
inline network generate(std::size_t trains, unsigned seed = 20240601) {
  std::mt19937 random(seed);
  std::vector<std::size_t> rank(trains);
  for (std::size_t i = 0; i < trains; ++i) rank[i] = i;
  std::shuffle(rank.begin(), rank.end(), random);
  std::vector<std::size_t> by_rank(trains);
  for (std::size_t i = 0; i < trains; ++i) by_rank[rank[i]] = i;
  network n;
  n.duration.resize(trains);
  n.earliest.resize(trains);
  n.feeders.resize(trains);
  for (std::size_t i = 0; i < trains; ++i) {
    n.duration[i] = 10 + static_cast<long>(random() % 120);
    n.earliest[i] = static_cast<long>(random() % 600);
    const std::size_t r = rank[i];
    const std::size_t count = r == 0 ? 0 : 1 + random() % 4;
    for (std::size_t k = 0; k < count; ++k) n.feeders[i].push_back(by_rank[random() % r]);
  }
  return n;
}

// shared_network(trains)
//   One network per process, generated at the first call (later calls must pass the same size).
inline const network& shared_network(std::size_t trains) {
  static const network n = generate(trains);
  return n;
}

// recompute(n, t, start_of)
//   The new start time of train t, reading its feeders' start times through start_of(f).
template <class StartOf>
long recompute(const network& n, std::size_t t, StartOf&& start_of) {
  long start = n.earliest[t];
  for (std::size_t f : n.feeders[t]) {
    start = std::max(start, start_of(f) + n.duration[f] + transfer_minutes);
  }
  return start;
}

// fixed_point(n)
//   Sweeps until nothing changes: the earliest schedule. Start times only grow toward it, so no
//   sweep of any order passes it.
inline std::vector<long> fixed_point(const network& n) {
  std::vector<long> start = n.earliest;
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t t = 0; t < start.size(); ++t) {
      const long s = recompute(n, t, [&](std::size_t f) { return start[f]; });
      changed = changed || s != start[t];
      start[t] = s;
    }
  }
  return start;
}

}  // namespace train
