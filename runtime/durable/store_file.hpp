// The store's two files and their layout.
//
//   <path>       the heap file, mapped into memory:
//                  page 0   store_header (written once, at creation); its last word
//                           is the multi-process session (session_offset)
//                  page 1   root table (root_capacity root_entry, transactional words)
//                  page 2   allocator_state (transactional words)
//                  page 3.. objects (offsets from the file start are durable::ptr values)
//   <path>-log   the redo log (redo_log.hpp): page 0 log_header, then records.
//
// Both files are preallocated with written zeros at creation (never grown
// later: growing a file costs extra metadata flushes, and ENOSPC can only
// happen at creation). A store is created under <path>.creating and renamed
// into place once complete, so a crash during creation never leaves a
// half-made file at <path>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace optimist::durable::detail {

inline constexpr std::size_t page_size = 4096;
inline constexpr std::uint32_t format_version = 1;
inline constexpr char store_magic[8] = {'O', 'P', 'T', 'I', 'M', 'S', 'T', '1'};
inline constexpr char log_magic[8] = {'O', 'P', 'T', 'I', 'M', 'L', 'G', '1'};

// A word in the heap's first page, after the store header and outside its
// checksum: the session of the store's current multi-process opening
// (INVARIANT one-sidecar, shared_store.cpp). Zero in a store never opened so.
inline constexpr std::uint64_t session_offset = page_size - 8;
inline constexpr std::uint64_t roots_offset = page_size;
inline constexpr std::size_t root_name_capacity = 40;  // bytes, NUL included
inline constexpr std::size_t root_capacity = 64;
inline constexpr std::uint64_t allocator_offset = 2 * page_size;
inline constexpr std::uint64_t data_offset = 3 * page_size;
inline constexpr std::size_t min_heap_size = data_offset + 16 * page_size;
inline constexpr std::size_t min_log_size = 2 * page_size;

struct store_header {
  char magic[8];
  std::uint32_t version;
  std::uint32_t page;
  std::uint64_t heap_size;  // the whole heap file
  std::uint64_t log_size;   // the whole log file
  std::uint64_t store_id;   // random; the log names it, so a foreign log is refused
  std::uint64_t checksum;   // of the bytes above
};
static_assert(sizeof(store_header) <= session_offset, "the session word is past the header");

struct log_header {
  char magic[8];
  std::uint32_t version;
  std::uint32_t page;
  std::uint64_t store_id;
  std::uint64_t log_size;
  std::uint64_t epoch;     // records of other epochs are stale (INVARIANT log-epoch)
  std::uint64_t checksum;  // of the bytes above
};

struct root_entry {
  char name[root_name_capacity];  // empty: unused
  std::uint64_t type_id;
  std::uint64_t size;
  std::uint64_t offset;
};
static_assert(sizeof(root_entry) == 64 && root_capacity * sizeof(root_entry) <= page_size);

inline constexpr std::size_t size_classes = 48;  // block sizes 32 << class
struct allocator_state {
  std::uint64_t bump;  // next unused byte (0: data_offset, the file's zero state)
  std::uint64_t free_heads[size_classes];
};

struct opened_files {
  int heap_fd = -1;
  int log_fd = -1;
  store_header header{};
  log_header log{};
};

std::string log_path_for(const std::string& path);
std::uint64_t header_checksum(const store_header& h) noexcept;
std::uint64_t header_checksum(const log_header& h) noexcept;

// Opens the store at `path` (creating it first if it does not exist and
// `create` is set), checks both headers and locks it for this process (a
// multi-process joiner's log header checksum excepted: the caller reads the
// header again under log_mutex and checks it, INVARIANT
// joiner-reads-header-locked).
// Throws store_error naming the file and the problem.
// With `shared_alone` (options::multi_process) the lock is shared by every
// multi-process opener: *shared_alone tells whether this one holds it alone
// (an exclusive lock, to be downgraded by the caller), and a store held by a
// single-process opener is refused.
opened_files open_store_files(const std::string& path, std::size_t heap_size, std::size_t log_size,
                              bool create, bool* shared_alone = nullptr);

// Writes `h` as the log's header page (the checkpoint's commit point: one
// sector-sized write; the header fits in the first 512 bytes). Returns errno.
int write_log_header(int log_fd, const log_header& h);

}  // namespace optimist::durable::detail
