// The read, write and logging barriers of GCC's TM ABI (_ITM_R*, _ITM_W*,
// _ITM_L*, _ITM_memcpy*/memmove*/memset*), the calls -fgnu-tm code makes for
// every access inside a transaction.
//
// They are out-of-line calls the compiler cannot inline, so each one does the
// least that is correct on its own: one initial-exec load for the thread's
// transaction, and for the common case — an optimistic transaction, an access
// that fits in one aligned word (every naturally aligned 1-, 2-, 4- and 8-byte
// type) — the engine's protocol inline:
//   read:  a word the attempt has not written (Bloom filter), whose orec is
//          unlocked and no newer than the snapshot, read between two orec loads
//          (INVARIANT orec-seqlock, clock-order: orec_table.hpp, global_clock.hpp)
//          and logged in the read set — the steps of the engine's read_word fast
//          path (runtime/stm/barriers.cpp), for a piece of a word too;
//   write: the bytes merged into the redo log (write_log::put), as
//          transaction::write does for an optimistic attempt.
// The read fast path is a leaf (it saves no registers); a transaction that
// records sites for a report takes it too when the thread's site cache
// already holds the caller (itm_sites.hpp), the slower paths otherwise. A
// read the Bloom filter does not rule out is looked up in the write log out
// of line. A serial attempt (OPTIMIST_MODE serial, or auto's choice:
// itm_abi.cpp) reads and writes a naturally aligned unit in place, logging
// what a write replaces (try_read_serial / try_write_serial). Everything else
// (bytes of a word partly written, a locked or newer orec, irrevocable mode,
// a claimed serial attempt, an access that straddles words) takes the
// engine's general read_bytes / write_bytes, which start over and handle
// every case.
// Wider types (complex, long double, __m64, __m128) are whole words when 8-aligned; __m256 goes
// through the byte-range path.
//
// INVARIANT (fresh-in-place): an optimistic attempt writes the blocks it
// allocated (transaction::fresh_blocks, recorded by _ITM_malloc, _ITM_calloc
// and the transactional operator new) in place, every byte, not through the
// redo log. Required, not only faster: g++ -fgnu-tm treats memory allocated
// inside the transaction, in the function that allocated it, as private to
// the thread and accesses it with plain loads and stores, while the same
// memory reached through a callee (a constructor's clone) or a library
// barrier (memset, memcpy) goes through the barriers. Plain and barrier
// accesses must see one memory: a barrier write kept in the log would be
// invisible to a later plain load, and its write-back at commit would undo a
// later plain store (a memset followed by `p->field = 5` committed 0). In
// place, nothing of such a block is ever in the log, so a barrier read that
// misses the log reads the newest value from memory (read_unit_slow skips
// the orec there: an unrelated orec that shares the word's hash must not
// abort it). Sound because
//   - no other thread can reach the block before the commit publishes a
//     pointer to it (the commit's release of its orecs orders the in-place
//     stores before any reader that finds the pointer), and the log held no
//     byte of it when it was handed out (the memory was free; the attempt's
//     own deletions are deferred to its commit). The one exception, a store
//     through the C or C++ API into such a block within the same attempt, is
//     seen: a word the log really holds stays in the log (exact lookup);
//   - an aborted or cancelled attempt frees its blocks with its allocations,
//     so nothing it wrote there survives; start() forgets them, so the next
//     attempt writes a block the last one allocated (now published) through
//     the log;
//   - a nesting change forgets them too (a nested level rolled back alone
//     must undo its writes; GCC's own nested blocks are flattened, so this
//     concerns C or C++ blocks only);
//   - optimistic and irrevocable attempts use them (an irrevocable attempt,
//     starved or inevitable, buffers its writes like an optimistic one, so
//     its memset went to the log and the write-back undid the plain stores
//     that followed); serial ones write in place with an undo log anyway.
// INVARIANT callee-stack-direct (itm_thread.hpp): the stack of functions
// called inside the transaction is accessed directly.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "itm/itm_thread.hpp"
#include "optimist/detail/engine.hpp"
#include "stm/global_clock.hpp"
#include "stm/orec_table.hpp"
#include "stm/transaction.hpp"
#include "stm/undo_log.hpp"
#include "stm/word_memory.hpp"

using namespace optimist::detail;

namespace {

template <std::size_t Size>
struct unit_of {};
template <>
struct unit_of<1> {
  using type = std::uint8_t;
};
template <>
struct unit_of<2> {
  using type = std::uint16_t;
};
template <>
struct unit_of<4> {
  using type = std::uint32_t;
};
template <>
struct unit_of<8> {
  using type = std::uint64_t;
};

// INVARIANT fresh-in-place: true if `at` lies in a block this attempt
// allocated (the last one: one compare; the others: a binary search).
[[gnu::noinline]] bool in_older_fresh_block(const transaction* tx, std::uintptr_t at) noexcept {
  const auto& blocks = tx->fresh_blocks;
  const auto after =
      std::upper_bound(blocks.begin(), blocks.end(), at,
                       [](std::uintptr_t a, const std::pair<std::uintptr_t, std::uintptr_t>& b) {
                         return a < b.first;
                       });
  return after != blocks.begin() && at < std::prev(after)->second;
}
[[gnu::always_inline]] inline bool in_fresh_block(const transaction* tx, std::uintptr_t at) {
  if (at - tx->fresh_begin < tx->fresh_size) return true;
  return tx->fresh_blocks.size() > 1 && in_older_fresh_block(tx, at);
}

// A fresh block's word stays in the log only if the log really holds it (a
// C or C++ API store): the filter alone is not enough, a false positive
// would send the word to the log under GCC's plain accesses.
[[gnu::always_inline]] inline bool logged_exactly(const transaction* tx, std::uintptr_t word) {
  return tx->writes.find(word) != nullptr;  // (the filter first, inline)
}

// True if `tx` writes the blocks it allocates in place (INVARIANT fresh-in-place).
[[gnu::always_inline]] inline bool buffers_writes(const transaction* tx) {
  return tx != nullptr && (tx->mode == tx_mode::optimistic || tx->mode == tx_mode::irrevocable) &&
         !tx->doomed;
}

// Writes `n` bytes at `at` (within two words at most) in place if they lie
// in a fresh block of an optimistic or irrevocable attempt and the log holds
// neither word; false: the caller takes the engine's general path.
bool try_write_fresh_bytes(std::uintptr_t at, std::size_t n, const void* in) noexcept {
  const transaction* tx = tls_current;
  if (!buffers_writes(tx) || n == 0 || !in_fresh_block(tx, at) || !in_fresh_block(tx, at + n - 1) ||
      logged_exactly(tx, at & ~std::uintptr_t{7}) ||
      logged_exactly(tx, (at + n - 1) & ~std::uintptr_t{7}))
    return false;
  const auto* bytes = static_cast<const unsigned char*>(in);
  for (std::size_t i = 0; i < n; ++i) atomic_store_relaxed<std::uint8_t>(at + i, bytes[i]);
  return true;
}

template <class U>
[[gnu::noinline]] void write_unit_slow(std::uintptr_t at, U value, const void* caller) {
  if (try_write_fresh_bytes(at, sizeof(U), &value)) return;  // INVARIANT fresh-in-place
  write_bytes(reinterpret_cast<void*>(at), sizeof(U), &value, itm_site_of(tls_current, caller));
}

// True if this transaction may take the read fast path at all.
[[gnu::always_inline]] inline bool fast_reader(const transaction* tx) {
  return tx != nullptr && tx->mode == tx_mode::optimistic && !tx->doomed;
}

// The read fast path's memory part for one naturally aligned unit (1, 2, 4 or
// 8 bytes: within one word) of `tx` (fast_reader), once the word is known not
// to be in the write log: false, with nothing done, where the general path
// must decide. It calls nothing (a leaf: no registers to save), hence the
// room check on the read set, and a recording transaction's site only from
// the thread's cache (a miss: the general path makes it).
template <class U>
[[gnu::always_inline]] inline bool try_read_memory(transaction* tx, std::uintptr_t at, U& out,
                                                   const void* caller) {
  optimist::source_location site{};
  if (tx->recording) [[unlikely]] {  // (so that the common case falls through)
    if (!itm_cached_site(caller, site)) return false;
  }
  if (!tx->reads.has_room()) return false;
  // INVARIANT two-clocks: a word of a multi-process store has a shared orec,
  // versioned by the shared clock, which this path does not check (the
  // engine's own fast path leaves it to the general path too).
  if (shared_orecs_active()) [[unlikely]]
    return false;
  orec& lock = local_orec_for(at & ~std::uintptr_t{7});
  const std::uint64_t before = orec_load_checked(lock);  // INVARIANT clock-order
  if (orec_is_locked(before) || orec_version(before) > tx->snapshot) return false;
  out = atomic_load_relaxed<U>(at);
  std::atomic_thread_fence(std::memory_order_acquire);  // INVARIANT orec-seqlock
  const std::uint64_t after = lock.load(std::memory_order_relaxed);
  if ((after | orec_reserved_bit) != (before | orec_reserved_bit)) return false;
  tx->reads.add_with_room(&lock, orec_version(before), site);
  return true;
}

// The whole fast path: a word the attempt has not written (Bloom filter).
template <class U>
[[gnu::always_inline]] inline bool try_read_unit(transaction* tx, std::uintptr_t at, U& out,
                                                 const void* caller) {
  return at % sizeof(U) == 0 && !tx->writes.may_contain(at & ~std::uintptr_t{7}) &&
         try_read_memory(tx, at, out, caller);
}

// The second tier, out of line: a word the Bloom filter does not rule out is
// looked up in the write log; bytes the log holds in full are answered from
// it, a word it does not hold is read from memory as on the fast path. The
// rest (part of the bytes in the log, a locked or newer orec, a site not in
// the cache yet, other modes) goes to the engine's general path.
template <class U>
[[gnu::noinline]] U read_unit_slow(std::uintptr_t at, const void* caller) {
  transaction* tx = tls_current;
  if (fast_reader(tx) && at % sizeof(U) == 0) {
    const unsigned offset = static_cast<unsigned>(at & 7);
    const std::uint64_t mask = byte_mask(offset, sizeof(U));
    U value;
    if (const write_entry* e = tx->writes.find(at & ~std::uintptr_t{7})) {
      if ((mask & ~e->mask) == 0) return static_cast<U>(e->value >> (8 * offset));
    } else if (in_fresh_block(tx, at)) {
      return atomic_load_relaxed<U>(at);  // INVARIANT fresh-in-place: ours alone, not logged
    } else if (try_read_memory(tx, at, value, caller)) {
      return value;
    }
  }
  U value;
  read_bytes(reinterpret_cast<const void*>(at), sizeof(U), &value,
             itm_site_of(tls_current, caller));
  return value;
}

// Serial attempts (optimist/detail/serial_access.hpp, INVARIANT direct-serial:
// tls_serial_direct is set only while the thread runs one): a naturally
// aligned unit is read in place, and kept only if the attempt is still
// unclaimed after the load (INVARIANT read-then-claim, serial_mode.hpp); a
// write enters the runtime (serial_enter: the claimant must not replay the
// undo log while it grows), records the bytes it replaces and stores in
// place. false: the engine's general path decides (a claim, a full undo log,
// an open durable store, a misaligned unit).
template <class U>
[[gnu::always_inline]] inline bool try_read_serial(std::uintptr_t at, U& out) {
  serial_access_state* s = tls_serial_direct;
  if (s == nullptr || at % sizeof(U) != 0) return false;
  out = atomic_load_relaxed<U>(at);
  std::atomic_thread_fence(std::memory_order_acquire);
  return s->serial_claimed.load(std::memory_order_relaxed) == 0;
}

template <class U>
[[gnu::always_inline]] inline bool try_write_serial(std::uintptr_t at, U value) {
  serial_access_state* s = tls_serial_direct;
  if (s == nullptr || at % sizeof(U) != 0 ||
      g_durable_stores_open.load(std::memory_order_relaxed) != 0 || !serial_enter(*s))
    return false;
  const std::uintptr_t word = at & ~std::uintptr_t{7};
  const bool recorded =
      sizeof(U) == 8
          ? s->undo.try_record_word(word)
          : s->undo.try_record(word, byte_mask(static_cast<unsigned>(at & 7), sizeof(U)));
  if (!recorded) return false;  // (phase 2 stays: the general path enters again and leaves)
  atomic_store_relaxed<U>(at, value);
  serial_leave(*s);
  return true;
}

template <class U>
[[gnu::always_inline]] inline U read_unit(std::uintptr_t at, const void* caller) {
  transaction* tx = tls_current;
  U value;
  if (fast_reader(tx) && try_read_unit(tx, at, value, caller)) [[likely]]
    return value;
  if (try_read_serial(at, value)) return value;
  return read_unit_slow<U>(at, caller);
}

template <class U>
[[gnu::always_inline]] inline void write_unit(std::uintptr_t at, U value, const void* caller) {
  transaction* tx = tls_current;
  if (tx != nullptr && tx->mode == tx_mode::optimistic && !tx->doomed && at % sizeof(U) == 0)
      [[likely]] {
    // INVARIANT fresh-in-place: the blocks this attempt allocated are written in place.
    if (in_fresh_block(tx, at) && !logged_exactly(tx, at & ~std::uintptr_t{7})) {
      atomic_store_relaxed<U>(at, value);
      return;
    }
    const unsigned offset = static_cast<unsigned>(at & 7);
    tx->writes.put(at & ~std::uintptr_t{7}, std::uint64_t{value} << (8 * offset),
                   byte_mask(offset, sizeof(U)), itm_site_of(tx, caller));
    return;
  }
  if (try_write_serial(at, value)) return;
  write_unit_slow<U>(at, value, caller);
}

// Any access through the engine's general path (straddling words, misaligned).
template <class T>
[[gnu::noinline]] T read_generic(const T* address, const void* caller) {
  T value;
  read_bytes(address, sizeof(T), &value, itm_site_of(tls_current, caller));
  return value;
}

void write_range(std::uintptr_t at, std::size_t size, const unsigned char* in, bool repeat,
                 const void* caller);

template <class T>
[[gnu::noinline]] void write_generic(T* address, T value, const void* caller) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  const transaction* tx = tls_current;
  if (buffers_writes(tx) && in_fresh_block(tx, at)) {
    // INVARIANT fresh-in-place: a piece at a time (write_range decides each word)
    unsigned char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    write_range(at, sizeof(T), bytes, false, caller);
    return;
  }
  write_bytes(address, sizeof(T), &value, itm_site_of(tls_current, caller));
}

template <class T>
[[gnu::always_inline]] inline T read_value(const T* address, const void* caller) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  if (itm_on_callee_stack(at, sizeof(T))) [[unlikely]]
    return *address;
  T value;
  if constexpr (sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8) {
    // (read_unit sends a unit that is not naturally aligned to the general path)
    const auto unit = read_unit<typename unit_of<sizeof(T)>::type>(at, caller);
    std::memcpy(&value, &unit, sizeof(T));
    return value;
  } else if constexpr (sizeof(T) % 8 == 0) {
    // Whole words: all on the fast path, or the whole value on the general one
    // (a word read twice is only logged twice).
    // A serial attempt reads them in place (vectorised loops use the __m128
    // barriers: through the general path they cost 4x a word's read).
    transaction* tx = tls_current;
    if (at % 8 == 0) [[likely]] {
      std::uint64_t words[sizeof(T) / 8];
      bool fast = true;
      if (fast_reader(tx)) [[likely]] {
        for (std::size_t i = 0; i < sizeof(T) / 8 && fast; ++i)
          fast = try_read_unit(tx, at + 8 * i, words[i], caller);
      } else {
        for (std::size_t i = 0; i < sizeof(T) / 8 && fast; ++i)
          fast = try_read_serial(at + 8 * i, words[i]);
      }
      if (fast) [[likely]] {
        std::memcpy(&value, words, sizeof(T));
        return value;
      }
    }
  }
  return read_generic(address, caller);
}

template <class T>
[[gnu::always_inline]] inline void write_value(T* address, T value, const void* caller) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  if (itm_on_callee_stack(at, sizeof(T))) [[unlikely]] {
    *address = value;
    return;
  }
  if constexpr (sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8) {
    typename unit_of<sizeof(T)>::type unit;
    std::memcpy(&unit, &value, sizeof(T));
    write_unit(at, unit, caller);
    return;
  } else if constexpr (sizeof(T) % 8 == 0) {
    if (at % 8 == 0) [[likely]] {
      std::uint64_t words[sizeof(T) / 8];
      std::memcpy(words, &value, sizeof(T));
      for (std::size_t i = 0; i < sizeof(T) / 8; ++i) write_unit(at + 8 * i, words[i], caller);
      return;
    }
  }
  write_generic(address, value, caller);
}

// [at, at + size) into `out`: whole aligned words through read_unit, the
// partial words at either end through read_bytes.
void read_range(std::uintptr_t at, std::size_t size, unsigned char* out, const void* caller) {
  const std::uintptr_t end = at + size;
  while (at < end) {
    if (at % 8 == 0 && end - at >= 8) {
      const std::uint64_t word = read_unit<std::uint64_t>(at, caller);
      std::memcpy(out, &word, 8);
      at += 8;
      out += 8;
    } else {
      const std::size_t n = std::min<std::size_t>(end - at, 8 - at % 8);
      read_bytes(reinterpret_cast<const void*>(at), n, out, itm_site_of(tls_current, caller));
      at += n;
      out += n;
    }
  }
}

// The same for writes. `repeat` (memset): `in` is one 8-byte pattern used for
// every piece instead of a buffer of `size` bytes.
void write_range(std::uintptr_t at, std::size_t size, const unsigned char* in, bool repeat,
                 const void* caller) {
  const std::uintptr_t end = at + size;
  while (at < end) {
    if (at % 8 == 0 && end - at >= 8) {
      std::uint64_t word;
      std::memcpy(&word, in, 8);
      write_unit(at, word, caller);
      at += 8;
      if (!repeat) in += 8;
    } else {
      const std::size_t n = std::min<std::size_t>(end - at, 8 - at % 8);
      if (!try_write_fresh_bytes(at, n, in)) {  // INVARIANT fresh-in-place
        write_bytes(reinterpret_cast<void*>(at), n, in, itm_site_of(tls_current, caller));
      }
      at += n;
      if (!repeat) in += n;
    }
  }
}

// memcpy / memmove: through a stack buffer, a chunk at a time. A chunk is read
// wholly before it is written, and chunks go backwards when the destination
// overlaps the source from above (as memmove does), so no read sees a byte
// this copy has already written: overlapping ranges copy correctly.
void copy_bytes(void* destination, const void* source, std::size_t size, bool read_tx,
                bool write_tx, const void* caller) {
  if (size == 0) return;
  const auto to = reinterpret_cast<std::uintptr_t>(destination);
  const auto from = reinterpret_cast<std::uintptr_t>(source);
  read_tx = read_tx && !itm_on_callee_stack(from, size);
  write_tx = write_tx && !itm_on_callee_stack(to, size);
  constexpr std::size_t chunk = 256;
  alignas(8) unsigned char buffer[chunk];
  const bool backwards = to > from && to < from + size;
  for (std::size_t done = 0; done < size;) {
    const std::size_t length = std::min(chunk, size - done);
    const std::size_t offset = backwards ? size - done - length : done;
    if (read_tx) {
      read_range(from + offset, length, buffer, caller);
    } else {
      std::memcpy(buffer, static_cast<const unsigned char*>(source) + offset, length);
    }
    if (write_tx) {
      write_range(to + offset, length, buffer, false, caller);
    } else {
      std::memcpy(static_cast<unsigned char*>(destination) + offset, buffer, length);
    }
    done += length;
  }
}

void set_bytes(void* destination, int c, std::size_t size, const void* caller) {
  if (size == 0) return;
  const auto to = reinterpret_cast<std::uintptr_t>(destination);
  if (itm_on_callee_stack(to, size)) {
    std::memset(destination, c, size);
    return;
  }
  alignas(8) unsigned char pattern[8];
  std::memset(pattern, c, sizeof pattern);
  write_range(to, size, pattern, true, caller);
}

// A value of `size` bytes at `address`, read or written through the barriers' byte-range path
// (the 256-bit barriers: their callers hold AVX registers, this code is built without AVX).
void read_block(const void* address, void* out, std::size_t size, const void* caller) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  if (itm_on_callee_stack(at, size)) {
    std::memcpy(out, address, size);
    return;
  }
  read_range(at, size, static_cast<unsigned char*>(out), caller);
}
void write_block(void* address, const void* in, std::size_t size, const void* caller) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  if (itm_on_callee_stack(at, size)) {
    std::memcpy(address, in, size);
    return;
  }
  write_range(at, size, static_cast<const unsigned char*>(in), false, caller);
}

}  // namespace

#pragma GCC visibility push(default)
extern "C" {

// ---- logging of thread-local memory ---------------------------------------------------------

void _ITM_LB(const void* address, std::size_t size) {
  // A nested (flattened) block logs its own frame's locals: that frame is gone
  // at a restart, and restoring it would write over the restart's own frames
  // (INVARIANT callee-stack-direct).
  if (itm_on_callee_stack(reinterpret_cast<std::uintptr_t>(address), size)) return;
  itm_thread& state = itm_state();
  const auto* bytes = static_cast<const unsigned char*>(address);
  const std::size_t offset = state.saved_data.size();
  state.saved_data.insert(state.saved_data.end(), bytes, bytes + size);
  state.saved.push_back({const_cast<void*>(address), offset, size});
}

#define OPTIMIST_ITM_LOG(suffix, type)       \
  void _ITM_L##suffix(const type* address) { \
    _ITM_LB(address, sizeof(type));          \
  }

// ---- barriers -------------------------------------------------------------------------------

// Reads: R (plain), RaR (after read), RaW (after write), RfW (for write).
#define OPTIMIST_ITM_READS(suffix, type)               \
  type _ITM_R##suffix(const type* a) {                 \
    return read_value(a, __builtin_return_address(0)); \
  }                                                    \
  type _ITM_RaR##suffix(const type* a) {               \
    return read_value(a, __builtin_return_address(0)); \
  }                                                    \
  type _ITM_RaW##suffix(const type* a) {               \
    return read_value(a, __builtin_return_address(0)); \
  }                                                    \
  type _ITM_RfW##suffix(const type* a) {               \
    return read_value(a, __builtin_return_address(0)); \
  }
// Writes: W, WaR (after read), WaW (after write).
#define OPTIMIST_ITM_WRITES(suffix, type)           \
  void _ITM_W##suffix(type* a, type v) {            \
    write_value(a, v, __builtin_return_address(0)); \
  }                                                 \
  void _ITM_WaR##suffix(type* a, type v) {          \
    write_value(a, v, __builtin_return_address(0)); \
  }                                                 \
  void _ITM_WaW##suffix(type* a, type v) {          \
    write_value(a, v, __builtin_return_address(0)); \
  }
#define OPTIMIST_ITM_TYPE(suffix, type) \
  OPTIMIST_ITM_READS(suffix, type)      \
  OPTIMIST_ITM_WRITES(suffix, type)     \
  OPTIMIST_ITM_LOG(suffix, type)

OPTIMIST_ITM_TYPE(U1, std::uint8_t)
OPTIMIST_ITM_TYPE(U2, std::uint16_t)
OPTIMIST_ITM_TYPE(U4, std::uint32_t)
OPTIMIST_ITM_TYPE(U8, std::uint64_t)
OPTIMIST_ITM_TYPE(F, float)
OPTIMIST_ITM_TYPE(D, double)
OPTIMIST_ITM_TYPE(E, long double)
OPTIMIST_ITM_TYPE(M64, __m64)
OPTIMIST_ITM_TYPE(M128, __m128)
OPTIMIST_ITM_TYPE(CF, _Complex float)
OPTIMIST_ITM_TYPE(CD, _Complex double)
OPTIMIST_ITM_TYPE(CE, _Complex long double)

// __m256: g++ emits these for loops it vectorises with AVX (-mavx, -march=...). The callers pass
// and take the value in a ymm register, so these functions are built for AVX (they are only
// called by AVX code); the value goes through memory to the byte-range path.
#define OPTIMIST_ITM_READ_M256(name)                                         \
  __attribute__((target("avx"))) __m256 _ITM_##name##M256(const __m256* a) { \
    __m256 v;                                                                \
    read_block(a, &v, sizeof v, __builtin_return_address(0));                \
    return v;                                                                \
  }
#define OPTIMIST_ITM_WRITE_M256(name)                                          \
  __attribute__((target("avx"))) void _ITM_##name##M256(__m256* a, __m256 v) { \
    write_block(a, &v, sizeof v, __builtin_return_address(0));                 \
  }
OPTIMIST_ITM_READ_M256(R)
OPTIMIST_ITM_READ_M256(RaR)
OPTIMIST_ITM_READ_M256(RaW)
OPTIMIST_ITM_READ_M256(RfW)
OPTIMIST_ITM_WRITE_M256(W)
OPTIMIST_ITM_WRITE_M256(WaR)
OPTIMIST_ITM_WRITE_M256(WaW)
OPTIMIST_ITM_LOG(M256, __m256)

// memcpy / memmove: R{n,t,taR,taW} x W{n,t,taR,taW}; memset: W, WaR, WaW.
#define OPTIMIST_ITM_COPY(name, rs, rt, ws, wt)                           \
  void _ITM_##name##R##rs##W##ws(void* d, const void* s, std::size_t n) { \
    copy_bytes(d, s, n, rt, wt, __builtin_return_address(0));             \
  }
#define OPTIMIST_ITM_COPIES_FROM(name, rs, rt) \
  OPTIMIST_ITM_COPY(name, rs, rt, n, false)    \
  OPTIMIST_ITM_COPY(name, rs, rt, t, true)     \
  OPTIMIST_ITM_COPY(name, rs, rt, taR, true)   \
  OPTIMIST_ITM_COPY(name, rs, rt, taW, true)
#define OPTIMIST_ITM_COPIES(name)           \
  OPTIMIST_ITM_COPIES_FROM(name, n, false)  \
  OPTIMIST_ITM_COPIES_FROM(name, t, true)   \
  OPTIMIST_ITM_COPIES_FROM(name, taR, true) \
  OPTIMIST_ITM_COPIES_FROM(name, taW, true)

OPTIMIST_ITM_COPIES(memcpy)
OPTIMIST_ITM_COPIES(memmove)

#define OPTIMIST_ITM_SET(suffix)                            \
  void _ITM_memset##suffix(void* d, int c, std::size_t n) { \
    set_bytes(d, c, n, __builtin_return_address(0));        \
  }
OPTIMIST_ITM_SET(W)
OPTIMIST_ITM_SET(WaR)
OPTIMIST_ITM_SET(WaW)

}  // extern "C"
#pragma GCC visibility pop
