// The read set: each orec a transaction has read through, with the version it
// saw and where in the user's code the read happened.
//
// INVARIANT (read-set-valid): at every point where the transaction acts on a
// value, every entry's orec still carries `version` (or is locked by this
// transaction at commit) — checked by validation whenever the snapshot moves.
// Every version added is at most the clock at that moment (INVARIANT
// recorded-below-clock, global_clock.hpp, asserted in debug builds), so any
// later commit to the orec leaves a different version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "optimist/source_location.hpp"
#include "stm/global_clock.hpp"
#include "stm/orec_table.hpp"

namespace optimist::detail {

struct read_entry {
  orec* lock;
  std::uint64_t version;
  source_location site;
};

class read_set {
 public:
  void add(orec* lock, std::uint64_t version, source_location site) {
    assert_recordable(version);  // INVARIANT recorded-below-clock (global_clock.hpp)
    entries_.push_back({lock, version, site});
  }
  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  const read_entry* begin() const noexcept { return entries_.data(); }
  const read_entry* end() const noexcept { return entries_.data() + entries_.size(); }
  void clear() noexcept { entries_.clear(); }

 private:
  std::vector<read_entry> entries_;
};

}  // namespace optimist::detail
