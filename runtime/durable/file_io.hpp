// The file operations of a durable store, behind one seam: tests replace them
// to inject errors (ENOSPC, EIO) and to simulate a power loss (keep only what
// the completed syncs made durable plus a random subset of later writes).
//
// The heap itself is written through a memory mapping, which no seam sees;
// a test sees those writes by reading the file (the page cache is shared).
#pragma once

#include <cstddef>
#include <cstdint>

namespace optimist::durable::detail {

class file_io {
 public:
  virtual ~file_io() = default;
  // Each returns 0 or an errno value; a short transfer is an error (EIO for a
  // write, ENODATA for a read past the end).
  virtual int write_at(int fd, const void* data, std::size_t size, std::uint64_t offset);
  virtual int read_at(int fd, void* data, std::size_t size, std::uint64_t offset);
  virtual int sync(int fd);  // fdatasync
};

// The file_io every store uses (the real one unless a test installed another).
file_io& io() noexcept;
// Test seam: nullptr restores the real one. Not thread-safe against open stores.
void set_file_io_for_testing(file_io* replacement) noexcept;

}  // namespace optimist::durable::detail
