// The durable store's API: create, roots found after reopen, allocation
// undone on abort, durability options, and bad input (not a store, corrupted,
// truncated, type mismatch, read-only, disk full).
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "durable/file_io.hpp"
#include "durable/store_file.hpp"
#include "optimist/durable.hpp"
#include "optimist/optimist.hpp"
#include "support/child_process.hpp"

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace store_test {

namespace {

namespace durable = optimist::durable;
namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class DurableStore : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/optimist-durable-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  static durable::options small() {
    durable::options o;
    o.heap_size = 1 << 20;
    o.log_size = 64 << 10;
    return o;
  }
  std::string dir_;
};

struct counters {
  optimist::tvar<long> value[4];
  durable::ptr<long> extra;
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST_F(DurableStore, RootIsConstructedOnceAndFoundAfterReopen) {
  const std::string path = file("a.store");
  {
    durable::store s(path, small());
    counters& c = s.root<counters>("counters");
    EXPECT_EQ(c.value[0].get(), 0);
    optimist::atomically([&] {
      c.value[0] = 41;
      c.value[3] = c.value[0] + 1;
    });
    EXPECT_EQ(&s.root<counters>("counters"), &c);  // the same object, not a second one
  }
  {
    durable::store s(path, small());
    counters& c = s.root<counters>("counters");
    EXPECT_EQ(c.value[0].get(), 41);
    EXPECT_EQ(c.value[3].get(), 42);
    EXPECT_EQ(s.stats().recovered, 0u);  // closed cleanly: the log was empty
  }
}

TEST_F(DurableStore, RootConstructorArgumentsAndPlainLoadStore) {
  struct pair {
    long a, b;
    pair(long x, long y) : a(x), b(y) {}
  };
  const std::string path = file("b.store");
  {
    durable::store s(path, small());
    pair& p = s.root<pair>("pair", 3L, 4L);
    EXPECT_EQ(optimist::load(p.a), 3);
    optimist::store(p.b, 40L);  // outside a transaction: logged as a one-word transaction
  }
  durable::store s(path, small());
  pair& p = s.root<pair>("pair", 0L, 0L);  // found: the arguments are not used
  EXPECT_EQ(optimist::load(p.a), 3);
  EXPECT_EQ(optimist::load(p.b), 40);
}

TEST_F(DurableStore, AllocationIsUndoneWhenTheTransactionThrows) {
  const std::string path = file("c.store");
  durable::store s(path, small());
  counters& c = s.root<counters>("counters");
  durable::ptr<long> first = s.make<long>(7L);
  s.destroy(first);
  EXPECT_THROW(optimist::atomically([&] {
                 durable::ptr<long> p = s.make<long>(5L);
                 optimist::store(c.extra, p);
                 throw std::runtime_error("abandon");
               }),
               std::runtime_error);
  EXPECT_FALSE(optimist::load(c.extra));
  // The free list is as it was: the next allocation reuses the freed block.
  durable::ptr<long> again = s.make<long>(9L);
  EXPECT_EQ(again, first);
  EXPECT_EQ(*s.resolve(again), 9);
  EXPECT_THROW(s.destroy(durable::ptr<long>(again.offset() + 8)), std::invalid_argument);
  s.destroy(again);
  EXPECT_THROW(s.destroy(again), std::logic_error);
}

TEST_F(DurableStore, CommitsSurviveWithoutCleanClose) {
  // A child commits and exits without closing (no checkpoint): the next open
  // replays the log.
  const std::string path = file("d.store");
  { durable::store s(path, small()); }
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::alarm(60);                                  // a hang must end the child, not the shard
    auto* s = new durable::store(path, small());  // never destroyed
    counters& c = s->root<counters>("counters");
    for (int i = 0; i < 50; ++i) optimist::atomically([&] { c.value[1] = c.value[1] + 1; });
    std::_Exit(0);
  }
  const std::optional<int> status = optimist::test::wait_for_child(child);
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  durable::store s(path, small());
  EXPECT_EQ(s.root<counters>("counters").value[1].get(), 50);
  EXPECT_GT(s.stats().recovered, 0u);
}

TEST_F(DurableStore, LogFillsAndCheckpoints) {
  for (durable::durability mode : {durable::durability::full, durable::durability::relaxed}) {
    const std::string path = file(mode == durable::durability::full ? "e.store" : "f.store");
    durable::options o = small();
    o.log_size = 8 << 10;  // 73 one-word records per epoch
    o.mode = mode;
    {
      durable::store s(path, o);
      counters& c = s.root<counters>("counters");
      for (int i = 0; i < 200; ++i) optimist::atomically([&] { c.value[2] = c.value[2] + 1; });
      EXPECT_GE(s.stats().checkpoints, 2u);
      EXPECT_EQ(c.value[2].get(), 200);
    }
    durable::store s(path, o);
    EXPECT_EQ(s.root<counters>("counters").value[2].get(), 200);
  }
}

class DurableThreads : public ::testing::TestWithParam<int> {};

TEST_P(DurableThreads, GroupCommitKeepsEveryIncrement) {
  char pattern[] = "/tmp/optimist-durable-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string path = std::string(pattern) + "/g.store";
  for (durable::durability mode : {durable::durability::full, durable::durability::relaxed}) {
    const int threads = GetParam();
    const int each = 100;
    {
      durable::options o;
      o.heap_size = 1 << 20;
      o.log_size = 32 << 10;
      o.mode = mode;
      durable::store s(path, o);
      counters& c = s.root<counters>("counters");
      std::vector<std::thread> workers;
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
          for (int i = 0; i < each; ++i) {
            optimist::atomically([&] {
              c.value[0] = c.value[0] + 1;
              c.value[1 + t % 3] = c.value[1 + t % 3] + 1;
            });
          }
        });
      }
      for (auto& w : workers) w.join();
    }
    durable::store s(path);
    counters& c = s.root<counters>("counters");
    EXPECT_EQ(c.value[0].get() % (threads * each), 0);
    EXPECT_EQ(c.value[1].get() + c.value[2].get() + c.value[3].get(), c.value[0].get());
  }
  fs::remove_all(pattern);
}

INSTANTIATE_TEST_SUITE_P(Threads, DurableThreads, ::testing::Values(1, 2, 4));

// ---- bad input ------------------------------------------------------------

TEST_F(DurableStore, NotAStoreIsRefusedAndLeftUntouched) {
  const std::string path = file("notes.txt");
  { std::ofstream(path) << "my precious notes\n"; }
  std::string m = message_of([&] { durable::store s(path, small()); });
  EXPECT_NE(m.find("is not an optimist durable store"), std::string::npos) << m;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "my precious notes");
  EXPECT_FALSE(fs::exists(path + "-log"));
  // A user file where the log would go is never overwritten either.
  const std::string other = file("x.store");
  { std::ofstream(other + "-log") << "mine"; }
  m = message_of([&] { durable::store s(other, small()); });
  EXPECT_NE(m.find("is not an optimist store log"), std::string::npos) << m;
  EXPECT_EQ(fs::file_size(other + "-log"), 4u);
  EXPECT_FALSE(fs::exists(other));
}

TEST_F(DurableStore, TruncatedCorruptedAndForeignFilesAreRefused) {
  const std::string path = file("t.store");
  { durable::store s(path, small()); }
  const auto heap_bytes = fs::file_size(path);
  fs::resize_file(path, heap_bytes - 4096);
  std::string m = message_of([&] { durable::store s(path, small()); });
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
  fs::resize_file(path, heap_bytes);

  {  // flip a byte of the header
    int fd = ::open(path.c_str(), O_RDWR);
    char b = 0;
    ASSERT_EQ(::pread(fd, &b, 1, 20), 1);
    b ^= 0x10;
    ASSERT_EQ(::pwrite(fd, &b, 1, 20), 1);
    ::close(fd);
  }
  m = message_of([&] { durable::store s(path, small()); });
  EXPECT_NE(m.find("header is corrupted"), std::string::npos) << m;

  const std::string second = file("u.store");
  { durable::store s(second, small()); }
  fs::copy_file(second + "-log", path + "-log", fs::copy_options::overwrite_existing);
  fs::remove(path);
  { durable::store s(file("t2.store"), small()); }
  fs::rename(file("t2.store"), path);
  m = message_of([&] { durable::store s(path, small()); });
  EXPECT_NE(m.find("belongs to another store"), std::string::npos) << m;

  fs::remove(second + "-log");
  m = message_of([&] { durable::store s(second, small()); });
  EXPECT_NE(m.find("redo log is missing"), std::string::npos) << m;
}

// A header with a valid checksum (it is no signature) but sizes no creation
// writes: a heap too small for the root table and allocator pages (accessed
// past the mapping), a log too small for a page of records (every commit
// checkpointed for ever). Refused with a clear error, files untouched.
TEST_F(DurableStore, HeaderSizesNoStoreHasAreRefused) {
  namespace dd = optimist::durable::detail;
  struct sizes {
    std::uint64_t heap, log;
  };
  for (sizes bad : {sizes{2 * dd::page_size, 64 << 10}, sizes{1 << 20, dd::page_size},
                    sizes{(1 << 20) + 8, 64 << 10}}) {
    const std::string path = file("sizes.store");
    { durable::store s(path, small()); }
    int fd = ::open(path.c_str(), O_RDWR);
    dd::store_header h{};
    ASSERT_EQ(::pread(fd, &h, sizeof h, 0), static_cast<ssize_t>(sizeof h));
    h.heap_size = bad.heap;
    h.log_size = bad.log;
    h.checksum = dd::header_checksum(h);
    ASSERT_EQ(::pwrite(fd, &h, sizeof h, 0), static_cast<ssize_t>(sizeof h));
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(bad.heap)), 0);  // the file agrees
    ::close(fd);
    fd = ::open((path + "-log").c_str(), O_RDWR);
    dd::log_header lh{};
    ASSERT_EQ(::pread(fd, &lh, sizeof lh, 0), static_cast<ssize_t>(sizeof lh));
    lh.log_size = bad.log;
    lh.checksum = dd::header_checksum(lh);
    ASSERT_EQ(dd::write_log_header(fd, lh), 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(bad.log)), 0);
    ::close(fd);
    const std::string m = message_of([&] { durable::store s(path, small()); });
    EXPECT_NE(m.find("sizes no store has"), std::string::npos)
        << "heap " << bad.heap << ", log " << bad.log << ": " << m;
    EXPECT_EQ(fs::file_size(path), bad.heap) << "the refused file was modified";
    fs::remove(path);
    fs::remove(path + "-log");
  }
}

// The heap's own words (no checksum covers them) that the allocator and the
// root table follow: a bump near 2^64 wrapped the fullness test, a free head
// was read and written at any offset, a root's offset was returned as a
// reference. Each is refused with a store_error naming the corruption.
TEST_F(DurableStore, CorruptedAllocatorWordsAndRootsAreRefused) {
  namespace dd = optimist::durable::detail;
  struct item {
    optimist::tvar<long> v;
  };
  auto poke = [](const std::string& at, std::uint64_t offset, std::uint64_t value) {
    int fd = ::open(at.c_str(), O_RDWR);
    ASSERT_EQ(::pwrite(fd, &value, sizeof value, static_cast<off_t>(offset)), 8);
    ::close(fd);
  };
  const std::uint64_t bump_at = dd::allocator_offset + offsetof(dd::allocator_state, bump);
  const std::uint64_t first_head_at =
      dd::allocator_offset + offsetof(dd::allocator_state, free_heads);
  const std::uint64_t root_offset_at = dd::roots_offset + offsetof(dd::root_entry, offset);
  struct corruption {
    std::uint64_t at;
    std::uint64_t value;
    const char* expected;
  };
  for (corruption c : {corruption{bump_at, ~std::uint64_t{0} - 15, "allocator state"},
                       corruption{bump_at, 8, "allocator state"},
                       // every size class's head: the first make's class is one of them
                       corruption{first_head_at, 1 << 30, "allocator state"},
                       corruption{first_head_at, dd::data_offset + 16, "allocator state"},
                       corruption{root_offset_at, std::uint64_t{1} << 40, "is corrupted"}}) {
    const std::string path = file("corrupt.store");
    {
      durable::store s(path, small());
      s.root<counters>("c");  // root 0
    }
    if (c.at == first_head_at) {
      for (std::size_t cls = 0; cls < dd::size_classes; ++cls) poke(path, c.at + 8 * cls, c.value);
    } else {
      poke(path, c.at, c.value);
    }
    const std::string m = message_of([&] {
      durable::store s(path, small());
      s.root<counters>("c");
      s.make<item>();
    });
    EXPECT_NE(m.find(c.expected), std::string::npos)
        << "word at " << c.at << " = " << c.value << ": " << m;
    fs::remove(path);
    fs::remove(path + "-log");
  }
}

TEST_F(DurableStore, CorruptedRecordStopsReplayAtTheValidPrefix) {
  const std::string path = file("r.store");
  { durable::store s(path, small()); }
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::alarm(60);
    auto* s = new durable::store(path, small());
    counters& c = s->root<counters>("counters");
    for (int i = 0; i < 10; ++i) optimist::atomically([&] { c.value[0] = c.value[0] + 1; });
    std::_Exit(0);
  }
  const std::optional<int> status = optimist::test::wait_for_child(child);
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  // Records: the root's creation, then 10 increments of one word (56 bytes
  // each). Corrupt one byte of the 6th increment's value.
  const auto log_bytes = fs::file_size(path + "-log");
  std::vector<unsigned char> log(log_bytes);
  {
    std::ifstream in(path + "-log", std::ios::binary);
    in.read(reinterpret_cast<char*>(log.data()), static_cast<std::streamsize>(log.size()));
  }
  std::size_t at = 4096;
  std::vector<std::size_t> starts;
  while (true) {
    std::uint32_t magic, count;
    std::memcpy(&magic, &log[at], 4);
    std::memcpy(&count, &log[at + 4], 4);
    if (magic != 0x52444f4f) break;
    starts.push_back(at);
    at += 32 + 24 * count;
  }
  ASSERT_GE(starts.size(), 11u);
  std::size_t victim = starts[starts.size() - 5] + 32 + 8;  // value of the 6th increment
  log[victim] ^= 0xFF;
  {
    std::ofstream out(path + "-log", std::ios::binary | std::ios::in);
    out.write(reinterpret_cast<char*>(log.data()), static_cast<std::streamsize>(log.size()));
  }
  durable::store s(path, small());
  EXPECT_EQ(s.root<counters>("counters").value[0].get(), 5);  // records after the bad one dropped
}

TEST_F(DurableStore, TypeMismatchIsRefused) {
  const std::string path = file("m.store");
  durable::store s(path, small());
  s.root<counters>("counters");
  std::string m = message_of([&] { s.root<long>("counters"); });
  EXPECT_NE(m.find("root 'counters' holds another type"), std::string::npos) << m;
  m = message_of([&] { s.root<long>(std::string(60, 'x')); });
  EXPECT_NE(m.find("must have 1 to 39 bytes"), std::string::npos) << m;
}

TEST_F(DurableStore, ReadOnlyFileIsRefused) {
  const std::string path = file("ro.store");
  { durable::store s(path, small()); }
  fs::permissions(path, fs::perms::owner_read);
  int fd = -1;
  if (::geteuid() == 0) {
    // Root ignores permissions, but not the immutable attribute (where the
    // file system has one).
    fd = ::open(path.c_str(), O_RDONLY);
    int flags = 0;
    if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0 ||
        (flags |= FS_IMMUTABLE_FL, ::ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0)) {
      ::close(fd);
      GTEST_SKIP() << "running as root on a file system without the immutable attribute";
    }
  }
  std::string m = message_of([&] { durable::store s(path, small()); });
  EXPECT_NE(m.find("cannot be opened for writing"), std::string::npos) << m;
  if (fd >= 0) {
    int flags = 0;
    ::ioctl(fd, FS_IOC_GETFLAGS, &flags);
    flags &= ~FS_IMMUTABLE_FL;
    ::ioctl(fd, FS_IOC_SETFLAGS, &flags);
    ::close(fd);
  }
}

TEST_F(DurableStore, ConstructorsMayAssignTvarMembers) {
  struct initialised {
    initialised() {
      for (int i = 0; i < 8; ++i) value[i] = 100 + i;  // transactional writes
    }
    optimist::tvar<long> value[8];
    long plain = 7;
  };
  const std::string path = file("ctor.store");
  {
    durable::store s(path, small());
    initialised& root = s.root<initialised>("root");
    EXPECT_EQ(root.value[3].get(), 103);
    durable::ptr<initialised> p = s.make<initialised>();
    EXPECT_EQ(s.resolve(p)->value[7].get(), 107);
    EXPECT_EQ(optimist::load(s.resolve(p)->plain), 7);
  }
  durable::store s(path, small());
  initialised& root = s.root<initialised>("root");
  EXPECT_EQ(root.value[0].get(), 100);
  EXPECT_EQ(optimist::load(root.plain), 7);
}

TEST_F(DurableStore, SecondOpenIsRefused) {
  const std::string path = file("lock.store");
  durable::store s(path, small());
  std::string m = message_of([&] { durable::store again(path, small()); });
  EXPECT_NE(m.find("is open already"), std::string::npos) << m;
}

// A store destroyed inside the transaction that writes it closes when that transaction commits:
// the write is durable and the store opens again. (The destructor used to unmap the heap before
// the commit wrote it back: a crash.) If the transaction aborts, the store stays open until the
// process ends and the aborted write is nowhere.
TEST_F(DurableStore, DestroyedInsideATransactionClosesWhenItCommits) {
  const std::string path = file("closed-in-block.store");
  auto* s = new durable::store(path, small());
  optimist::tvar<long>& t = s->root<optimist::tvar<long>>("t");
  testing::internal::CaptureStderr();
  optimist::atomically([&] {
    t.set(7);
    delete s;
    t.set(t.get() + 1);  // still mapped until the commit
  });
  const std::string diagnostic = testing::internal::GetCapturedStderr();
  EXPECT_NE(diagnostic.find("was destroyed inside a transaction; it closes when the transaction "
                            "commits"),
            std::string::npos)
      << diagnostic;
  {
    durable::store again(path, small());  // the lock was released: closed
    EXPECT_EQ(again.root<optimist::tvar<long>>("t").get(), 8);
  }

  // The aborted case leaves its store open until the process ends: in a child process of its
  // own, so that no later test of this binary runs beside an open store.
  const std::string aborted_path = file("aborted-close.store");
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto* doomed = new durable::store(aborted_path, small());
        optimist::tvar<long>& u = doomed->root<optimist::tvar<long>>("u");
        u.set(1);
        bool threw = false;
        try {
          optimist::atomically([&] {
            u.set(2);
            delete doomed;
            throw std::runtime_error("abort after the close");
          });
        } catch (const std::runtime_error&) {
          threw = true;
        }
        const long still = u.get();  // still open (and mapped), the aborted write rolled back
        const std::string m = message_of([&] { durable::store again(aborted_path, small()); });
        const bool locked = m.find("is open already") != std::string::npos;
        std::fprintf(stderr, "threw=%d u=%ld locked=%d\n", threw, still, locked);
        std::exit(threw && still == 1 && locked ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "threw=1 u=1 locked=1");
}

TEST_F(DurableStore, EmptyPathIsRefusedAndCreatesNothing) {
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  const std::string m = message_of([&] { durable::store s("", small()); });
  fs::current_path(cwd);
  EXPECT_NE(m.find("the path is empty"), std::string::npos) << m;
  EXPECT_TRUE(fs::is_empty(dir_)) << "a failed open left a file behind";
}

TEST_F(DurableStore, HeapFullIsAnExceptionAndNothingIsHalfApplied) {
  const std::string path = file("full.store");
  durable::options o = small();
  o.heap_size = 128 << 10;
  durable::store s(path, o);
  counters& c = s.root<counters>("counters");
  std::string m = message_of([&] {
    optimist::atomically([&] {
      c.value[0] = 1;
      for (;;) s.make<std::array<char, 4000>>();
    });
  });
  EXPECT_NE(m.find("the heap is full"), std::string::npos) << m;
  EXPECT_EQ(c.value[0].get(), 0);
  s.make<long>(1L);  // the allocator state was rolled back: room again
}

// Fails the chosen operation with an errno value, as a full disk would.
class failing_io : public durable::detail::file_io {
 public:
  int fail_write_after = -1;  // writes that succeed before the failure
  int fail_sync_after = -1;
  int error = ENOSPC;
  int write_at(int fd, const void* d, std::size_t n, std::uint64_t off) override {
    if (fail_write_after >= 0 && fail_write_after-- == 0) return error;
    return file_io::write_at(fd, d, n, off);
  }
  int sync(int fd) override {
    if (fail_sync_after >= 0 && fail_sync_after-- == 0) return error;
    return file_io::sync(fd);
  }
};

TEST_F(DurableStore, DiskFullAtCreationLeavesNothingBehind) {
  failing_io io;
  io.fail_write_after = 0;
  durable::detail::set_file_io_for_testing(&io);
  std::string m = message_of([&] { durable::store s(file("n.store"), small()); });
  durable::detail::set_file_io_for_testing(nullptr);
  EXPECT_NE(m.find("cannot preallocate the heap file"), std::string::npos) << m;
  EXPECT_NE(m.find("No space left on device"), std::string::npos) << m;
  EXPECT_FALSE(fs::exists(file("n.store")));
  EXPECT_FALSE(fs::exists(file("n.store.creating")));
}

// A `.creating` file left by a creation that crashed is replaced (creations take turns under a
// lock of the directory, INVARIANT one-creator, so none is running). Before, every later open
// failed with "exists (left by an interrupted creation?); remove it".
TEST_F(DurableStore, CreationReplacesWhatACrashedCreationLeft) {
  const std::string path = file("c.store");
  { std::ofstream(path + ".creating") << "half a heap"; }
  {
    durable::store s(path, small());
    counters& c = s.root<counters>("counters");
    optimist::atomically([&] { c.value[0] = 7; });
  }
  EXPECT_FALSE(fs::exists(path + ".creating"));
  durable::store s(path, small());
  EXPECT_EQ(optimist::atomically([&] { return s.root<counters>("counters").value[0].get(); }), 7);
}

// Processes that open (and so create) a missing store at the same moment share one store:
// every process's commit is in it. Before, the second creator truncated the log the first one
// was committing into and renamed a fresh heap over it (commits lost), or failed with
// "`.creating` exists ... remove it" while the first one was still creating.
TEST_F(DurableStore, ConcurrentCreatorsShareOneStore) {
  constexpr int processes = 4;
  for (int round = 0; round < 8; ++round) {
    const std::string path = file("race" + std::to_string(round) + ".store");
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    std::vector<pid_t> children;
    std::fflush(nullptr);
    for (int p = 0; p < processes; ++p) {
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::alarm(60);
        ::close(go[1]);
        char byte;
        while (::read(go[0], &byte, 1) < 0 && errno == EINTR) {
        }
        try {
          // One process at a time has a single-process store open: wait for the lock.
          for (;;) {
            try {
              durable::store s(path, small());
              counters& c = s.root<counters>("counters");
              optimist::atomically([&] { c.value[0] = c.value[0].get() + 1; });
              break;
            } catch (const durable::store_error& e) {
              if (std::string(e.what()).find("open already") == std::string::npos) throw;
              ::usleep(1000);
            }
          }
          std::_Exit(0);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "creator %d: %s\n", p, e.what());
          std::_Exit(2);
        }
      }
      children.push_back(pid);
    }
    ::close(go[0]);
    ::close(go[1]);  // every child starts at once
    for (const pid_t pid : children) {
      const std::optional<int> status = optimist::test::wait_for_child(pid);
      EXPECT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
          << "status " << status.value_or(-1);
    }
    durable::store s(path, small());
    EXPECT_EQ(optimist::atomically([&] { return s.root<counters>("counters").value[0].get(); }),
              processes)
        << "round " << round;
  }
}

TEST_F(DurableStore, FailedSyncRollsBackAndStopsTheStore) {
  const std::string path = file("s.store");
  failing_io io;
  {
    durable::store s(path, small());
    counters& c = s.root<counters>("counters");
    optimist::atomically([&] { c.value[0] = 1; });
    io.fail_sync_after = 0;
    durable::detail::set_file_io_for_testing(&io);
    std::string m = message_of([&] { optimist::atomically([&] { c.value[0] = 2; }); });
    EXPECT_NE(m.find("cannot sync the log"), std::string::npos) << m;
    EXPECT_EQ(c.value[0].get(), 1);  // not written back
    m = message_of([&] { optimist::atomically([&] { c.value[1] = 3; }); });
    EXPECT_NE(m.find("refuses commits after an I/O failure"), std::string::npos) << m;
    durable::detail::set_file_io_for_testing(nullptr);
  }
  durable::store s(path, small());
  counters& c = s.root<counters>("counters");
  // The failed commit's record may or may not have reached the disk: all of
  // it or none, never half.
  EXPECT_TRUE(c.value[0].get() == 1 || c.value[0].get() == 2);
  EXPECT_EQ(c.value[1].get(), 0);
}

}  // namespace

}  // namespace store_test
