// Checkpoints: make the heap file hold everything the log holds, then start a
// new log epoch.
//
// INVARIANT (checkpoint-quiescent): while `checkpointing` is set no record is
// appended, and the checkpoint begins its I/O only once in_flight == 0 (every
// appended commit has written back and synced), so the heap it flushes is
// exactly the state after the log's last record. The new epoch's header
// (one sector-sized write, then a sync) is the commit point: before it,
// recovery replays the old log onto that state (redo is idempotent: each
// record stores absolute values); after it, the old records are stale.
#include <cerrno>
#include <vector>

#include "durable/durable_store.hpp"
#include "durable/file_io.hpp"
#include "durable/shared_store.hpp"

namespace optimist::durable::detail {

void store_impl::checkpoint() {
  if (multi_process) {
    checkpoint_shared();  // shared_store.cpp
    return;
  }
  std::unique_lock<std::mutex> lock(mutex);
  check_failed();
  checkpoint_locked(lock);
}

void store_impl::checkpoint_locked(std::unique_lock<std::mutex>& lock) {
  if (checkpointing) {
    // Another thread is checkpointing: the log will be empty when it is done.
    while (checkpointing) changed.wait(lock);
    check_failed();
    return;
  }
  checkpointing = true;
  while (in_flight > 0 || syncing) {
    if (!failure.empty()) break;
    changed.wait(lock);
  }
  // One process: the store stops here (fail), so a header that reaches the disk later moves
  // only a log no commit will append to again.
  auto give_up = [&](const std::string& what, int error, bool) {
    checkpointing = false;
    fail(lock, what, error);
  };
  if (!failure.empty()) {
    checkpointing = false;
    changed.notify_all();
    check_failed();
  }
  if (durable < appended) {
    try {
      sync_log(lock);
    } catch (...) {
      checkpointing = false;
      changed.notify_all();
      throw;
    }
  }
  if (private_mapping) {
    // Only pages written since the last checkpoint differ from the file.
    for (std::size_t i = 0; i < dirty_pages.size(); ++i) {
      std::uint64_t bits = dirty_pages[i].exchange(0, std::memory_order_relaxed);
      while (bits != 0) {
        std::size_t page = i * 64 + static_cast<std::size_t>(__builtin_ctzll(bits));
        bits &= bits - 1;
        if (int e =
                io().write_at(files.heap_fd, base + page * page_size, page_size, page * page_size);
            e != 0) {
          give_up("cannot write the heap at a checkpoint", e, false);
        }
      }
    }
  }
  const log_header next = write_next_epoch(epoch, give_up);
  files.log = next;
  epoch = next.epoch;
  next_sequence = 1;
  append_at = page_size;
  checkpointing = false;
  checkpoints.fetch_add(1, std::memory_order_relaxed);
  changed.notify_all();
}

// Multi-process: called only holding log_mutex (checkpoint_shared_locked), the
// one writer of the log header besides a first opener's recovery, which holds
// the heap's flock alone: a joiner's locked read relies on it (INVARIANT
// joiner-reads-header-locked, shared_store.cpp).
log_header store_impl::write_next_epoch(
    std::uint64_t current,
    const std::function<void(const std::string&, int, bool header_touched)>& give_up) {
  if (multi_process && current + 1 > max_shared_epoch) {
    // Before the heap or the header changes: the store stops with this error, consistent.
    give_up("the log has used all its epochs for options::multi_process (" +
                std::to_string(max_shared_epoch) + " checkpoints); copy the store to a new one",
            EOVERFLOW, false);
  }
  if (int e = io().sync(files.heap_fd); e != 0) {
    give_up("cannot sync the heap at a checkpoint", e, false);
  }
  log_header next = files.log;
  next.epoch = current + 1;
  next.checksum = header_checksum(next);
  if (int e = write_log_header(files.log_fd, next); e != 0) {
    give_up("cannot write the log header at a checkpoint", e, true);
  }
  if (int e = io().sync(files.log_fd); e != 0) {
    give_up("cannot sync the log at a checkpoint", e, true);
  }
  return next;
}

}  // namespace optimist::durable::detail
