// samples/train_schedule.cpp — a loop whose iterations depend on each other.
//
//   train 17 ──┐
//   train 42 ──┼──> train 7 starts when the last of its feeders has arrived
//   train 3  ──┘        start[7] = max(start[d] + duration[d] + transfer)
//
// A generated network of trains (fixed seed) where every train waits for a few
// others. One sweep recomputes every train's start time from its feeders; the
// sweeps repeat until nothing changes (a fixed point: the earliest schedule).
// Each train's recomputation is one task, so tasks read what other tasks
// write, and conflict.
//
// - unordered: tasks commit in whatever order they finish; each sweep is *a*
//   sequential order, so the fixed point is the same as the sequential one.
// - ordered: tasks commit in the order they were added, so every single sweep
//   — not only the end result — equals the sequential loop's sweep.
//
// Run: train_schedule [--trains N] [--threads T]
#include <optimist/optimist.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "sample_options.hpp"

namespace {

struct train {
  long duration;             // minutes on the way
  long earliest;             // timetable: never before this
  std::vector<int> feeders;  // trains whose passengers it waits for
};

struct network {
  std::vector<train> trains;
};

// A random acyclic network: train ranks are a random permutation and each
// train waits only for trains of lower rank, so a fixed point exists; since
// ranks do not follow indices, a sweep in index order needs several rounds.
network generate(std::size_t count, unsigned seed) {
  std::mt19937 random(seed);
  std::vector<int> rank(count);
  std::iota(rank.begin(), rank.end(), 0);
  std::shuffle(rank.begin(), rank.end(), random);
  std::vector<int> by_rank(count);
  for (std::size_t i = 0; i < count; ++i) by_rank[rank[i]] = static_cast<int>(i);

  network n;
  n.trains.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    train& t = n.trains[i];
    t.duration = 10 + static_cast<long>(random() % 120);
    t.earliest = static_cast<long>(random() % 600);
    int r = rank[i];
    int feeders = r == 0 ? 0 : 1 + static_cast<int>(random() % 4);
    for (int f = 0; f < feeders; ++f) {
      // Mostly nearby ranks: chains long enough to need several sweeps.
      int lo = std::max(0, r - 400);
      t.feeders.push_back(by_rank[lo + static_cast<int>(random() % static_cast<unsigned>(r - lo))]);
    }
  }
  return n;
}

constexpr long transfer_minutes = 5;

long start_time(const network& n, const std::vector<long>& start, std::size_t i) {
  long s = n.trains[i].earliest;
  for (int f : n.trains[i].feeders) {
    s = std::max(s, start[f] + n.trains[f].duration + transfer_minutes);
  }
  return s;
}

// The same computation through the STM: every read of another train's start
// is a transactional load.
long start_time_tx(const network& n, const std::vector<long>& start, std::size_t i) {
  long s = n.trains[i].earliest;
  for (int f : n.trains[i].feeders) {
    s = std::max(s, optimist::load(start[f]) + n.trains[f].duration + transfer_minutes);
  }
  return s;
}

struct outcome {
  std::vector<long> first_sweep;
  std::vector<long> fixed_point;
  int sweeps = 0;
  double seconds = 0;
};

outcome run_sequential(const network& n) {
  outcome o;
  std::vector<long> start(n.trains.size(), 0);
  auto t0 = std::chrono::steady_clock::now();
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t i = 0; i < n.trains.size(); ++i) {
      long s = start_time(n, start, i);
      if (s != start[i]) {
        start[i] = s;
        changed = true;
      }
    }
    if (++o.sweeps == 1) o.first_sweep = start;
  }
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  o.fixed_point = start;
  return o;
}

outcome run_tasks(const network& n, optimist::run_options options) {
  outcome o;
  std::vector<long> start(n.trains.size(), 0);
  // One flag per train, not one shared "changed" word: a shared flag written
  // by every task would make all of them conflict.
  std::vector<long> changed(n.trains.size(), 0);
  auto t0 = std::chrono::steady_clock::now();
  for (bool any = true; any;) {
    for (std::size_t i = 0; i < n.trains.size(); ++i) {
      optimist::add_task([&, i] {
        long s = start_time_tx(n, start, i);
        bool differs = s != optimist::load(start[i]);
        if (differs) optimist::store(start[i], s);
        optimist::store(changed[i], differs ? 1L : 0L);
      });
    }
    optimist::run_all_tasks(options);
    any = std::any_of(changed.begin(), changed.end(), [](long c) { return c != 0; });
    if (++o.sweeps == 1) o.first_sweep = start;
  }
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  o.fixed_point = start;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t count = sample::option(argc, argv, "--trains", 4000);
  optimist::run_options options;
  options.threads = static_cast<unsigned>(sample::option(argc, argv, "--threads", 0));
  const network n = generate(count, 2026);
  const unsigned threads = optimist::resolve_thread_count(options);

  outcome sequential = run_sequential(n);
  std::printf("train_schedule: %zu trains, fixed point after %d sweeps (sequential, %.3f s)\n",
              count, sequential.sweeps, sequential.seconds);

  bool ok = true;
  for (bool ordered : {false, true}) {
    options.ordered = ordered;
    optimist::reset_stats();
    outcome parallel = run_tasks(n, options);
    optimist::statistics s = optimist::stats();
    bool same_fixed_point = parallel.fixed_point == sequential.fixed_point;
    bool same_sweeps =
        parallel.first_sweep == sequential.first_sweep && parallel.sweeps == sequential.sweeps;
    // Runs commit consecutive tasks as one transaction (grouped_tasks).
    std::printf(
        "  %-9s %u threads, %.3f s, %d sweeps, commits %llu (+%llu tasks grouped with the one "
        "before), "
        "aborts %llu\n",
        ordered ? "ordered" : "unordered", threads, parallel.seconds, parallel.sweeps,
        static_cast<unsigned long long>(s.commits),
        static_cast<unsigned long long>(s.grouped_tasks),
        static_cast<unsigned long long>(s.aborts));
    std::printf("            fixed point %s the sequential one",
                same_fixed_point ? "equals" : "DIFFERS FROM");
    if (ordered) {
      std::printf("; its first sweep and its sweep count %s the sequential ones",
                  same_sweeps ? "equal" : "DIFFER FROM");
      ok = ok && same_sweeps;
    }
    std::printf("\n");
    ok = ok && same_fixed_point;
  }
  return ok ? 0 : 1;
}
