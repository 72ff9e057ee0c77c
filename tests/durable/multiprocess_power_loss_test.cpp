// Power loss with several processes on one store (options::multi_process):
// forked children run the ledger workload (ledger_workload.hpp: process p is
// the ledger's writer p) and acknowledge each transfer through a pipe once
// atomically() has returned. Their file I/O goes through a simulated disk
// shared by all of them (shared_power_cut_io below): every completed sync,
// whichever process makes it (a group-commit leader syncs for the others),
// copies what it made durable beside the file; the k-th sync of the round (k
// random) cuts the power, and every later write or sync fails in every
// process. The parent then kills every child (SIGKILL) and builds each
// file's image as the power loss leaves it: the durable copy plus a random
// subset of the 512-byte sectors written since (heap pages written back
// through the shared mapping included), recovers it and checks that every
// acknowledged transfer survived and nothing was invented.
//
//   RecoveredLedgerKeepsEveryAcknowledgedTransfer   2 and 3 processes,
//       OPTIMIST_STRESS multiplies the rounds; cuts land in checkpoints too.
//   NegativeControlWriteBackBeforeSyncIsCaught   the children write each
//       commit into the heap before its record is synced: must be caught.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "durable/fault_injection.hpp"
#include "durable/file_io.hpp"
#include "durable/ledger_workload.hpp"
#include "durable/power_cut_io.hpp"
#include "support/stress.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace multiprocess_power_loss_test {

namespace {

namespace durable = optimist::durable;
using optimist::test::ledger;
using optimist::test::read_file;
using clock_type = std::chrono::steady_clock;

durable::options cut_options() {
  durable::options o;
  o.heap_size = 1 << 20;
  o.log_size = 8 << 10;  // a checkpoint every ~16 transfers: cuts land in them too
  o.multi_process = true;
  return o;
}

// Writes `bytes` as the whole content of `path` (created or truncated).
void save(const std::string& path, const std::vector<unsigned char>& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) std::abort();
  std::size_t at = 0;
  while (at < bytes.size()) {
    ssize_t n = ::pwrite(fd, bytes.data() + at, bytes.size() - at, static_cast<off_t>(at));
    if (n <= 0) std::abort();
    at += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

std::string durable_copy(const std::string& path) {
  return path + ".durable";
}

// The round's power state, in memory shared by the parent and its children.
struct cut_state {
  std::atomic<int> syncs_left;  // the sync that takes it to 0 cuts the power
  std::atomic<int> cut;
  std::atomic<long> heap_syncs;  // completed syncs of the heap file: checkpoints and recoveries
};

// The simulated disk of one child. Every write and sync holds an flock on
// the round's lock file, so that no write slips past the cut in any process
// and a durable copy is never taken while another process copies.
class shared_power_cut_io : public durable::detail::file_io {
 public:
  shared_power_cut_io(cut_state* state, const std::string& lock_path, std::string heap_path)
      : state_(state),
        lock_fd_(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)),
        heap_path_(std::move(heap_path)) {
    if (lock_fd_ < 0) std::abort();
  }
  int write_at(int fd, const void* data, std::size_t size, std::uint64_t offset) override {
    locked hold(lock_fd_);
    if (state_->cut.load() != 0) return EIO;
    return file_io::write_at(fd, data, size, offset);
  }
  int sync(int fd) override {
    locked hold(lock_fd_);
    if (state_->cut.load() != 0) return EIO;
    if (state_->syncs_left.fetch_sub(1) == 1) {
      state_->cut.store(1);
      return EIO;
    }
    // What this sync makes durable: the file as it is when the sync starts.
    const std::string path = optimist::test::path_of(fd);
    save(durable_copy(path), read_file(path));
    if (path == heap_path_) state_->heap_syncs.fetch_add(1);
    return 0;
  }

 private:
  struct locked {
    explicit locked(int fd) : fd_(fd) {
      while (::flock(fd_, LOCK_EX) != 0) {
        if (errno != EINTR) std::abort();
      }
    }
    ~locked() { ::flock(fd_, LOCK_UN); }
    int fd_;
  };
  cut_state* state_;
  int lock_fd_;
  std::string heap_path_;
};

struct ack {
  std::uint32_t process;
  std::uint32_t sequence;
};

struct child {
  pid_t pid = -1;
  int acks = -1;  // read end
  std::uint64_t acked = 0;
  bool gone = false;
};

// Ledger writer `index` on the simulated disk, until the power cut stops it
// (a failed sync ends a multi-process store's process: abort) or the parent
// kills it.
[[noreturn]] void run_child(const std::string& path, int index, int ack_fd, cut_state* state) {
  ::alarm(60);  // a hang must not hang the suite
  static shared_power_cut_io io(state, path + ".lock", path);
  durable::detail::set_file_io_for_testing(&io);
  try {
    auto* store = new durable::store(path, cut_options());  // never closed
    ledger& l = store->root<ledger>("ledger");
    for (std::uint64_t s = l.last[index].get() + 1;; ++s) {
      optimist::test::perform_transfer(*store, l, static_cast<std::uint64_t>(index), s);
      ack a{static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(s)};
      if (::write(ack_fd, &a, sizeof a) != sizeof a) std::_Exit(4);
    }
  } catch (const durable::store_error&) {
    // the power is out
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child %d: %s\n", index, e.what());
  }
  std::_Exit(3);
}

child spawn(const std::string& path, int index, cut_state* state) {
  int acks[2];
  if (::pipe(acks) != 0) std::abort();
  child c;
  c.pid = ::fork();
  if (c.pid == 0) {
    ::close(acks[0]);
    // Quiet: after the cut each child stops with a message (a failed sync
    // stops a multi-process store's process); the parent reports problems.
    int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) ::dup2(null, 2);
    run_child(path, index, acks[1], state);
  }
  ::close(acks[1]);
  c.acks = acks[0];
  return c;
}

// Reads every acknowledgement available within `wait`.
void pump(std::vector<child>& children, std::chrono::milliseconds wait) {
  std::vector<pollfd> fds;
  for (child& c : children) fds.push_back({c.gone ? -1 : c.acks, POLLIN, 0});
  if (::poll(fds.data(), fds.size(), static_cast<int>(wait.count())) <= 0) return;
  for (std::size_t i = 0; i < children.size(); ++i) {
    if ((fds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
    ack buffer[64];
    ssize_t n = ::read(children[i].acks, buffer, sizeof buffer);
    if (n <= 0) {
      children[i].gone = true;
      continue;
    }
    for (ssize_t k = 0; k < n / static_cast<ssize_t>(sizeof(ack)); ++k) {
      children[i].acked = std::max<std::uint64_t>(children[i].acked, buffer[k].sequence);
    }
  }
}

// The image a power loss leaves of `path`: what the last sync made durable
// plus each sector written since with probability 1/2.
void cut_image(const std::string& path, std::mt19937_64& rng) {
  std::vector<unsigned char> image = read_file(durable_copy(path));
  const std::vector<unsigned char> now = read_file(path);
  image.resize(now.size(), 0);
  for (std::size_t s = 0; s < image.size(); s += 512) {
    const std::size_t n = std::min<std::size_t>(512, image.size() - s);
    if (std::memcmp(&image[s], &now[s], n) != 0 && (rng() & 1) != 0) {
      std::memcpy(&image[s], &now[s], n);
    }
  }
  optimist::test::write_file(path, image);
}

struct outcome {
  std::string problem;  // empty: every round's recovery was exact
  long rounds = 0;
  long heap_syncs = 0;
};

// Runs up to `rounds` power cuts with `processes` children; stops at the first problem.
outcome power_cuts(const std::string& path, int processes, long rounds, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  void* shared =
      ::mmap(nullptr, sizeof(cut_state), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) return {"cannot map the shared cut state", 0, 0};
  auto* state = new (shared) cut_state{};
  outcome out;
  // What each process's last recovered transfer may be: at least the last one
  // acknowledged, at most one more (its transfer in flight).
  std::vector<std::uint64_t> lowest(processes, 0), highest(processes, 0);
  for (long round = 0; round <= rounds && out.problem.empty(); ++round) {
    const std::string at = "round " + std::to_string(round) + ": ";
    // Recover (real I/O, alone: the first opener recovers) and check.
    try {
      durable::store store(path, cut_options());
      ledger& l = store.root<ledger>("ledger");
      std::string problem = optimist::test::check_ledger(store, l, lowest, highest);
      if (!problem.empty()) {
        out.problem = at + problem;
        break;
      }
      for (int p = 0; p < processes; ++p) lowest[p] = highest[p] = l.last[p].get();
    } catch (const std::exception& e) {
      out.problem = at + "recovery failed: " + e.what();
      break;
    }
    if (round == rounds) break;
    // The closed store is on disk: that is what is durable when the round starts.
    for (const std::string& f : {path, path + "-log"}) save(durable_copy(f), read_file(f));
    state->syncs_left = 2 + static_cast<int>(rng() % 80);
    state->cut = 0;
    std::vector<child> children;
    for (int p = 0; p < processes; ++p) children.push_back(spawn(path, p, state));
    const auto deadline = clock_type::now() + std::chrono::seconds(30);
    while (state->cut.load() == 0) {
      pump(children, std::chrono::milliseconds(5));
      if (std::all_of(children.begin(), children.end(), [](const child& c) { return c.gone; }) &&
          state->cut.load() == 0) {  // (the cut makes them stop: read it after they did)
        out.problem = at + "every child ended before the power cut";
        break;
      }
      if (clock_type::now() > deadline) {
        out.problem = at + "no power cut within 30 s (the children stopped syncing)";
        break;
      }
    }
    // The power is out: every process stops at once; then every acknowledgement
    // written before that is read.
    for (child& c : children) ::kill(c.pid, SIGKILL);
    for (child& c : children) ::waitpid(c.pid, nullptr, 0);
    while (std::any_of(children.begin(), children.end(), [](const child& c) { return !c.gone; })) {
      pump(children, std::chrono::milliseconds(5));
    }
    for (child& c : children) ::close(c.acks);
    for (int p = 0; p < processes; ++p) {
      highest[p] = std::max(lowest[p], children[p].acked) + 1;
      lowest[p] = std::max(lowest[p], children[p].acked);
    }
    for (const std::string& f : {path, path + "-log"}) cut_image(f, rng);
    ++out.rounds;
  }
  out.heap_syncs = state->heap_syncs.load();
  ::munmap(shared, sizeof(cut_state));
  return out;
}

std::string fresh_store() {
  char pattern[] = "/tmp/optimist-mpcut-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return "";
  return std::string(pattern) + "/ledger.store";
}

void create(const std::string& path) {
  durable::store store(path, cut_options());
  store.root<ledger>("ledger");
}

class MultiProcessPowerLoss : public ::testing::TestWithParam<int> {};

TEST_P(MultiProcessPowerLoss, RecoveredLedgerKeepsEveryAcknowledgedTransfer) {
  const std::string path = fresh_store();
  ASSERT_NO_THROW(create(path));
  outcome out = power_cuts(path, GetParam(), optimist::test::scaled(30), 0xc0ffee + GetParam());
  EXPECT_EQ(out.problem, "");
  EXPECT_GT(out.heap_syncs, 0) << "no checkpoint or recovery synced the heap: the cuts never "
                                  "landed among heap syncs";
  std::printf("%ld power cuts with %d processes; %ld heap syncs among them\n", out.rounds,
              GetParam(), out.heap_syncs);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

// Writing a commit into the shared heap before its record is durable (the
// children inherit the fault) must be caught: a cut between the two leaves
// heap words that no durable record explains.
TEST(MultiProcessPowerLossControl, NegativeControlWriteBackBeforeSyncIsCaught) {
  const std::string path = fresh_store();
  ASSERT_NO_THROW(create(path));
  durable::detail::g_faults.write_back_before_sync = true;
  outcome out = power_cuts(path, 2, 60, 0xfeed);  // stops at the first problem
  durable::detail::g_faults.write_back_before_sync = false;
  EXPECT_NE(out.problem, "") << "writing back before the sync went unnoticed in " << out.rounds
                             << " power cuts";
  std::printf("negative control caught after %ld cuts: %s\n", out.rounds, out.problem.c_str());
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

INSTANTIATE_TEST_SUITE_P(Processes, MultiProcessPowerLoss, ::testing::Values(2, 3));

}  // namespace

}  // namespace multiprocess_power_loss_test
