// tests/itm/planted_conflict_gnutm.cpp — an unchanged -fgnu-tm program on liboptimist_itm.so
// (issue 15, item 2). Built with -fgnu-tm -g and linked with optimist_itm instead of libitm.
//
// 1. Transfers in __transaction_atomic at 1, 2 and 4 threads conserve the total, and
//    _ITM_inTransaction reports a retryable transaction inside one.
// 2. A planted conflict, run in a child process with OPTIMIST_REPORT=<dir>/report.json: the
//    reader's transaction reads `g_shared` (READ line), waits (in a transaction_pure function)
//    until the writer's transaction has written it (WRITE line) and committed, then writes, so
//    its commit fails validation. The JSON report must name this file at both lines. The
//    reader runs its transaction once before, so that the read that conflicts finds its site in
//    the thread's site cache and takes the read fast path (runtime/itm/itm_sites.hpp); both
//    sites are symbolized only when the report is written. Between the reader's first access
//    and the conflict, the writer runs a transaction with 640 more access sites, so that
//    liboptimist_itm's set of site records grows past its first size (512): the reader's
//    record must still be found there (else the report names the block's line instead).
// OPTIMIST_STRESS (a positive integer) multiplies the transfers.
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

extern "C" int _ITM_inTransaction();

namespace {

// ---- 1. transfers ---------------------------------------------------------------------------

constexpr int account_count = 16;
long g_accounts[account_count];

void transfers(int threads) {
  check_transfers(g_accounts, account_count, threads, 20000 * stress_scale(), "transfers",
                  [](int from, int to, long amount, long) {
                    __transaction_atomic {
                      if (g_accounts[from] >= amount) {
                        g_accounts[from] -= amount;
                        g_accounts[to] += amount;
                      }
                    }
                  });
}

__attribute__((transaction_pure)) int in_transaction_now() {
  return _ITM_inTransaction();
}

// ---- 2. the planted conflict ------------------------------------------------------------------

long g_shared = 0, g_result = 0;
int g_reader_ready = 0, g_writer_done = 0, g_reader_attempts = 0;  // GCC atomic builtins
int g_read_line = 0, g_write_line = 0;

// Pure: not instrumented, allowed in an atomic transaction. Waits in the second attempt only
// (the first attempt of the second round).
__attribute__((transaction_pure)) void wait_for_writer_once() {
  if (__atomic_fetch_add(&g_reader_attempts, 1, __ATOMIC_SEQ_CST) != 1) return;
  __atomic_store_n(&g_reader_ready, 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(&g_writer_done, __ATOMIC_SEQ_CST) == 0) sched_yield();
}

void reader_body() {
  g_read_line = __LINE__ + 3;
  for (int round = 0; round < 2; ++round) {  // round 0 fills the thread's site cache
    __transaction_atomic {
      long seen = g_shared;
      wait_for_writer_once();
      g_result = seen + 1;  // a writer: its commit validates the read
    }
  }
}

}  // namespace

// 640 reads, each its own call of _ITM_RU8: 640 return addresses, 640 site records. (External
// linkage: in the anonymous namespace GCC would see that nothing writes it and fold the reads.)
long g_many_sites_words[640];

namespace {

#define OPTIMIST_READ_1(n) sum += g_many_sites_words[n];
#define OPTIMIST_READ_4(n) \
  OPTIMIST_READ_1(n) OPTIMIST_READ_1(n + 1) OPTIMIST_READ_1(n + 2) OPTIMIST_READ_1(n + 3)
#define OPTIMIST_READ_16(n) \
  OPTIMIST_READ_4(n) OPTIMIST_READ_4(n + 4) OPTIMIST_READ_4(n + 8) OPTIMIST_READ_4(n + 12)
#define OPTIMIST_READ_64(n) \
  OPTIMIST_READ_16(n) OPTIMIST_READ_16(n + 16) OPTIMIST_READ_16(n + 32) OPTIMIST_READ_16(n + 48)
#define OPTIMIST_READ_320(n) \
  OPTIMIST_READ_64(n)        \
  OPTIMIST_READ_64(n + 64)   \
  OPTIMIST_READ_64(n + 128) OPTIMIST_READ_64(n + 192) OPTIMIST_READ_64(n + 256)

long many_sites() {
  long sum = 0;
  __transaction_atomic {
    OPTIMIST_READ_320(0)
    OPTIMIST_READ_320(320)
  }
  return sum;
}

void writer_body() {
  while (__atomic_load_n(&g_reader_ready, __ATOMIC_SEQ_CST) == 0) sched_yield();
  if (many_sites() != 0) return;  // (never: the words hold zeros)
  g_write_line = __LINE__ + 2;
  __transaction_atomic {
    g_shared = 41;
  }
  __atomic_store_n(&g_writer_done, 1, __ATOMIC_SEQ_CST);
}

void planted_conflict(const std::string& dir) {
  const std::string target = dir + "/report.json";
  int lines[2] = {-1, -1};
  int fds[2];
  if (pipe(fds) != 0) std::exit(2);
  const pid_t child = fork();
  if (child < 0) std::exit(2);
  if (child == 0) {
    close(fds[0]);
    setenv("OPTIMIST_REPORT", target.c_str(), 1);
    // Conflicts are a property of speculation: serial mode runs every transaction alone (and
    // the reader, which waits for the writer inside its transaction, would wait for ever, as
    // under one lock). Auto mode runs speculatively while a report is recorded.
    const char* mode = std::getenv("OPTIMIST_MODE");
    if (mode != nullptr && std::strcmp(mode, "serial") == 0) setenv("OPTIMIST_MODE", "auto", 1);
    std::thread reader(reader_body), writer(writer_body);
    reader.join();
    writer.join();
    lines[0] = g_read_line;
    lines[1] = g_write_line;
    if (write(fds[1], lines, sizeof lines) != static_cast<ssize_t>(sizeof lines)) _exit(2);
    std::exit(g_shared == 41 && g_result == 42 && g_reader_attempts == 3 ? 0 : 3);
  }
  close(fds[1]);
  if (read(fds[0], lines, sizeof lines) != static_cast<ssize_t>(sizeof lines)) lines[0] = -1;
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "the conflict child failed (status " + std::to_string(status) + ")");
  std::ifstream in(target);
  std::stringstream json;
  json << in.rdbuf();
  const std::string text = json.str();
  for (int i = 0; i < 2; ++i) {
    const std::string site =
        "planted_conflict_gnutm.cpp\", \"line\": " + std::to_string(lines[i]) + ",";
    check(text.find(site) != std::string::npos,
          (i == 0 ? "the read's site " : "the write's site ") + site + " is not in:\n" + text);
  }
  check(text.find("\"aborted_site\"") != std::string::npos, "no conflict in:\n" + text);
  std::remove(target.c_str());
}

int g_inside = -1;

}  // namespace

int main() {
  // First: the child must be the process's first transaction (OPTIMIST_REPORT is read then).
  char dir[] = "/tmp/optimist_itm_XXXXXX";
  if (mkdtemp(dir) == nullptr) return 2;
  planted_conflict(dir);
  rmdir(dir);
  __transaction_atomic {
    g_inside = in_transaction_now();
  }  // a global: the block stays
  check(g_inside == 1, "_ITM_inTransaction inside a transaction gave " + std::to_string(g_inside));
  check(_ITM_inTransaction() == 0, "_ITM_inTransaction outside a transaction");
  for (int threads : {1, 2, 4}) transfers(threads);
  std::printf("itm: %s\n", g_failed == 0 ? "all checks passed" : "FAILED");
  return g_failed == 0 ? 0 : 1;
}
