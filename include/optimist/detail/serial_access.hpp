// optimist/detail/serial_access.hpp — the inline fast path of serial blocks.
// Not for users: names, layout and semantics may change.
//
// A serial block (optimist/mode.hpp: serial, and auto while a thread runs
// alone) reads and writes memory in place, keeping an undo log. Its barriers
// are short enough that a call costs as much as the access, so the common
// case is inlined into the caller: a thread-local pointer that is non-null
// exactly while the thread's running attempt may access memory directly, the
// give-way handshake (serial_enter / serial_leave, runtime/stm/serial_mode.hpp),
// and for a write one undo entry. Everything else (misaligned words, a claimed
// attempt, a full undo log, an open durable store, speculative attempts) goes
// to the engine's out-of-line barriers, which repeat the checks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace optimist::detail {

// One in-place write of a serial attempt: the selected bytes of `word` before
// it (others zero).
struct undo_entry {
  std::uintptr_t word;
  std::uint64_t old_value;
  std::uint64_t mask;
};

// The undo log of serial mode. The members that take byte masks, replay or
// grow the buffer are defined in runtime/stm/undo_log.hpp (INVARIANT
// undo-exact is stated there); only the full-word record of the inline write
// barrier lives here.
class undo_log {
 public:
  using mark = std::size_t;

  undo_log() = default;
  undo_log(const undo_log&) = delete;
  undo_log& operator=(const undo_log&) = delete;

  // Records `word` (8 bytes, aligned) as it is now, without growing: false
  // (and nothing recorded) if the buffer is full.
  bool try_record_word(std::uintptr_t word) noexcept {
    if (size_ == capacity_) [[unlikely]]
      return false;
    entries_[size_] = {word,
                       std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(word))
                           .load(std::memory_order_relaxed),
                       ~std::uint64_t{0}};
    ++size_;
    return true;
  }

  void record(std::uintptr_t word, std::uint64_t mask);
  bool try_record(std::uintptr_t word, std::uint64_t mask) noexcept;
  void rollback_to(mark m) noexcept;
  void replay_all() const noexcept;

  mark position() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  const undo_entry* begin() const noexcept { return entries_.get(); }
  const undo_entry* end() const noexcept { return entries_.get() + size_; }
  // The writes are kept (commit): forget the entries, keep the buffer.
  void clear() noexcept { size_ = 0; }
  std::size_t capacity() const noexcept { return capacity_; }
  // Frees the buffer if it holds more than `entries` (the log is empty).
  void release_above(std::size_t entries) noexcept {
    if (capacity_ <= entries || size_ != 0) return;
    entries_.reset();
    capacity_ = 0;
  }

 private:
  void grow();

  std::unique_ptr<undo_entry[]> entries_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// The part of a thread's descriptor (runtime/stm/transaction.hpp derives from
// it) that the inline serial barriers touch. The give-way fields are described
// in runtime/stm/serial_mode.hpp.
struct serial_access_state {
  undo_log undo;                  // in-place writes of a serial attempt
  bool serial_full_fence = true;  // serial_enter fences in full (g_start_needs_fence at its start)
  std::atomic<std::uint8_t> serial_phase{0};
  std::atomic<std::uint8_t> serial_claimed{0};
};

// INVARIANT (direct-serial): non-null only while the calling thread runs a
// serial attempt (mode serial, not doomed) of that descriptor; set when the
// attempt enters user code and cleared before anything makes it doomed,
// speculative or ended (runtime/stm/serial_mode.cpp, commit.cpp).
[[gnu::tls_model("initial-exec")]] inline thread_local serial_access_state* tls_serial_direct =
    nullptr;

// Non-zero while any durable store is open (runtime/durable/commit_hook.hpp):
// serial writes then take the engine's path, which refuses durable words.
inline std::atomic<int> g_durable_stores_open{0};

// Every runtime entry of a serial attempt: INVARIANT give-way-exclusive
// (runtime/stm/serial_mode.hpp). False: the attempt is claimed.
inline bool serial_enter(serial_access_state& s) noexcept {
  s.serial_phase.store(2, std::memory_order_relaxed);
  // A compiler fence where the claimant's heavy fence is a membarrier.
  if (s.serial_full_fence) [[unlikely]] {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  return s.serial_claimed.load(std::memory_order_relaxed) == 0;
}
inline void serial_leave(serial_access_state& s) noexcept {
  s.serial_phase.store(1, std::memory_order_release);
}

// A word's address as an integer the optimizer cannot reason about, for the
// alignment test below. That test must survive inlining into
// optimist::load(const T&): clang takes a reference to an 8-byte type as
// 8-aligned and folds the test away, so a packed struct's misaligned field
// was read directly (a torn, unchecked access) instead of refused with
// std::invalid_argument (MisalignedAccessTest). g++ folds the test only where
// it can prove the alignment (an alignas array), which is sound and saves an
// instruction or two per access, so it keeps the plain test.
inline std::uintptr_t opaque_address(const void* word) noexcept {
  auto w = reinterpret_cast<std::uintptr_t>(word);
#if defined(__clang__)
  asm("" : "+r"(w));
#endif
  return w;
}

// The inline halves of read_word / write_word (engine.hpp): true if done.
//
// A read stores nothing: it loads the word, then checks the claim (INVARIANT
// read-then-claim, runtime/stm/serial_mode.hpp). A claimant that has begun to
// undo the attempt's writes set the claim before its first undo store, with
// a full fence (or membarrier) between, so a load that saw an undo store is
// followed by a claim load that sees the claim; the value is then dropped and
// the engine diverts the attempt. A write still enters the runtime (phase 2):
// the claimant must not replay the undo log while it grows.
inline bool serial_read_direct(const void* word, std::uint64_t& out) noexcept {
  serial_access_state* s = tls_serial_direct;
  const auto w = reinterpret_cast<std::uintptr_t>(word);
  if (s == nullptr || (opaque_address(word) & 7) != 0) return false;
  out = std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(w))
            .load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  return s->serial_claimed.load(std::memory_order_relaxed) == 0;
}

inline bool serial_write_direct(void* word, std::uint64_t value) noexcept {
  serial_access_state* s = tls_serial_direct;
  const auto w = reinterpret_cast<std::uintptr_t>(word);
  if (s == nullptr || (opaque_address(word) & 7) != 0 ||
      g_durable_stores_open.load(std::memory_order_relaxed) != 0 || !serial_enter(*s) ||
      !s->undo.try_record_word(w))
    return false;
  std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(w))
      .store(value, std::memory_order_relaxed);
  serial_leave(*s);
  return true;
}

}  // namespace optimist::detail
