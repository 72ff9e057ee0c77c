// Creating and opening the store's files (layout: store_file.hpp).
//
// Opening never writes to a file before it has been recognised as a store of
// this format; creating never replaces an existing file that is not ours.
#include "durable/store_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

#include "durable/checksum.hpp"
#include "durable/durable_store.hpp"
#include "durable/file_io.hpp"

namespace optimist::durable::detail {

std::string log_path_for(const std::string& path) {
  return path + "-log";
}

std::uint64_t header_checksum(const store_header& h) noexcept {
  return checksum64(&h, offsetof(store_header, checksum));
}
std::uint64_t header_checksum(const log_header& h) noexcept {
  return checksum64(&h, offsetof(log_header, checksum));
}

void throw_store_error(const std::string& file, const std::string& problem, int error) {
  std::string message = "optimist::durable: " + file + ": " + problem;
  if (error != 0) message += " (" + std::string(std::strerror(error)) + ")";
  throw store_error(message);
}

namespace {

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

std::size_t round_up(std::size_t n) {
  return (n + page_size - 1) / page_size * page_size;
}

// Writes `size` zero bytes (and fsyncs): a preallocation that really holds
// the blocks, unlike a sparse ftruncate. ENOSPC surfaces here, at creation.
int write_zeros(int fd, std::size_t size) {
  std::vector<unsigned char> zeros(std::size_t{1} << 20, 0);
  for (std::size_t at = 0; at < size; at += zeros.size()) {
    std::size_t n = std::min(zeros.size(), size - at);
    if (int e = io().write_at(fd, zeros.data(), n, at); e != 0) return e;
  }
  return io().sync(fd);
}

// The directory holding `path`: "." for a bare file name, "/" for a file in the root. (Built
// in one expression: GCC 12 at -O3 warned, -Wrestrict, about a later assignment of "/" to the
// string, a false positive that every Release build printed.)
std::string directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".")
         : slash == 0               ? std::string("/")
                                    : path.substr(0, slash);
}

int sync_directory_of(const std::string& path) {
  const std::string dir = directory_of(path);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int e = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return e;
}

bool is_our_log(int fd) {
  log_header h{};
  if (io().read_at(fd, &h, sizeof h, 0) != 0) return false;
  return std::memcmp(h.magic, log_magic, sizeof log_magic) == 0;
}

std::string describe_open_error(int error) {
  if (error == EACCES || error == EROFS || error == EPERM) {
    return "cannot be opened for writing (recovery and commits write to it; a read-only store "
           "is not supported)";
  }
  return "cannot be opened";
}

void create_store(const std::string& path, std::size_t heap_size, std::size_t log_size) {
  heap_size = round_up(heap_size);
  log_size = round_up(log_size);
  if (heap_size < min_heap_size) {
    throw_store_error(path, "options::heap_size " + std::to_string(heap_size) +
                                " is below the minimum of " + std::to_string(min_heap_size));
  }
  if (log_size < min_log_size) {
    throw_store_error(path, "options::log_size " + std::to_string(log_size) +
                                " is below the minimum of " + std::to_string(min_log_size));
  }
  const std::string log_path = log_path_for(path);
  const std::string creating = path + ".creating";

  // INVARIANT (one-creator): creations in a directory take turns, under an exclusive flock of
  // the directory. Two processes that both found no store would otherwise both create it: the
  // second truncated the log the first was already committing into and renamed a fresh heap
  // over the first one's. Under the lock, a store that exists was created meanwhile (opened as
  // it is), and a `.creating` file was left by a creation that crashed (replaced).
  fd_guard directory;
  directory.fd = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory.fd < 0) throw_store_error(path, "cannot open its directory", errno);
  while (::flock(directory.fd, LOCK_EX) != 0) {
    if (errno != EINTR) throw_store_error(path, "cannot lock its directory", errno);
  }
  struct stat existing {};
  if (::stat(path.c_str(), &existing) == 0) return;  // created meanwhile
  if (::unlink(creating.c_str()) != 0 && errno != ENOENT) {
    throw_store_error(path, "cannot remove " + creating + " (left by an interrupted creation)",
                      errno);
  }

  // The log's name may hold a file of the user's: replace only a log of ours
  // (left by a creation that crashed before the rename).
  fd_guard log;
  log.fd = ::open(log_path.c_str(), O_RDWR | O_CLOEXEC);
  if (log.fd >= 0) {
    if (!is_our_log(log.fd)) {
      throw_store_error(path, "cannot create the store: " + log_path +
                                  " exists and is not an optimist store log (not overwritten)");
    }
  } else if (errno != ENOENT) {
    throw_store_error(log_path, describe_open_error(errno), errno);
  }

  fd_guard heap;
  heap.fd = ::open(creating.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (heap.fd < 0) {
    throw_store_error(creating, "cannot be created", errno);
  }
  auto abandon = [&](const std::string& what, int error) {
    ::unlink(creating.c_str());
    throw_store_error(path, what, error);
  };
  if (int e = write_zeros(heap.fd, heap_size); e != 0) {
    abandon("cannot preallocate the heap file (" + std::to_string(heap_size) + " bytes)", e);
  }
  std::random_device entropy;
  store_header h{};
  std::memcpy(h.magic, store_magic, sizeof h.magic);
  h.version = format_version;
  h.page = page_size;
  h.heap_size = heap_size;
  h.log_size = log_size;
  h.store_id =
      (std::uint64_t{entropy()} << 32) ^ entropy() ^ static_cast<std::uint64_t>(::getpid());
  h.checksum = header_checksum(h);
  if (int e = io().write_at(heap.fd, &h, sizeof h, 0); e != 0) abandon("cannot write", e);
  if (int e = io().sync(heap.fd); e != 0) abandon("cannot sync", e);

  if (log.fd < 0) {
    log.fd = ::open(log_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (log.fd < 0) abandon("cannot create " + log_path, errno);
  } else if (::ftruncate(log.fd, 0) != 0) {
    abandon("cannot truncate the stale log " + log_path, errno);
  }
  if (int e = write_zeros(log.fd, log_size); e != 0) {
    ::unlink(log_path.c_str());
    abandon("cannot preallocate the log file (" + std::to_string(log_size) + " bytes)", e);
  }
  log_header lh{};
  std::memcpy(lh.magic, log_magic, sizeof lh.magic);
  lh.version = format_version;
  lh.page = page_size;
  lh.store_id = h.store_id;
  lh.log_size = log_size;
  lh.epoch = 1;
  lh.checksum = header_checksum(lh);
  if (int e = write_log_header(log.fd, lh); e != 0) abandon("cannot write " + log_path, e);
  if (int e = io().sync(log.fd); e != 0) abandon("cannot sync " + log_path, e);
  if (::rename(creating.c_str(), path.c_str()) != 0) abandon("cannot rename into place", errno);
  if (int e = sync_directory_of(path); e != 0)
    throw_store_error(path, "cannot sync its directory", e);
}

}  // namespace

int write_log_header(int log_fd, const log_header& h) {
  return io().write_at(log_fd, &h, sizeof h, 0);
}

opened_files open_store_files(const std::string& path, std::size_t heap_size, std::size_t log_size,
                              bool create, bool* shared_alone) {
  fd_guard heap;
  heap.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (heap.fd < 0 && errno == ENOENT && create) {
    create_store(path, heap_size, log_size);
    heap.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (heap.fd < 0) {
    int e = errno;
    if (e == ENOENT) throw_store_error(path, "does not exist (options::create_if_missing is off)");
    throw_store_error(path, describe_open_error(e), e);
  }
  struct stat st {};
  if (::fstat(heap.fd, &st) != 0) throw_store_error(path, "cannot stat", errno);
  if (!S_ISREG(st.st_mode)) throw_store_error(path, "is not a regular file");
  if (shared_alone != nullptr) {
    *shared_alone = ::flock(heap.fd, LOCK_EX | LOCK_NB) == 0;
    if (!*shared_alone && ::flock(heap.fd, LOCK_SH | LOCK_NB) != 0) {
      throw_store_error(
          path, "is open already by a single-process store (options::multi_process off)", errno);
    }
  } else if (::flock(heap.fd, LOCK_EX | LOCK_NB) != 0) {
    throw_store_error(path,
                      "is open already (in this or another process; several processes need "
                      "options::multi_process in every one)",
                      errno);
  }
  opened_files files;
  if (static_cast<std::size_t>(st.st_size) < sizeof(store_header) ||
      io().read_at(heap.fd, &files.header, sizeof files.header, 0) != 0 ||
      std::memcmp(files.header.magic, store_magic, sizeof store_magic) != 0) {
    throw_store_error(path, "is not an optimist durable store (no store header; not modified)");
  }
  const store_header& h = files.header;
  if (h.checksum != header_checksum(h)) throw_store_error(path, "store header is corrupted");
  if (h.version != format_version || h.page != page_size) {
    throw_store_error(path, "has format version " + std::to_string(h.version) + " (page " +
                                std::to_string(h.page) + "); this library reads version " +
                                std::to_string(format_version));
  }
  // Sizes no creation writes (create_store's minimums, whole pages): the
  // checksum is no signature, and the root table and allocator state live at
  // fixed pages that a smaller heap does not have (they were accessed past
  // the mapping); a log without room for one page of records made every
  // commit checkpoint for ever (log_size - page_size wrapped).
  if (h.heap_size < min_heap_size || h.heap_size % page_size != 0 || h.log_size < min_log_size ||
      h.log_size % page_size != 0) {
    throw_store_error(path, "store header names sizes no store has (heap " +
                                std::to_string(h.heap_size) + " bytes, log " +
                                std::to_string(h.log_size) + " bytes): not an intact store");
  }
  if (static_cast<std::uint64_t>(st.st_size) != h.heap_size) {
    throw_store_error(path, "is truncated or resized: " + std::to_string(st.st_size) +
                                " bytes, the header says " + std::to_string(h.heap_size));
  }

  const std::string log_path = log_path_for(path);
  fd_guard log;
  log.fd = ::open(log_path.c_str(), O_RDWR | O_CLOEXEC);
  if (log.fd < 0) {
    int e = errno;
    if (e == ENOENT) throw_store_error(log_path, "the store's redo log is missing");
    throw_store_error(log_path, describe_open_error(e), e);
  }
  if (::fstat(log.fd, &st) != 0) throw_store_error(log_path, "cannot stat", errno);
  log_header& lh = files.log;
  if (static_cast<std::size_t>(st.st_size) < sizeof(log_header) ||
      io().read_at(log.fd, &lh, sizeof lh, 0) != 0 ||
      std::memcmp(lh.magic, log_magic, sizeof log_magic) != 0) {
    throw_store_error(log_path, "is not an optimist store log");
  }
  // A multi-process joiner reads the header while another process's checkpoint
  // may be rewriting it: a mix of the two epochs fails the checksum though both
  // are intact. open_shared reads it again under the log lock and checks it
  // then (INVARIANT joiner-reads-header-locked); the fields checked below are
  // the same in every epoch's header, so a mix has them whole.
  const bool joining = shared_alone != nullptr && !*shared_alone;
  if (!joining && lh.checksum != header_checksum(lh)) {
    throw_store_error(log_path, "log header is corrupted");
  }
  if (lh.store_id != h.store_id) throw_store_error(log_path, "belongs to another store");
  if (lh.log_size != h.log_size || static_cast<std::uint64_t>(st.st_size) != h.log_size) {
    throw_store_error(log_path, "is truncated or resized: " + std::to_string(st.st_size) +
                                    " bytes, expected " + std::to_string(h.log_size));
  }
  files.heap_fd = heap.release();
  files.log_fd = log.release();
  return files;
}

}  // namespace optimist::durable::detail
