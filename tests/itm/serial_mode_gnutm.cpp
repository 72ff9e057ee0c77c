// tests/itm/serial_mode_gnutm.cpp — -fgnu-tm transactions in OPTIMIST_MODE's serial execution
// (runtime/itm/itm_abi.cpp, start_attempt). Built with -fgnu-tm -g and linked with optimist_itm.
//
// Whether an attempt runs serially is seen from inside it: a transaction_pure function reads a
// word the attempt has just written with a plain load. A serial attempt writes in place (it sees
// the new value); a speculative one buffers the write (it sees the old one).
//
// 1. Give-way, in a child process whose main thread runs no transaction, in the mode ctest
//    gives (auto when unset; skipped in serial mode, where a transaction that waits for
//    another one waits for ever, as under one lock). Thread A alone writes `g_a` and then waits
//    (pure) until thread B's transaction has committed; B's transaction reads `g_a`. In auto
//    mode A runs serially (alone), B claims it at the gate, A's write is undone before B reads
//    (B must see 0), and A runs again after B and sees B's write. Without give-way the child
//    hangs (an alarm fails it); without the claimant's undo B reads A's uncommitted 1. In stm
//    and htm mode A runs speculatively once, and the same results hold.
// 2. OPTIMIST_MODE=serial, in a child process: __transaction_cancel after in-place writes of
//    8-, 4-, 2- and 1-byte fields restores every byte (the neighbours of a sub-word write too);
//    transfers at 1, 2 and 4 threads conserve the total; the text report (OPTIMIST_REPORT) counts
//    the serial blocks.
// OPTIMIST_STRESS (a positive integer) multiplies the transfers.
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

namespace {

__attribute__((transaction_pure)) long plain_load(const long* p) {
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}

// ---- 1. give-way --------------------------------------------------------------------------

long g_a = 0, g_b = 0, g_result = 0, g_b_saw_a = -1;
long g_a_in_place = -1;  // the first attempt's plain load of g_a after writing it
int g_a_attempts = 0, g_a_waiting = 0, g_b_done = 0;

__attribute__((transaction_pure)) void note_first_attempt(long in_place) {
  if (__atomic_fetch_add(&g_a_attempts, 1, __ATOMIC_SEQ_CST) != 0) return;
  g_a_in_place = in_place;
  __atomic_store_n(&g_a_waiting, 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(&g_b_done, __ATOMIC_SEQ_CST) == 0) sched_yield();
}

void give_way(bool expect_serial) {
  std::thread a([] {
    __transaction_atomic {
      g_a = 1;
      note_first_attempt(plain_load(&g_a));
      g_result = g_a + g_b;
    }
  });
  std::thread b([] {
    while (__atomic_load_n(&g_a_waiting, __ATOMIC_SEQ_CST) == 0) sched_yield();
    __transaction_atomic {
      g_b_saw_a = g_a;
      g_b = 10;
    }
    __atomic_store_n(&g_b_done, 1, __ATOMIC_SEQ_CST);
  });
  a.join();
  b.join();
  check(g_a_in_place == (expect_serial ? 1 : 0),
        std::string("A's first attempt ran ") + (g_a_in_place == 1 ? "serially" : "speculatively") +
            ", expected " + (expect_serial ? "serially (alone, auto mode)" : "speculatively"));
  check(g_b_saw_a == 0, "B read A's uncommitted write: g_a = " + std::to_string(g_b_saw_a));
  check(g_result == 11, "A's result " + std::to_string(g_result) + ", expected 11 (after B)");
  check(g_a == 1 && g_b == 10, "g_a " + std::to_string(g_a) + ", g_b " + std::to_string(g_b));
  const int attempts = __atomic_load_n(&g_a_attempts, __ATOMIC_SEQ_CST);
  check(attempts == (expect_serial ? 2 : 1),
        "A ran " + std::to_string(attempts) + " attempts, expected " +
            (expect_serial ? "2 (given way, then after B)" : "1"));
}

// ---- 2. serial mode -----------------------------------------------------------------------

struct fields {
  long whole;
  std::int32_t four;
  std::int16_t two;
  std::int8_t one;
  std::int8_t neighbour;
};
fields g_fields = {100, 200, 300, 40, 50};
long g_seen_in_place = -1;  // written by a pure function: the cancel does not undo it

__attribute__((transaction_pure)) long note_in_place(const long* p) {
  g_seen_in_place = __atomic_load_n(p, __ATOMIC_RELAXED);
  return g_seen_in_place;
}

void cancel_restores_every_byte() {
  fields before;
  std::memcpy(&before, &g_fields, sizeof before);
  __transaction_atomic {
    g_fields.whole = 1;
    g_fields.four = 2;
    g_fields.two = 3;
    g_fields.one = 4;
    if (note_in_place(&g_fields.whole) >= 0) __transaction_cancel;
    g_fields.neighbour = 9;  // (never reached)
  }
  check(g_seen_in_place == 1, "serial mode: the write was not in place (plain load saw " +
                                  std::to_string(g_seen_in_place) + ")");
  check(std::memcmp(&before, &g_fields, sizeof before) == 0,
        "serial mode: __transaction_cancel left g_fields at {" + std::to_string(g_fields.whole) +
            ", " + std::to_string(g_fields.four) + ", " + std::to_string(g_fields.two) + ", " +
            std::to_string(g_fields.one) + ", " + std::to_string(g_fields.neighbour) + "}");
}

constexpr int account_count = 16;
long g_accounts[account_count];

constexpr int transfer_line = __LINE__ + 2;  // the transaction's line
__attribute__((noinline)) void transfer(int from, int to, long amount) {
  __transaction_atomic {
    if (g_accounts[from] >= amount) {
      g_accounts[from] -= amount;
      g_accounts[to] += amount;
    }
  }
}

long transfers(int threads) {
  return check_transfers(g_accounts, account_count, threads, 20000 * stress_scale(), "serial mode",
                         [](int from, int to, long amount, long) { transfer(from, to, amount); });
}

void serial_mode(const std::string& report) {
  // The report is read at the process's first transaction: set both before it.
  setenv("OPTIMIST_MODE", "serial", 1);
  setenv("OPTIMIST_REPORT", report.c_str(), 1);
  in_child("serial mode", [] {
    cancel_restores_every_byte();
    long blocks = 1;  // the cancelled one: it ran serially too
    for (int threads : {1, 2, 4}) blocks += transfers(threads);
    std::printf("serial mode: %ld transactions\n", blocks);
  });
  unsetenv("OPTIMIST_REPORT");
  std::ifstream in(report);
  std::stringstream text;
  text << in.rdbuf();
  const std::string report_text = text.str();
  const std::size_t section = report_text.find("blocks ran serially");
  check(section != std::string::npos,
        "the serial-mode report has no serial section:\n" + report_text);
  // Its lines name the blocks' sites, symbolized: this file, at the transfer's line.
  const std::string site = "serial_mode_gnutm.cpp:" + std::to_string(transfer_line);
  check(section != std::string::npos && report_text.find(site, section) != std::string::npos,
        "the serial section does not name " + site + ":\n" + report_text);
  std::remove(report.c_str());
}

}  // namespace

int main() {
  const char* mode_env = std::getenv("OPTIMIST_MODE");
  const std::string mode = mode_env != nullptr ? mode_env : "auto";
  if (mode == "serial") {
    std::printf("give-way: skipped in serial mode (blocks wait for each other as under a lock)\n");
  } else {
    in_child("give-way", [&] { give_way(mode == "auto"); });
  }
  char dir[] = "/tmp/optimist_itm_serial_XXXXXX";
  if (mkdtemp(dir) == nullptr) return 2;
  serial_mode(std::string(dir) + "/report.txt");
  rmdir(dir);
  std::printf("itm serial: %s\n", g_failed == 0 ? "all checks passed" : "FAILED");
  return g_failed == 0 ? 0 : 1;
}
