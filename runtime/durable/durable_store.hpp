// store_impl: one open durable store — its files, its mapping, the log's
// append state and the group commit (group_commit.cpp), checkpoints
// (checkpoint.cpp), recovery on open (recovery.cpp) and the heap allocator
// (heap_allocator.cpp, root_table.cpp).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "durable/store_file.hpp"
#include "optimist/durable.hpp"

namespace optimist::durable::detail {

struct shared_header;

class store_impl {
 public:
  store_impl(const std::string& path, const options& opts);
  ~store_impl();

  // ---- immutable after open --------------------------------------------
  std::string path;
  std::string log_path;
  options opts;
  opened_files files;
  unsigned char* base = nullptr;  // the heap file's mapping
  std::size_t size = 0;           // heap file bytes
  bool private_mapping = false;   // durability::relaxed: the file changes only at checkpoints

  bool covers(std::uintptr_t word) const noexcept {
    auto b = reinterpret_cast<std::uintptr_t>(base);
    return word >= b + page_size && word < b + size;
  }

  // ---- group commit (group_commit.cpp) ------------------------------------
  // Appends the sealed record in `record` (its epoch and sequence are set
  // here) and, in full durability, returns once it is durable. Throws
  // store_error; after an I/O failure the store refuses every later commit
  // (the log's state is unknown: INVARIANT fail-stop).
  void commit_record(std::vector<unsigned char>& record);
  void written_back() noexcept;  // the commit's words are in the heap
  void mark_dirty(std::uint64_t offset) noexcept;

  // ---- checkpoint (checkpoint.cpp) ----------------------------------------
  void checkpoint();  // public entry: takes the mutex
  // With `lock` held and no record of the caller appended: waits for every
  // appended commit to be written back, then flushes the heap and starts a
  // new log epoch.
  void checkpoint_locked(std::unique_lock<std::mutex>& lock);
  // The commit point both checkpoints share: syncs the heap file, then writes
  // and syncs the header of log epoch `current + 1`, and returns it. On an I/O
  // error calls `give_up(what, errno, header_touched)`, which must not return;
  // `header_touched`: the new header may be in the file (the page cache), so
  // a later sync of the log may make it durable.
  log_header write_next_epoch(
      std::uint64_t current,
      const std::function<void(const std::string&, int, bool header_touched)>& give_up);

  // ---- recovery (recovery.cpp) -------------------------------------------
  void recover_and_map();

  // ---- shared state, under `mutex` ---------------------------------------
  std::mutex mutex;
  std::condition_variable changed;
  std::condition_variable flusher_wake;
  std::uint64_t epoch = 0;
  std::uint64_t next_sequence = 1;
  std::uint64_t append_at = page_size;  // log offset of the next record
  // Records appended but not yet written to the log file (at log offset
  // pending_at): written by the next sync with one pwrite, so a commit costs
  // no system call of its own.
  std::vector<unsigned char> pending;
  std::uint64_t pending_at = page_size;
  std::uint64_t appended = 0;         // bytes appended ever (a log sequence number)
  std::uint64_t durable = 0;          // of those, bytes known durable
  std::uint64_t sync_started_at = 0;  // `appended` when the running/last sync began
  bool syncing = false;
  bool checkpointing = false;
  unsigned in_flight = 0;  // appended, not yet written back
  std::string failure;     // non-empty: INVARIANT fail-stop
  // Group-commit batching: who appended the last few records.
  unsigned recent_committers[8] = {};
  unsigned recent_next = 0;
  double sync_seconds = 0.0005;  // moving average of one log sync

  // ---- relaxed durability ------------------------------------------------
  std::vector<std::atomic<std::uint64_t>> dirty_pages;  // bit per heap page
  std::thread flusher;
  bool stopping = false;

  // ---- several processes (options::multi_process; shared_store.cpp) --------
  bool multi_process = false;
  int sidecar_fd = -1;
  struct shared_header* shared = nullptr;  // the sidecar's mapping
  std::atomic<std::uint64_t>* shared_orecs = nullptr;
  unsigned slot = 0;   // this process's slot
  std::thread holder;  // holds the slot's robust mutex; wakes retry() waiters
  std::atomic<bool> holder_stop{false};
  std::atomic<std::uint64_t> dead_recovered{0};
  void open_shared();  // the constructor's work for multi_process
  void close_shared() noexcept;
  void commit_shared(std::vector<unsigned char>& record);
  void lead_sync_shared();
  void written_back_shared() noexcept;
  void checkpoint_shared();
  void checkpoint_shared_locked();  // log_mutex held
  void run_holder(std::atomic<int>* started);

  // ---- statistics ---------------------------------------------------------
  std::atomic<std::uint64_t> commits{0}, syncs{0}, checkpoints{0};
  std::uint64_t recovered = 0;

  // Sync of the log up to what is appended now (lock held on entry and exit;
  // released during the sync). Throws store_error on failure.
  void sync_log(std::unique_lock<std::mutex>& lock);
  void write_pending(std::unique_lock<std::mutex>& lock);  // lock held throughout
  [[noreturn]] void fail(std::unique_lock<std::mutex>& lock, const std::string& what, int error);
  void check_failed() const;
  void run_flusher();
};

// The open stores, for the engine hook (commit_hook.cpp).
void register_store(store_impl* s);
void unregister_store(store_impl* s) noexcept;

[[noreturn]] void throw_store_error(const std::string& file, const std::string& problem,
                                    int error = 0);

}  // namespace optimist::durable::detail
