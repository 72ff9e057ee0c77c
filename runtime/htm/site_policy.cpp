// Per-site hardware policy (site_policy.hpp).
#include "htm/site_policy.hpp"

#include <algorithm>
#include <unordered_map>

#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

namespace {

void bump(std::atomic<std::uint64_t>& counter) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// Sites are compared by file-name pointer, line and column: one atomic block
// has one source_location object, so its file pointer is stable.
std::uint64_t key_of(const source_location& site) noexcept {
  auto file = reinterpret_cast<std::uintptr_t>(site.file_name());
  std::uint64_t k = (file * 0x9E3779B97F4A7C15ull) ^ (std::uint64_t{site.line()} << 20) ^
                    std::uint64_t{site.column()};
  k ^= k >> 29;
  return k == 0 ? 1 : k;
}

bool same_site(const source_location& a, const source_location& b) noexcept {
  return a.file_name() == b.file_name() && a.line() == b.line() && a.column() == b.column();
}

}  // namespace

void forget_hardware_policy() noexcept {
  g_policy_generation.fetch_add(1, std::memory_order_relaxed);
}

bool hardware_site::should_try() noexcept {
  bump(blocks);
  if (skip_left == 0) return true;
  --skip_left;
  bump(skipped);
  if (skip_left == 0) in_software.store(false, std::memory_order_relaxed);
  return false;
}

void hardware_site::learn(bool committed_in_hardware) noexcept {
  ++window_blocks;
  if (committed_in_hardware) ++window_commits;
  if (window_blocks < hardware_site_table::window) return;
  if (window_commits * 4 < window_blocks) {
    skip_length = skip_length == 0 ? hardware_site_table::first_skip
                                   : std::min(skip_length * 2, hardware_site_table::max_skip);
    skip_left = skip_length;
    in_software.store(true, std::memory_order_relaxed);
  } else {
    skip_length = 0;
  }
  window_blocks = 0;
  window_commits = 0;
}

hardware_site& hardware_site_table::at_slow(const source_location& site) noexcept {
  hardware_site& entry = find_or_insert(site);
  last_ = &entry;
  last_file_ = site.file_name();
  last_line_ = site.line();
  last_column_ = site.column();
  return entry;
}

hardware_site& hardware_site_table::find_or_insert(const source_location& site) noexcept {
  const std::uint64_t generation = g_policy_generation.load(std::memory_order_relaxed);
  if (generation != generation_) {
    generation_ = generation;
    auto forget = [](hardware_site& s) {
      s.window_blocks = s.window_commits = s.skip_left = s.skip_length = 0;
      s.in_software.store(false, std::memory_order_relaxed);
    };
    for (hardware_site& s : slots_) forget(s);
    forget(overflow_);
  }
  const std::uint64_t key = key_of(site);
  // Linear probing over a few slots; only the owner inserts, so a slot seen
  // free stays free until we fill it.
  constexpr std::size_t probes = 8;
  for (std::size_t i = 0; i < probes; ++i) {
    hardware_site& slot = slots_[(key + i) % capacity];
    std::uint64_t k = slot.key.load(std::memory_order_relaxed);
    if (k == key && same_site(slot.site, site)) return slot;
    if (k == 0) {
      slot.site = site;
      slot.key.store(key, std::memory_order_release);
      return slot;
    }
  }
  if (overflow_.key.load(std::memory_order_relaxed) == 0) {
    overflow_.site = source_location{};
    overflow_.key.store(1, std::memory_order_release);
  }
  return overflow_;
}

std::vector<hardware_site_totals> hardware_site_summary() {
  std::vector<hardware_site_totals> out;
  std::unordered_map<std::uint64_t, std::size_t> index;  // key -> position in out
  auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  for_each_registered([&](const transaction& t) {
    const hardware_site_table* table = t.hardware_sites.load(std::memory_order_acquire);
    if (table == nullptr) return;
    table->for_each([&](const hardware_site& s) {
      std::uint64_t key = s.key.load(std::memory_order_acquire);
      auto [it, inserted] = index.try_emplace(key, out.size());
      if (inserted) {
        out.emplace_back();
        out.back().site = s.site;
      }
      hardware_site_totals& total = out[it->second];
      total.blocks += get(s.blocks);
      total.attempts += get(s.attempts);
      total.commits += get(s.commits);
      total.skipped += get(s.skipped);
      for (std::size_t i = 0; i < hardware_abort_cause_count; ++i)
        total.aborts_by_cause[i] += get(s.aborts_by_cause[i]);
      total.threads += 1;
      if (s.in_software.load(std::memory_order_relaxed)) total.threads_in_software += 1;
    });
  });
  std::sort(out.begin(), out.end(),
            [](const hardware_site_totals& a, const hardware_site_totals& b) {
              return a.attempts > b.attempts;
            });
  return out;
}

}  // namespace optimist::detail
