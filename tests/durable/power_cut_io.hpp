// tests/durable/power_cut_io.hpp — a simulated disk for the power-loss tests:
// the store's file I/O goes through this seam, which remembers for each file
// what the last completed sync made durable. At the k-th sync (or at
// cut_now()) the power fails: each file's image becomes that durable state
// plus a random subset of the 512-byte sectors written since (heap pages
// written back through the mapping included: they are read from the page
// cache), and every later I/O fails. images() are then written over the
// files with write_file() and recovered.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "durable/file_io.hpp"

namespace optimist::test {

inline std::vector<unsigned char> read_file(const std::string& path) {
  std::vector<unsigned char> bytes(std::filesystem::file_size(path));
  int fd = ::open(path.c_str(), O_RDONLY);
  std::size_t at = 0;
  while (at < bytes.size()) {
    ssize_t n = ::pread(fd, bytes.data() + at, bytes.size() - at, static_cast<off_t>(at));
    if (n <= 0) break;
    at += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return bytes;
}

inline void write_file(const std::string& path, const std::vector<unsigned char>& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY);
  std::size_t at = 0;
  while (at < bytes.size()) {
    ssize_t n = ::pwrite(fd, bytes.data() + at, bytes.size() - at, static_cast<off_t>(at));
    if (n <= 0) break;
    at += static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
}

inline std::string path_of(int fd) {
  return std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd)).string();
}

// The simulated disk (see the file comment). Syncs are not passed to the
// real disk: the test decides what survives.
class power_cut_io : public durable::detail::file_io {
 public:
  power_cut_io(std::vector<std::string> paths, int syncs_until_cut, std::uint64_t seed)
      : paths_(std::move(paths)), syncs_left_(syncs_until_cut), rng_(seed) {
    for (const auto& p : paths_) durable_[p] = read_file(p);
  }
  // The same, when the files hold writes that no sync has made durable yet
  // (a process killed between its write and its sync): `durable` is what the
  // disk holds for each path.
  power_cut_io(std::vector<std::string> paths, int syncs_until_cut, std::uint64_t seed,
               std::map<std::string, std::vector<unsigned char>> durable)
      : paths_(std::move(paths)),
        syncs_left_(syncs_until_cut),
        rng_(seed),
        durable_(std::move(durable)) {}
  int write_at(int fd, const void* d, std::size_t n, std::uint64_t off) override {
    std::lock_guard<std::mutex> lock(mutex_);  // no write may slip past the cut
    if (cut_) return EIO;
    return file_io::write_at(fd, d, n, off);
  }
  int sync(int fd) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cut_) return EIO;
    if (--syncs_left_ == 0) {
      cut();
      return EIO;
    }
    // What this sync makes durable: the file as it is when the sync starts.
    durable_[path_of(fd)] = read_file(path_of(fd));
    return 0;
  }
  // The power fails now (between two syncs).
  void cut_now() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!cut_) cut();
  }
  bool was_cut() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cut_;
  }
  const std::map<std::string, std::vector<unsigned char>>& images() const { return images_; }

 private:
  void cut() {
    cut_ = true;
    for (const auto& p : paths_) {
      std::vector<unsigned char> now = read_file(p);
      std::vector<unsigned char> image = durable_[p];
      for (std::size_t s = 0; s + 512 <= image.size(); s += 512) {
        if (std::memcmp(&image[s], &now[s], 512) != 0 && (rng_() & 1) != 0) {
          std::memcpy(&image[s], &now[s], 512);
        }
      }
      images_[p] = std::move(image);
    }
  }
  std::mutex mutex_;
  std::vector<std::string> paths_;
  int syncs_left_;
  std::mt19937_64 rng_;
  bool cut_ = false;
  std::map<std::string, std::vector<unsigned char>> durable_;
  std::map<std::string, std::vector<unsigned char>> images_;
};

}  // namespace optimist::test
