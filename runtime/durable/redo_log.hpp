// The redo log: a preallocated file of checksummed records, one per durable
// commit, each listing the heap words the commit wrote (offset, value, mask).
//
//   record := record_header, count * record_entry
//
// INVARIANT (log-epoch): every record carries the log's epoch and a sequence
// number starting at 1 in each epoch; recovery replays records from the first
// one in order and stops at the first that is not complete, checksummed, of
// the current epoch and next in sequence. A checkpoint or an open starts a
// new epoch, so stale records left further on in the file by an earlier epoch
// can never be mistaken for new ones.
// INVARIANT (log-prefix): a commit's record is appended after the record of
// every commit it depends on (those unlocked their words after appending), and
// a commit returns only once every record before its own is durable too; so
// what survives is a prefix of the commit order that holds every
// acknowledged commit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace optimist::durable::detail {

inline constexpr std::uint32_t record_magic = 0x52444f4f;  // "OODR"

struct record_header {
  std::uint32_t magic;
  std::uint32_t count;  // entries
  std::uint64_t epoch;
  std::uint64_t sequence;
  std::uint64_t checksum;  // of header (checksum field 0) and entries
};

struct record_entry {
  std::uint64_t offset;  // from the heap file's start, 8-aligned
  std::uint64_t value;   // selected bytes only
  std::uint64_t mask;    // bytes of the word written
};

inline std::size_t record_bytes(std::size_t count) noexcept {
  return sizeof(record_header) + count * sizeof(record_entry);
}

// Seals a record built in `buffer` (header then entries): sets epoch,
// sequence and checksum.
void seal_record(unsigned char* buffer, std::size_t bytes, std::uint64_t epoch,
                 std::uint64_t sequence) noexcept;

struct replay_result {
  std::uint64_t records = 0;
  std::uint64_t end = 0;  // log offset after the last valid record
};

// Replays the valid prefix of `log` (the whole log file) into `heap` (the
// mapped heap file of `heap_size` bytes). Throws store_error if a record that
// passes its checksum names a word outside the heap (corruption that a
// checksum cannot explain).
replay_result replay_log(const std::vector<unsigned char>& log, std::uint64_t epoch,
                         unsigned char* heap, std::size_t heap_size, const std::string& log_name);

}  // namespace optimist::durable::detail
