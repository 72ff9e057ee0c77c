// samples/durable_ledger.cpp — a bank ledger that survives crashes: a
// persistent heap on a file (<optimist/durable.hpp>).
//
//   ledger.store ── root "ledger": balances[1024], transfers, last ─► entry ─► entry ─► …
//                   (each entry made with store.make, position-independent ptr)
//                 ── root "received": durable::map account -> transfers it received
//                   (<optimist/durable_map.hpp>; its nodes live in the same heap)
//
// Every atomic block that writes the heap is durable when it returns: its
// redo record has been fdatasync'ed (one sync serves every thread waiting).
// Kill the program at any moment (kill -9, power loss): the next run finds
// every transfer that returned, money conserved, the index agreeing with the
// ledger, and carries on.
//
// Run: durable_ledger [--file PATH] [--threads T] [--transfers N] [--fresh 1]
//      (a second run continues the first one's ledger)
#include <optimist/durable.hpp>
#include <optimist/durable_map.hpp>
#include <optimist/optimist.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "sample_options.hpp"

namespace {

namespace durable = optimist::durable;

constexpr int accounts = 1024;
constexpr long initial_balance = 1000;

// One journal entry per transfer, newest first: a linked list in the heap.
struct entry {
  long from, to, amount;
  durable::ptr<entry> older;
};

struct ledger {
  ledger() {
    for (auto& b : balance) b = initial_balance;  // runs once, when the store is created
  }
  optimist::tvar<long> balance[accounts];
  optimist::tvar<long> transfers;               // ever, across runs
  optimist::tvar<durable::ptr<entry>> journal;  // newest entry
  optimist::tvar<long> journal_length;
};

// How many transfers each account received (accounts that never received one
// are absent): its values always sum to ledger::transfers.
using received_index = durable::map<long, long>;

constexpr long journal_keep = 64;  // older entries are destroyed (their blocks reused)

long total(ledger& l) {
  return optimist::atomically([&] {
    long sum = 0;
    for (auto& b : l.balance) sum += b.get();
    return sum;
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = "durable_ledger.store";
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--file") path = argv[i + 1];
  }
  const unsigned threads = static_cast<unsigned>(sample::option(argc, argv, "--threads", 2));
  const unsigned long transfers = sample::option(argc, argv, "--transfers", 2000);
  if (sample::option(argc, argv, "--fresh", 0) != 0) {
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-log");
  }

  long before = 0;
  {
    durable::store store(path);  // creates the file, or recovers it
    ledger& l = store.root<ledger>("ledger");
    received_index& received = store.root<received_index>("received");
    before = l.transfers.get();
    std::printf("opened %s: %ld transfers so far (%llu replayed by recovery)\n", path.c_str(),
                before, static_cast<unsigned long long>(store.stats().recovered));

    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        unsigned long long x = 0x9E3779B97F4A7C15ull * (t + 1 + static_cast<unsigned long>(before));
        for (unsigned long i = 0; i < transfers; ++i) {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          long from = static_cast<long>(x % accounts), to = static_cast<long>((x >> 20) % accounts);
          long amount = 1 + static_cast<long>((x >> 40) % 50);
          optimist::atomically([&] {  // durable when it returns
            if (from == to || l.balance[from] < amount) return;
            l.balance[from] = l.balance[from] - amount;
            l.balance[to] = l.balance[to] + amount;
            l.transfers = l.transfers + 1;
            received.insert_or_assign(store, to, received.find(store, to).value_or(0) + 1);
            l.journal = store.make<entry>(entry{from, to, amount, l.journal.get()});
            if (l.journal_length + 1 > journal_keep) {
              // Drop the oldest entry: walk to the one before it.
              entry* e = store.resolve(l.journal.get());
              for (long k = 1; k < journal_keep; ++k) e = store.resolve(optimist::load(e->older));
              store.destroy(optimist::load(e->older));
              optimist::store(e->older, durable::ptr<entry>{});
            } else {
              l.journal_length = l.journal_length + 1;
            }
          });
        }
      });
    }
    for (auto& w : workers) w.join();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto s = store.stats();
    std::printf(
        "%u threads: %lu transfers in %.2f s: %llu durable commits, %llu fdatasyncs "
        "(%.2f commits per sync), %llu checkpoints\n",
        threads, threads * transfers, seconds, static_cast<unsigned long long>(s.commits),
        static_cast<unsigned long long>(s.syncs),
        s.syncs ? static_cast<double>(s.commits) / static_cast<double>(s.syncs) : 0.0,
        static_cast<unsigned long long>(s.checkpoints));
  }

  // Reopen: everything is still there.
  durable::store store(path);
  ledger& l = store.root<ledger>("ledger");
  received_index& received = store.root<received_index>("received");
  long sum = total(l);
  long indexed = 0;
  received.for_each(store, [&](long, long count) { indexed += count; });
  long length = 0;
  for (auto p = l.journal.get(); p; p = optimist::load(store.resolve(p)->older)) ++length;
  std::printf(
      "reopened: %ld transfers, total %ld (expected %ld), journal of %ld entries, %zu accounts "
      "received %ld transfers\n",
      l.transfers.get(), sum, initial_balance * accounts, length, received.size(), indexed);
  bool ok = sum == initial_balance * accounts && length == l.journal_length.get() &&
            l.transfers.get() > before && indexed == l.transfers.get();
  std::printf("%s\n", ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
