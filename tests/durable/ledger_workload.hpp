// tests/durable/ledger_workload.hpp — the workload and the checker shared by
// the crash tests (kill -9 and power loss).
//
// Thread t performs transfers s = 1, 2, ... ; transfer (t, s) moves a fixed
// pseudo-random amount between two fixed pseudo-random accounts, records s as
// the thread's last sequence number and keeps a receipt (make/destroy) of its
// last four transfers. Transfers are unconditional (balances may go
// negative), so the state after any set of transfers is known exactly:
// check() replays 1..last[t] for every thread and compares every balance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "durable/store_file.hpp"
#include "optimist/durable.hpp"
#include "optimist/optimist.hpp"

namespace optimist::test {

inline constexpr int ledger_accounts = 1024;
inline constexpr int ledger_max_threads = 4;
inline constexpr int ledger_receipts = 4;

struct receipt {
  std::uint64_t thread;
  std::uint64_t sequence;
  std::int64_t amount;
};

struct ledger {
  optimist::tvar<std::int64_t> balance[ledger_accounts];
  optimist::tvar<std::uint64_t> last[ledger_max_threads];
  optimist::tvar<durable::ptr<receipt>> recent[ledger_max_threads][ledger_receipts];
};

struct transfer_spec {
  int from;
  int to;
  std::int64_t amount;
};

inline std::uint64_t ledger_mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline transfer_spec transfer_of(std::uint64_t thread, std::uint64_t sequence) {
  std::uint64_t h = ledger_mix(thread * 0x100000001ull + sequence);
  int from = static_cast<int>(h % ledger_accounts);
  int to = static_cast<int>((from + 1 + (h >> 20) % (ledger_accounts - 1)) % ledger_accounts);
  return {from, to, static_cast<std::int64_t>((h >> 40) % 100 + 1)};
}

inline void perform_transfer(durable::store& store, ledger& l, std::uint64_t thread,
                             std::uint64_t sequence) {
  transfer_spec x = transfer_of(thread, sequence);
  optimist::atomically([&] {
    l.balance[x.from] = l.balance[x.from] - x.amount;
    l.balance[x.to] = l.balance[x.to] + x.amount;
    l.last[thread] = sequence;
    auto& slot = l.recent[thread][sequence % ledger_receipts];
    store.destroy(slot.get());
    slot = store.make<receipt>(receipt{thread, sequence, x.amount});
  });
}

// Empty if the recovered state is exactly the state after transfers
// 1..last[t] of every thread t < lowest.size(), with lowest[t] <= last[t] <=
// highest[t]; else what is wrong.
inline std::string check_ledger(durable::store& store, ledger& l,
                                const std::vector<std::uint64_t>& lowest,
                                const std::vector<std::uint64_t>& highest) {
  std::vector<std::int64_t> expected(ledger_accounts, 0);
  std::string problems;
  for (std::size_t t = 0; t < lowest.size(); ++t) {
    std::uint64_t last = l.last[t].get();
    if (last < lowest[t]) {
      problems += "thread " + std::to_string(t) + ": acknowledged transfer " +
                  std::to_string(lowest[t]) + " lost (recovered up to " + std::to_string(last) +
                  "); ";
    }
    if (last > highest[t]) {
      problems += "thread " + std::to_string(t) + ": transfer " + std::to_string(last) +
                  " invented (at most " + std::to_string(highest[t]) + " ran); ";
    }
    for (std::uint64_t s = 1; s <= last; ++s) {
      transfer_spec x = transfer_of(t, s);
      expected[x.from] -= x.amount;
      expected[x.to] += x.amount;
    }
    for (std::uint64_t s = last > ledger_receipts ? last - ledger_receipts + 1 : 1; s <= last;
         ++s) {
      receipt* r = store.resolve(l.recent[t][s % ledger_receipts].get());
      if (r == nullptr || optimist::load(r->sequence) != s || optimist::load(r->thread) != t ||
          optimist::load(r->amount) != transfer_of(t, s).amount) {
        problems += "thread " + std::to_string(t) + ": receipt of transfer " + std::to_string(s) +
                    " missing or wrong; ";
      }
    }
  }
  std::int64_t sum = 0;
  int wrong = 0;
  for (int a = 0; a < ledger_accounts; ++a) {
    std::int64_t b = l.balance[a].get();
    sum += b;
    if (b != expected[a]) ++wrong;
  }
  if (sum != 0) problems += "money not conserved (sum " + std::to_string(sum) + "); ";
  if (wrong != 0) problems += std::to_string(wrong) + " balances differ from the replay; ";
  // No leak: receipts are recycled through the free lists, so the bump
  // pointer stays below the ledger's block plus a few receipt blocks each.
  auto* base = reinterpret_cast<unsigned char*>(&l) - store.pointer_to(&l).offset();
  auto* state =
      reinterpret_cast<durable::detail::allocator_state*>(base + durable::detail::allocator_offset);
  std::uint64_t used = optimist::load(state->bump) - durable::detail::data_offset;
  std::uint64_t bound = std::uint64_t{16384} + 64 * (ledger_max_threads * ledger_receipts + 8);
  if (used > bound) problems += "heap leak: " + std::to_string(used) + " bytes allocated; ";
  return problems;
}

// The same when exactly acked[t] were acknowledged and at most one more ran.
inline std::string check_ledger(durable::store& store, ledger& l,
                                const std::vector<std::uint64_t>& acked) {
  std::vector<std::uint64_t> highest(acked);
  for (auto& h : highest) ++h;
  return check_ledger(store, l, acked, highest);
}

}  // namespace optimist::test
