// Group commit: appending a record and waiting until it is durable.
//
// Committers append under `mutex` (a copy into `pending`; the next sync
// writes every pending record with one pwrite into the preallocated log, then
// fdatasyncs), then wait until `durable` covers their record. Whoever finds
// no sync running leads one: it syncs everything appended so far, so one
// fdatasync serves every committer waiting (and every record appended before
// the sync began). A leader that has seen several committers recently first
// waits briefly (at most half a sync) for the others to append, so that two
// committers alternating do not each pay a sync of their own.
//
// INVARIANT (fail-stop): after a failed append or sync nothing is known about
// what reached the disk, so every later commit and checkpoint throws; reopen
// the store to recover (recovery keeps exactly the valid prefix).
#include <atomic>
#include <chrono>

#include "durable/durable_store.hpp"
#include "durable/file_io.hpp"
#include "durable/redo_log.hpp"

namespace optimist::durable::detail {

namespace {
std::atomic<unsigned> next_committer_id{1};
thread_local unsigned committer_id = 0;

unsigned this_committer() noexcept {
  if (committer_id == 0) committer_id = next_committer_id.fetch_add(1, std::memory_order_relaxed);
  return committer_id;
}
}  // namespace

void store_impl::check_failed() const {
  if (!failure.empty()) {
    throw store_error(failure + " (the store refuses commits after an I/O failure; reopen it)");
  }
}

void store_impl::fail(std::unique_lock<std::mutex>& lock, const std::string& what, int error) {
  (void)lock;
  try {
    throw_store_error(path, what, error);
  } catch (const store_error& e) {
    if (failure.empty()) failure = e.what();
    changed.notify_all();
    throw;
  }
}

void store_impl::write_pending(std::unique_lock<std::mutex>& lock) {
  if (pending.empty()) return;
  if (int e = io().write_at(files.log_fd, pending.data(), pending.size(), pending_at); e != 0) {
    pending.clear();
    fail(lock, "cannot append to the log", e);
  }
  pending.clear();
}

void store_impl::sync_log(std::unique_lock<std::mutex>& lock) {
  write_pending(lock);
  const std::uint64_t target = appended;
  syncing = true;
  sync_started_at = target;
  lock.unlock();
  auto start = std::chrono::steady_clock::now();
  int e = io().sync(files.log_fd);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  lock.lock();
  syncing = false;
  if (e != 0) fail(lock, "cannot sync the log", e);
  if (target > durable) durable = target;
  sync_seconds = 0.8 * sync_seconds + 0.2 * took.count();
  syncs.fetch_add(1, std::memory_order_relaxed);
  changed.notify_all();
}

void store_impl::commit_record(std::vector<unsigned char>& record) {
  if (multi_process) {
    commit_shared(record);  // shared_store.cpp
    return;
  }
  const unsigned me = this_committer();
  std::unique_lock<std::mutex> lock(mutex);
  const std::uint64_t log_size = files.header.log_size;
  for (;;) {
    check_failed();
    if (checkpointing) {
      changed.wait(lock);
      continue;
    }
    if (append_at + record.size() <= log_size) break;
    if (record.size() > log_size - page_size) {
      throw store_error("optimist::durable: " + path + ": a transaction's redo record of " +
                        std::to_string(record.size()) + " bytes does not fit in the log of " +
                        std::to_string(log_size) + " bytes (options::log_size)");
    }
    checkpoint_locked(lock);  // the log is full
  }
  seal_record(record.data(), record.size(), epoch, next_sequence);
  if (pending.empty()) pending_at = append_at;
  pending.insert(pending.end(), record.begin(), record.end());  // may throw: nothing changed yet
  ++next_sequence;
  append_at += record.size();
  appended += record.size();
  const std::uint64_t mine = appended;
  ++in_flight;
  recent_committers[recent_next++ % 8] = me;
  commits.fetch_add(1, std::memory_order_relaxed);
  if (opts.mode == durability::relaxed) {
    // The flusher writes and syncs within the window; a long window's backlog
    // is written (not synced) here, to bound the buffer.
    if (pending.size() >= (std::size_t{1} << 20)) {
      try {
        write_pending(lock);
      } catch (...) {
        --in_flight;
        throw;
      }
    }
    return;
  }
  changed.notify_all();  // a leader may be gathering a batch
  try {
    while (durable < mine) {
      check_failed();
      if (syncing) {
        changed.wait(lock);
        continue;
      }
      // Lead the next sync; first let the other recent committers join.
      unsigned distinct = 0;
      for (unsigned i = 0; i < 8; ++i) {
        unsigned id = recent_committers[i];
        if (id == 0) continue;
        bool seen = false;
        for (unsigned j = 0; j < i; ++j) seen = seen || recent_committers[j] == id;
        distinct += seen ? 0 : 1;
      }
      if (distinct > 1) {
        const auto patience = std::chrono::duration<double>(std::min(sync_seconds / 2, 0.002));
        const auto deadline =
            std::chrono::steady_clock::now() +
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(patience);
        // Bytes stand in for records: wait until about `distinct` records
        // have been appended since the last sync began, or the deadline.
        const std::uint64_t want = record.size() * distinct;
        while (!syncing && durable < mine && appended - sync_started_at < want &&
               changed.wait_until(lock, deadline) != std::cv_status::timeout) {
        }
        if (syncing || durable >= mine) continue;
      }
      sync_log(lock);
    }
  } catch (...) {
    --in_flight;
    changed.notify_all();
    throw;
  }
}

void store_impl::written_back() noexcept {
  if (multi_process) {
    written_back_shared();
    return;
  }
  std::lock_guard<std::mutex> lock(mutex);
  if (--in_flight == 0 && checkpointing) changed.notify_all();
}

void store_impl::mark_dirty(std::uint64_t offset) noexcept {
  if (!private_mapping) return;
  const std::uint64_t page = offset / page_size;
  dirty_pages[page / 64].fetch_or(std::uint64_t{1} << (page % 64), std::memory_order_relaxed);
}

void store_impl::run_flusher() {
  std::unique_lock<std::mutex> lock(mutex);
  while (!stopping) {
    flusher_wake.wait_for(lock, opts.relaxed_window);
    if (stopping || !failure.empty()) break;
    if (syncing || checkpointing || durable >= appended) continue;
    try {
      sync_log(lock);
    } catch (...) {
      break;  // fail-stop: commits now throw
    }
  }
}

}  // namespace optimist::durable::detail
