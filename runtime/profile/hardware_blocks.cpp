// See hardware_blocks.hpp.
#include "profile/hardware_blocks.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>

#include "htm/site_policy.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"

namespace optimist::detail {

namespace {

using site_identity = std::tuple<std::string, unsigned, std::string>;

// The atomic block's place, as the recorder writes a site. The table's shared
// overflow entry has no place: say what it stands for instead.
report::site block_site(const source_location& where) {
  report::site s;
  s.block_only = true;
  const char* file = where.file_name();
  if (where.line() == 0 && (file == nullptr || *file == '\0')) {
    s.file = "(other atomic blocks: a thread's table of sites was full)";
    return s;
  }
  s.file = file != nullptr ? file : "";
  s.line = where.line();
  s.function = where.function_name() != nullptr ? where.function_name() : "";
  return s;
}

std::uint64_t minus(std::uint64_t now, std::uint64_t before) {
  return now > before ? now - before : 0;
}

}  // namespace

std::vector<hardware_site_sample> sample_hardware_sites() {
  std::vector<hardware_site_sample> out;
  auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  for_each_registered([&](const transaction& t) {
    const hardware_site_table* table = t.hardware_sites.load(std::memory_order_acquire);
    if (table == nullptr) return;
    table->for_each([&](const hardware_site& s) {
      hardware_site_sample sample;
      sample.entry = &s;
      sample.site = s.site;
      sample.blocks = get(s.blocks);
      sample.attempts = get(s.attempts);
      sample.commits = get(s.commits);
      sample.skipped = get(s.skipped);
      for (std::size_t i = 0; i < hardware_abort_cause_count; ++i)
        sample.aborts_by_cause[i] = get(s.aborts_by_cause[i]);
      sample.in_software = s.in_software.load(std::memory_order_relaxed);
      out.push_back(sample);
    });
  });
  return out;
}

std::vector<report::hardware_block> hardware_blocks_since(
    const std::vector<hardware_site_sample>& now,
    const std::vector<hardware_site_sample>& baseline) {
  std::map<const hardware_site*, const hardware_site_sample*> before;
  for (const hardware_site_sample& b : baseline) before.emplace(b.entry, &b);

  std::map<site_identity, report::hardware_block> by_site;
  for (hardware_site_sample s : now) {
    if (const auto it = before.find(s.entry); it != before.end()) {
      const hardware_site_sample& base = *it->second;
      s.blocks = minus(s.blocks, base.blocks);
      s.attempts = minus(s.attempts, base.attempts);
      s.commits = minus(s.commits, base.commits);
      s.skipped = minus(s.skipped, base.skipped);
      for (std::size_t i = 0; i < hardware_abort_cause_count; ++i)
        s.aborts_by_cause[i] = minus(s.aborts_by_cause[i], base.aborts_by_cause[i]);
    }
    std::uint64_t any = s.blocks | s.attempts | s.commits | s.skipped;
    for (std::uint64_t n : s.aborts_by_cause) any |= n;
    if (any == 0) continue;  // this thread did not run the block since

    const report::site where = block_site(s.site);
    report::hardware_block& b = by_site[{where.file, where.line, where.function}];
    b.where = where;
    b.blocks += s.blocks;
    b.attempts += s.attempts;
    b.commits += s.commits;
    b.skipped += s.skipped;
    for (std::size_t i = 0; i < hardware_abort_cause_count; ++i)
      b.aborts_by_cause[i] += s.aborts_by_cause[i];
    b.threads += 1;
    if (s.in_software) b.threads_in_software += 1;
  }

  std::vector<report::hardware_block> out;
  for (auto& [site, block] : by_site) out.push_back(std::move(block));
  std::stable_sort(out.begin(), out.end(),
                   [](const report::hardware_block& a, const report::hardware_block& b) {
                     return a.attempts > b.attempts;
                   });
  return out;
}

}  // namespace optimist::detail
