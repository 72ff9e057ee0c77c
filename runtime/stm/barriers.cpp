// Read and write barriers: every transactional access goes through here.
//
// Inside a transaction an access is logged (reads: orec + version; writes:
// redo log). Outside one it is a transaction of its own: a read waits for an
// unlocked orec and reads consistently; a write locks the orec, takes a
// timestamp, writes and unlocks — so single accesses are linearizable with
// respect to every commit.
//
// A doomed attempt (restart_signal already thrown) keeps answering while the
// stack unwinds — destructors may still read and write — but logs nothing;
// if user code swallowed the signal instead, the next access throws again.
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

#include "durable/commit_hook.hpp"
#include "htm/abort_injection.hpp"
#include "htm/hardware_barriers.hpp"
#include "optimist/atomically.hpp"
#include "optimist/detail/engine.hpp"
#include "profile/orec_sites.hpp"
#include "profile/recorder.hpp"
#include "stm/contention_manager.hpp"
#include "stm/global_clock.hpp"
#include "stm/serial_mode.hpp"
#include "stm/thread_registry.hpp"
#include "stm/transaction.hpp"
#include "stm/word_memory.hpp"

namespace optimist::detail {

namespace {

// How long a reader waits for a committer to unlock before aborting.
constexpr unsigned read_wait_rounds = 18;
// How many times one read may extend the snapshot and look again.
constexpr unsigned max_extensions_per_read = 32;

std::uint64_t standalone_read(std::uintptr_t word, std::uint64_t mask) {
  standalone_gate gate;  // serial mode: not while a serial block runs
  orec& lock = orec_for(word);
  const bool shared = is_shared_orec(&lock);
  for (unsigned round = 0;; ++round) {
    // INVARIANT clock-order (global_clock.hpp).
    std::uint64_t before = orec_load_checked(lock);
    if (orec_is_locked(before)) {
      // DURABLE HOOK: a shared lock held this long may belong to a dead process.
      if (shared && round > 0 && round % 1024 == 0) durable_notice_stuck_lock(lock, before);
      wait_round(round);
      continue;
    }
    // A partial word is read in pieces, and only the orec check below keeps
    // them from mixing two commits. Commits share stamps (global_clock.hpp):
    // until the clock has reached this version, the next commit to the word
    // may carry the same version, and the check would miss it. So raise the
    // clock first and look again. (A whole word is one load: nothing to mix.)
    if (shared && mask != full_mask && orec_version(before) > shared_clock_now()) {
      shared_clock_raise_to(orec_version(before));  // INVARIANT two-clocks
      continue;
    }
    if (!shared && mask != full_mask && orec_version(before) > clock_now()) {
      clock_raise_to(orec_version(before));
      continue;
    }
    std::uint64_t value = load_word(word, mask);
    std::atomic_thread_fence(std::memory_order_acquire);
    std::uint64_t after = lock.load(std::memory_order_relaxed);
    if ((after | orec_reserved_bit) == (before | orec_reserved_bit)) return value;
  }
}

void standalone_write(std::uintptr_t word, std::uint64_t value, std::uint64_t mask,
                      source_location site) {
  // DURABLE HOOK: a durable word is written by a one-word transaction, so that it is logged.
  // (Before the gate: the transaction passes the gate itself.)
  if (durable_hook_active() && durable_covers(word)) {
    atomically([&] { this_thread_transaction().write(word, value, mask, site); }, site);
    return;
  }
  standalone_gate gate;  // serial mode: not while a serial block runs
  transaction& self = gate.self();
  orec& lock = orec_for(word);
  for (unsigned round = 0;; ++round) {
    std::uint64_t v = lock.load(std::memory_order_relaxed);
    if (orec_is_locked(v) || orec_is_reserved(v)) {
      wait_round(round);
      continue;
    }
    if (orec_try_lock(lock, v, orec_make_locked(&self))) break;
  }
  if (reporting_on()) site_of(lock).store(pack_site(site), std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);  // INVARIANT atomic-writeback
  const std::uint64_t timestamp = commit_stamp({.wrote = true});
  store_word(word, value, mask);
  lock.store(orec_make_version(timestamp), orec_unlock_order);
  if (waiters_present()) wake_waiters_on(lock);  // INVARIANT no-lost-wakeup (retry_wait.cpp)
  thread_counters::bump(self.counters.commits);
}

template <class Piece>
void for_each_word_piece(std::uintptr_t address, std::size_t size, Piece&& piece) {
  std::uintptr_t end = address + size;
  for (std::uintptr_t word = address & ~std::uintptr_t{7}; word < end; word += 8) {
    std::uintptr_t from = word > address ? word : address;
    std::uintptr_t to = word + 8 < end ? word + 8 : end;
    unsigned offset = static_cast<unsigned>(from - word);
    unsigned length = static_cast<unsigned>(to - from);
    piece(word, offset, length, static_cast<std::size_t>(from - address));
  }
}

// read_word / write_word take one whole orec-covered word. A misaligned
// address spans two words, and the orec check would cover only the first: a
// commit to the second could tear the value (issue 11 item 13: a long field of
// a packed struct, read by optimist::load). Refused, never guessed at.
[[noreturn, gnu::cold, gnu::noinline]] void throw_misaligned(const void* word, const char* what) {
  char address[32];
  std::snprintf(address, sizeof address, "%p", word);
  throw std::invalid_argument(
      std::string("optimist: misaligned transactional ") + what + " of an 8-byte word at " +
      address + ": the address must be a multiple of 8 (alignment 8 required; it is " +
      std::to_string(reinterpret_cast<std::uintptr_t>(word) & 7) +
      " bytes past a multiple of 8). A field of a packed struct? Load or store the enclosing "
      "object "
      "(optimist::load(object)) or copy the field out with std::memcpy");
}

bool spans_several_words(const void* address, std::size_t size) {
  auto a = reinterpret_cast<std::uintptr_t>(address);
  return size > 0 && (a & ~std::uintptr_t{7}) != ((a + size - 1) & ~std::uintptr_t{7});
}

}  // namespace

std::uint64_t transaction::read(std::uintptr_t word, std::uint64_t mask, source_location site) {
  if (mode == tx_mode::serial) {
    // Alone under the serial gate: memory is ours (serial_mode.cpp).
    if (doomed && !unwinding()) [[unlikely]]
      restart_lost();
    if (serial_enter(*this) || !serial_divert(*this)) {
      const std::uint64_t value = load_word(word, mask);
      serial_leave(*this);
      return value;
    }
    // Given way (serial_mode.hpp): now a doomed speculative attempt.
    after_give_way();
    return standalone_read(word, mask);
  }
  if (mode == tx_mode::hardware) [[unlikely]]
    return hardware_read(word, mask);
  std::uint64_t from_log = 0;
  if (const write_entry* e = writes.find(word)) {
    if ((mask & ~e->mask) == 0) return e->value & mask;
    from_log = e->value & mask;
    mask &= ~e->mask;
  }
  if (doomed) {
    // The attempt is lost. While its stack unwinds, destructors still get
    // answers (each word consistent on its own); otherwise the user swallowed
    // restart_signal, and it is thrown again.
    if (!unwinding()) restart_lost();
    return from_log | standalone_read(word, mask);
  }
  orec& lock = orec_for(word);
  if (mode == tx_mode::irrevocable) {
    reserve(lock);  // from now on no committer can change the word
    return from_log | load_word(word, mask);
  }
  // INVARIANT two-clocks (orec_table.hpp): a shared orec's version is compared
  // with the shared snapshot, and extending raises the shared clock.
  const bool shared = is_shared_orec(&lock);
  unsigned extensions = 0;
  for (unsigned round = 0;; ++round) {
    // INVARIANT clock-order (global_clock.hpp).
    std::uint64_t before = orec_load_checked(lock);
    if (orec_is_locked(before)) {
      if (round < read_wait_rounds) {
        wait_round(round);
        continue;
      }
      if (shared) durable_notice_stuck_lock(lock, before);  // DURABLE HOOK: a dead owner?
      abandon(abort_cause::read_locked, {site, &lock});
      return from_log | standalone_read(word, mask);
    }
    std::uint64_t value = load_word(word, mask);
    std::atomic_thread_fence(std::memory_order_acquire);  // INVARIANT orec-seqlock
    std::uint64_t after = lock.load(std::memory_order_relaxed);
    if ((after | orec_reserved_bit) != (before | orec_reserved_bit)) continue;
    std::uint64_t version = orec_version(before);
    // INVARIANT opacity: a word newer than the snapshot is used only after the
    // whole read set has been revalidated at a later snapshot — and only as
    // read again after that: commits share stamps (global_clock.hpp), so until
    // the clock has been raised to `version`, another commit may overwrite the
    // word with that very version, and validation could not tell the value
    // read here from the new one (a torn snapshot).
    if (version > (shared ? shared_snapshot : snapshot)) {
      const read_entry* invalid = try_extend(version, shared);
      // A word rewritten faster than this reader can re-read it must not keep
      // it here for ever: after a few rounds give up the attempt (backoff and,
      // eventually, the irrevocable fallback guarantee progress).
      if (invalid != nullptr || ++extensions > max_extensions_per_read) {
        abandon(abort_cause::read_invalidated, invalid != nullptr
                                                   ? conflict_point{invalid->site, invalid->lock}
                                                   : conflict_point{site, &lock});
        return from_log | standalone_read(word, mask);
      }
      continue;  // the clock is now >= version: read the word again
    }
    reads.add(&lock, version, site);
    return from_log | value;
  }
}

void transaction::write(std::uintptr_t word, std::uint64_t value, std::uint64_t mask,
                        source_location site) {
  if (mode == tx_mode::serial) {
    // In place, old bytes first into the undo log (serial_mode.cpp).
    if (doomed && !unwinding()) [[unlikely]]
      restart_lost();
    // DURABLE HOOK: blocks run speculatively while a store is open
    // (block_begin); in place, a durable word would reach the heap unlogged.
    if (durable_hook_active() && durable_covers(word)) [[unlikely]]
      throw std::logic_error(
          "optimist: a serial-mode block wrote a durable heap word (the store was opened while "
          "the block ran); it was rolled back");
    if (!serial_enter(*this) && serial_divert(*this)) {
      // Given way (serial_mode.hpp): now a doomed speculative attempt.
      after_give_way();
      return;
    }
    try {
      undo.record(word, mask);
    } catch (...) {
      serial_leave(*this);
      throw;
    }
    store_word(word, value, mask);
    serial_leave(*this);
    return;
  }
  if (mode == tx_mode::hardware) [[unlikely]] {
    // DURABLE HOOK: in-place writes would reach a durable heap before its log.
    if (durable_hook_active() && durable_covers(word)) hardware_abort(abort_code_inevitable);
    hardware_write(*this, word, value, mask, site);
    return;
  }
  if (doomed) {
    if (!unwinding()) restart_lost();
    return;  // unwinding a lost attempt: the write would be discarded anyway
  }
  if (mode == tx_mode::irrevocable) reserve(orec_for(word));
  writes.put(word, value, mask, site);
}

namespace {

// The paths of read_word and write_word other than the serial one, out of
// line so that the serial path needs no stack frame.
[[gnu::noinline]] std::uint64_t read_word_outside(const void* word, source_location site) {
  auto w = reinterpret_cast<std::uintptr_t>(word);
  if ((w & 7) != 0) [[unlikely]]
    throw_misaligned(word, "read");
  transaction* tx = tls_current;
  if (tx != nullptr) return tx->read(w, full_mask, site);
  return standalone_read(w, full_mask);
}

[[gnu::noinline]] void write_word_outside(void* word, std::uint64_t value, source_location site) {
  auto w = reinterpret_cast<std::uintptr_t>(word);
  if ((w & 7) != 0) [[unlikely]]
    throw_misaligned(word, "write");
  if (transaction* tx = tls_current) {
    tx->write(w, value, full_mask, site);
    return;
  }
  standalone_write(w, value, full_mask, site);
}

}  // namespace

// Serial mode (serial_mode.cpp), the common case first: alone under the gate,
// a read is a load; a write records the old value in the undo log and stores
// in place (transaction::write has the rest: durable words, doomed attempts,
// a full undo log).
std::uint64_t read_word_engine(const void* word, source_location site) {
  transaction* tx = tls_current;
  auto w = reinterpret_cast<std::uintptr_t>(word);
  if (tx == nullptr || (w & 7) != 0) [[unlikely]]
    return read_word_outside(word, site);
  if (tx->mode == tx_mode::serial && !tx->doomed && serial_enter(*tx)) {
    const std::uint64_t value = load_word(w, full_mask);
    serial_leave(*tx);
    return value;
  }
  // The common speculative read: a whole word that this attempt has not
  // written, found unlocked and no newer than the snapshot, with room in the
  // read set — the same steps as transaction::read (INVARIANT orec-seqlock,
  // clock-order), without its cases, and like the serial path a leaf (no
  // stack frame: every call is a tail call). Anything else takes the full
  // path, which starts over; so does a claimed serial attempt (give-way).
  // (Not while a shared durable store is open: its orecs have their own clock.)
  if (tx->mode == tx_mode::optimistic && !tx->doomed && !tx->writes.may_contain(w) &&
      tx->reads.has_room() && !shared_orecs_active()) {
    orec& lock = local_orec_for(w);
    const std::uint64_t before = orec_load_checked(lock);
    if (!orec_is_locked(before) && orec_version(before) <= tx->snapshot) {
      const std::uint64_t value = load_word(w, full_mask);
      std::atomic_thread_fence(std::memory_order_acquire);
      const std::uint64_t after = lock.load(std::memory_order_relaxed);
      if ((after | orec_reserved_bit) == (before | orec_reserved_bit)) {
        tx->reads.add_with_room(&lock, orec_version(before), site);
        return value;
      }
    }
  } else if (tx->mode == tx_mode::hardware && !shared_orecs_active()) {
    // Inside a hardware transaction (htm/hardware_path_rtm.cpp): the orec,
    // then the word (INVARIANT hw-sees-locks). A locked orec goes to
    // hardware_read, which aborts the transaction.
    if (!orec_is_locked(local_orec_for(w).load(std::memory_order_relaxed)))
      return load_word(w, full_mask);
  }
  return tx->read(w, full_mask, site);
}

void write_word_engine(void* word, std::uint64_t value, source_location site) {
  transaction* tx = tls_current;
  auto w = reinterpret_cast<std::uintptr_t>(word);
  if (tx == nullptr || (w & 7) != 0) [[unlikely]] {
    write_word_outside(word, value, site);
    return;
  }
  if (tx->mode == tx_mode::serial && !tx->doomed && !durable_hook_active() && serial_enter(*tx) &&
      tx->undo.try_record(w, full_mask)) {
    store_word(w, value, full_mask);
    serial_leave(*tx);
    return;
  }
  // The common speculative write: into a redo log that is neither full nor
  // indexed, as transaction::write does for an optimistic attempt; a leaf
  // like the read.
  if (tx->mode == tx_mode::optimistic && !tx->doomed &&
      tx->writes.try_put_small(w, value, full_mask, site)) {
    return;
  }
  // Inside a hardware transaction, once it has its stamp (its first write
  // takes it, in hardware_write): an orec neither locked nor reserved takes
  // the stamp, then the word is stored in place — hardware_write's steps,
  // without its cases (the first write, a locked or reserved orec, reporting,
  // durable or process-shared words).
  if (tx->mode == tx_mode::hardware && tx->hardware_stamp != 0 && !tx->recording &&
      !durable_hook_active() && !shared_orecs_active()) {
    orec& lock = local_orec_for(w);
    const std::uint64_t v = lock.load(std::memory_order_relaxed);
    if ((v & (orec_locked_bit | orec_reserved_bit)) == 0) {
      if (v != tx->hardware_stamp) lock.store(tx->hardware_stamp, std::memory_order_relaxed);
      store_word(w, value, full_mask);
      return;
    }
  }
  tx->write(w, value, full_mask, site);  // also a claimed serial attempt (give-way)
}

void read_bytes(const void* address, std::size_t size, void* out, source_location site) {
  transaction* tx = tls_current;
  if (tx == nullptr && spans_several_words(address, size)) {
    atomically([&] { read_bytes(address, size, out, site); }, site);
    return;
  }
  auto* destination = static_cast<unsigned char*>(out);
  for_each_word_piece(
      reinterpret_cast<std::uintptr_t>(address), size,
      [&](std::uintptr_t word, unsigned offset, unsigned length, std::size_t at) {
        std::uint64_t mask = byte_mask(offset, length);
        std::uint64_t value =
            tx != nullptr ? tx->read(word, mask, site) : standalone_read(word, mask);
        std::memcpy(destination + at, reinterpret_cast<unsigned char*>(&value) + offset, length);
      });
}

void write_bytes(void* address, std::size_t size, const void* in, source_location site) {
  transaction* tx = tls_current;
  if (tx == nullptr && spans_several_words(address, size)) {
    atomically([&] { write_bytes(address, size, in, site); }, site);
    return;
  }
  const auto* source = static_cast<const unsigned char*>(in);
  for_each_word_piece(reinterpret_cast<std::uintptr_t>(address), size,
                      [&](std::uintptr_t word, unsigned offset, unsigned length, std::size_t at) {
                        std::uint64_t value = 0;
                        std::memcpy(reinterpret_cast<unsigned char*>(&value) + offset, source + at,
                                    length);
                        std::uint64_t mask = byte_mask(offset, length);
                        if (tx != nullptr) {
                          tx->write(word, value, mask, site);
                        } else {
                          standalone_write(word, value, mask, site);
                        }
                      });
}

bool in_transaction() noexcept {
  return tls_current != nullptr;
}

}  // namespace optimist::detail
