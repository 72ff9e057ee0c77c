// optimist/durable.hpp — a persistent heap on a file: transactions that
// survive kill -9 and power loss.
//
//   durable::store     a heap mapped from a file (plus its redo log,
//                      `<path>-log`); opening it runs recovery.
//   store::root<T>     a named object, constructed on first open, found again
//                      after every reopen.
//   durable::ptr<T>    a position-independent pointer into the heap (an
//                      offset from the mapping's base); store::resolve gives
//                      the address in this process.
//   store::make<T> / store::destroy
//                      transactional allocation in the heap: undone when the
//                      transaction aborts, never leaked by a crash.
//
// The heap's words are ordinary transactional memory: optimist::atomically,
// load/store and tvar work on them unchanged. When the outermost atomically()
// that wrote heap words returns, its effects are on stable storage (with
// durability::full, the default).
//
//   struct bank { optimist::tvar<long> balance[1024]; };
//   optimist::durable::store store("bank.store");
//   bank& b = store.root<bank>("bank");            // all zero on first open
//   optimist::atomically([&] {                      // durable when it returns
//     b.balance[1] = b.balance[1] - 10;
//     b.balance[2] = b.balance[2] + 10;
//   });
//
// Objects in the heap must be trivially destructible, hold no raw pointers
// (use durable::ptr) and be aligned to at most 16 bytes. One transaction may
// write the heap of at most one store. A store is opened by one process at a
// time (an advisory lock) unless every opener sets options::multi_process;
// it must outlive every transaction that touches it. Open and destroy stores
// outside transactions: opening one inside is a std::logic_error; one destroyed
// inside a transaction closes when that transaction commits (said on stderr),
// and stays open until the process ends if it aborts (or if the nested block
// that destroyed it is rolled back).
//
// Commit (runtime/durable/group_commit.cpp): the engine locks and validates
// as usual, then appends a checksummed redo record of the heap words to the
// preallocated log, waits for fdatasync (group commit: one sync serves every
// committer that is waiting), and only then writes the words back into the
// heap. When the log fills, a checkpoint flushes the heap and starts a new log
// epoch (one atomic header write is the commit point).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "optimist/atomically.hpp"
#include "optimist/detail/engine.hpp"
#include "optimist/source_location.hpp"

namespace optimist::durable {

// durability
//   full:    atomically() returns after fdatasync of its record (the default;
//            like SQLite's synchronous=FULL).
//   relaxed: atomically() returns at once; a background thread syncs the log
//            every `relaxed_window`, so a power loss loses at most that much
//            time's commits, and what survives is always a consistent prefix
//            of the commit order (like synchronous=NORMAL). The heap is
//            mapped privately and written to the file only at checkpoints.
enum class durability { full, relaxed };

struct options {
  // Sizes used when the store is created (an existing store keeps its own).
  std::size_t heap_size = std::size_t{64} << 20;  // whole heap file, bytes
  std::size_t log_size = std::size_t{16} << 20;   // redo log file, bytes
  durability mode = durability::full;
  std::chrono::milliseconds relaxed_window{20};
  bool create_if_missing = true;
  // Several processes may open the store at once (each with this option set;
  // a process without it is refused while others have it open, and the
  // reverse). Their transactions conflict word by word as threads do, and a
  // commit in one is seen by the next transaction of every other; a process
  // killed at any point is recovered by the others (its logged commit rolled
  // forward, its locks released). Coordination state lives in `<path>-shm`,
  // so every process must reach the same `-shm` file: one joining by another
  // name of the store's files (a symlink or hard link to them) gets
  // store_error. Requires durability::full; one such store per process at a
  // time; open it after fork(), never use one a parent opened. A live process that stops
  // (SIGSTOP, a debugger) mid-commit holds the others up; only a dead one is
  // recovered. At most 32 processes at once.
  bool multi_process = false;
};

// Every failure to open, recover or commit to a store (not a store, corrupted,
// truncated, read-only, disk full, type mismatch, heap full, ...). The message
// names the file and the problem.
class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
class store_impl;
// Runtime entry points for the templates below (runtime/durable/*.cpp).
unsigned char* heap_base(const store_impl& s) noexcept;
std::size_t heap_size(const store_impl& s) noexcept;
// Inside a transaction: allocate / free a block for `size` bytes (16-aligned).
// *zeroed tells whether the block is still all zero (never used before).
std::uint64_t allocate(store_impl& s, std::size_t size, source_location site, bool* zeroed);
// Inside a transaction: scratch memory (16-aligned) to construct an object
// in, freed when the transaction ends (after its write-back: a constructor's
// transactional writes to it are in the write log).
void* construction_buffer(std::size_t size);
// Inside a transaction: copies the object constructed in `buffer` into the
// heap at `offset` through the STM (so it is logged), taking the values the
// constructor wrote transactionally (tvar assignments) from the write log; on
// a zeroed block only the non-zero words.
void write_constructed(store_impl& s, std::uint64_t offset, const void* buffer, std::size_t size,
                       bool zeroed, source_location site);
void deallocate(store_impl& s, std::uint64_t offset, std::size_t size, source_location site);
// Inside a transaction: the root `name`, created with bytes from construct()
// if absent. Throws store_error if it exists with another type id or size.
std::uint64_t find_or_create_root(store_impl& s, std::string_view name, std::uint64_t type_id,
                                  std::size_t size, void (*construct)(void* out, void* context),
                                  void* context, source_location site);
std::uint64_t type_id_of(const char* mangled_name, std::size_t size, std::size_t align) noexcept;

template <class T>
void check_storable() {
  static_assert(std::is_trivially_destructible_v<T>,
                "optimist::durable: heap objects must be trivially destructible (no destructor "
                "runs across a crash)");
  static_assert(!std::is_polymorphic_v<T>,
                "optimist::durable: heap objects cannot have virtual functions (a vtable "
                "pointer is not valid in the next process)");
  static_assert(alignof(T) <= 16,
                "optimist::durable: heap objects are aligned to 16 bytes at most");
}
}  // namespace detail

// ptr<T>
//   An offset from the heap's base (0 is null): valid in every process that
//   opens the store, wherever it maps it. Trivially copyable, so it can live
//   in a tvar or a heap object.
template <class T>
class ptr {
 public:
  constexpr ptr() noexcept = default;
  constexpr explicit ptr(std::uint64_t offset) noexcept : offset_(offset) {}
  constexpr std::uint64_t offset() const noexcept { return offset_; }
  constexpr explicit operator bool() const noexcept { return offset_ != 0; }
  friend constexpr bool operator==(ptr, ptr) noexcept = default;

 private:
  std::uint64_t offset_ = 0;
};

// store
//   Opens (and recovers) or creates the store at `path`. Throws store_error.
class store {
 public:
  explicit store(const std::string& path, const options& opts = {});
  ~store();  // checkpoints (so the next open has nothing to replay) and closes
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // store::root<T>(name, args...)
  //   The object named `name` (at most 39 bytes), constructed as T(args...)
  //   on the first call ever, found again on every later one, in this or a
  //   later process. Throws store_error if it was created with another type.
  //   Joins the running transaction, or runs one of its own.
  template <class T, class... Args>
  T& root(std::string_view name, Args&&... args) {
    detail::check_storable<T>();
    struct context_t {
      std::tuple<Args&...> args;
    } context{std::tuple<Args&...>(args...)};
    auto construct = [](void* out, void* c) {
      std::apply([out](auto&... a) { ::new (out) T(a...); }, static_cast<context_t*>(c)->args);
    };
    const std::uint64_t id = detail::type_id_of(typeid(T).name(), sizeof(T), alignof(T));
    std::uint64_t offset = optimist::atomically([&] {
      return detail::find_or_create_root(*impl_, name, id, sizeof(T), construct, &context,
                                         source_location::current());
    });
    return *reinterpret_cast<T*>(detail::heap_base(*impl_) + offset);
  }

  // store::make<T>(args...)
  //   Allocates and constructs a T in the heap (inside a transaction, or as
  //   one of its own). Undone if the transaction aborts. Throws store_error
  //   when the heap is full.
  template <class T, class... Args>
  ptr<T> make(Args&&... args) {
    detail::check_storable<T>();
    return optimist::atomically([&] {
      bool zeroed = false;
      std::uint64_t offset =
          detail::allocate(*impl_, sizeof(T), source_location::current(), &zeroed);
      // Built outside the heap, then copied in through the STM so that the
      // bytes are logged.
      void* raw = detail::construction_buffer(sizeof(T));
      ::new (raw) T(std::forward<Args>(args)...);
      detail::write_constructed(*impl_, offset, raw, sizeof(T), zeroed, source_location::current());
      return ptr<T>(offset);
    });
  }

  // store::destroy(p)
  //   Frees what make<T> allocated (null: nothing). Undone if the transaction
  //   aborts.
  template <class T>
  void destroy(ptr<T> p) {
    if (!p) return;
    optimist::atomically(
        [&] { detail::deallocate(*impl_, p.offset(), sizeof(T), source_location::current()); });
  }

  // store::resolve(p) / store::pointer_to(object)
  //   Between offsets and addresses in this process. pointer_to throws
  //   std::invalid_argument for an address outside the heap.
  template <class T>
  T* resolve(ptr<T> p) const noexcept {
    return p ? reinterpret_cast<T*>(detail::heap_base(*impl_) + p.offset()) : nullptr;
  }
  template <class T>
  ptr<T> pointer_to(const T* object) const {
    auto* at = reinterpret_cast<const unsigned char*>(object);
    unsigned char* base = detail::heap_base(*impl_);
    if (at < base || at + sizeof(T) > base + detail::heap_size(*impl_)) {
      throw std::invalid_argument("optimist::durable::store::pointer_to: not in this store's heap");
    }
    return ptr<T>(static_cast<std::uint64_t>(at - base));
  }

  // store::checkpoint()
  //   Writes the heap to its file and empties the log (also done when the log
  //   fills and on close). Not inside a transaction.
  void checkpoint();

  struct statistics {
    std::uint64_t commits = 0;  // durable records appended
    std::uint64_t syncs = 0;    // log fdatasyncs
    std::uint64_t checkpoints = 0;
    std::uint64_t recovered = 0;  // records replayed when this store was opened
    // options::multi_process: commits and syncs above count every process;
    // dead processes whose commits and locks this store's processes recovered.
    std::uint64_t dead_processes_recovered = 0;
  };
  statistics stats() const;
  const std::string& path() const noexcept;

 private:
  std::unique_ptr<detail::store_impl> impl_;
};

}  // namespace optimist::durable
