// samples/bounded_queue.cpp — blocking with optimist::retry().
//
//   producers ──put──▶ [ ring buffer of tvars, capacity K ] ──take──▶ consumers
//        full? retry(): sleep until a take commits     empty? retry(): sleep until a put commits
//
// A bounded queue needs no mutex and no condition variable: put() and take()
// are atomic blocks that call optimist::retry() when they cannot go on. The
// attempt is rolled back and the thread sleeps until another transaction
// changes something it read (the size), then runs again. The consumers stop
// at a "done" item, one per consumer, put after the last real item. Every
// item must arrive exactly once.
//
// Run: bounded_queue [--items N] [--threads T] [--capacity K]
#include <optimist/optimist.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "sample_options.hpp"

namespace {

constexpr long done_item = -1;

class bounded_queue {
 public:
  explicit bounded_queue(std::size_t capacity) : slots_(capacity) {}

  void put(long item) {
    optimist::atomically([&] {
      long n = size_.get();
      if (n == capacity()) optimist::retry();  // full: wait for a take
      slots_[static_cast<std::size_t>((head_.get() + n) % capacity())].set(item);
      size_.set(n + 1);
    });
  }

  long take() {
    return optimist::atomically([&] {
      long n = size_.get();
      if (n == 0) optimist::retry();  // empty: wait for a put
      long h = head_.get();
      long item = slots_[static_cast<std::size_t>(h)].get();
      head_.set((h + 1) % capacity());
      size_.set(n - 1);
      return item;
    });
  }

 private:
  long capacity() const { return static_cast<long>(slots_.size()); }

  optimist::tvar<long> head_{0}, size_{0};
  std::vector<optimist::tvar<long>> slots_;
};

}  // namespace

int main(int argc, char** argv) {
  const unsigned long items = sample::option(argc, argv, "--items", 200'000);
  const unsigned threads = static_cast<unsigned>(
      sample::option(argc, argv, "--threads", optimist::resolve_thread_count({})));
  const std::size_t capacity = sample::option(argc, argv, "--capacity", 16);
  const unsigned producers = threads >= 2 ? threads / 2 : 1;
  const unsigned consumers = threads >= 2 ? threads - producers : 1;

  bounded_queue queue(capacity);
  std::vector<std::atomic<unsigned>> received(items);
  optimist::reset_stats();
  auto t0 = std::chrono::steady_clock::now();

  std::vector<std::thread> workers;
  for (unsigned p = 0; p < producers; ++p) {
    workers.emplace_back([&, p] {
      for (unsigned long i = p; i < items; i += producers) queue.put(static_cast<long>(i));
    });
  }
  for (unsigned c = 0; c < consumers; ++c) {
    workers.emplace_back([&] {
      for (long item = queue.take(); item != done_item; item = queue.take()) {
        received[static_cast<std::size_t>(item)].fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (unsigned p = 0; p < producers; ++p) workers[p].join();
  for (unsigned c = 0; c < consumers; ++c) queue.put(done_item);  // one per consumer
  for (unsigned c = 0; c < consumers; ++c) workers[producers + c].join();

  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  optimist::statistics s = optimist::stats();
  unsigned long once = 0;
  for (auto& r : received) once += r.load() == 1 ? 1 : 0;

  std::printf("bounded_queue: %lu items through a queue of %zu, %u producers, %u consumers\n",
              items, capacity, producers, consumers);
  std::printf("  %.3f s, %.2f M items/s\n", seconds, static_cast<double>(items) / seconds / 1e6);
  std::printf(
      "  commits %llu, aborts %llu, retries %llu (a retry = one wait on a full or empty "
      "queue)\n",
      static_cast<unsigned long long>(s.commits), static_cast<unsigned long long>(s.aborts),
      static_cast<unsigned long long>(s.retries));
  bool ok = once == items;
  std::printf("  %s\n", ok ? "every item consumed exactly once" : "ITEMS LOST OR DUPLICATED");
  return ok ? 0 : 1;
}
