// The real file operations (see file_io.hpp for the seam).
#include "durable/file_io.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace optimist::durable::detail {

int file_io::write_at(int fd, const void* data, std::size_t size, std::uint64_t offset) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd, bytes, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    bytes += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return 0;
}

int file_io::read_at(int fd, void* data, std::size_t size, std::uint64_t offset) {
  auto* bytes = static_cast<unsigned char*>(data);
  while (size > 0) {
    ssize_t n = ::pread(fd, bytes, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return ENODATA;
    bytes += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return 0;
}

int file_io::sync(int fd) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

namespace {
file_io real_io;
std::atomic<file_io*> current{&real_io};
}  // namespace

file_io& io() noexcept {
  return *current.load(std::memory_order_acquire);
}

void set_file_io_for_testing(file_io* replacement) noexcept {
  current.store(replacement != nullptr ? replacement : &real_io, std::memory_order_release);
}

}  // namespace optimist::durable::detail
