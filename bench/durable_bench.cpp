// bench/durable_bench.cpp — durable transfers: optimist's persistent heap
// against LMDB and SQLite (WAL, synchronous=FULL and NORMAL), in one run.
//
//   probe           half a second of 512-byte pwrite + fdatasync on a preallocated file, run
//                   just before each durable row: how many syncs this disk allows per second.
//                   Every durable row is also given as commits per possible sync (commits/s /
//                   probe syncs/s).
//   optimist_full   optimist::atomically on a durable::store (durability::full): a transfer
//                   between two of 1024 accounts (tvar<long>) is durable when it returns.
//   optimist_relaxed  the same with durability::relaxed (log synced every 20 ms).
//   optimist_memory   the same transfers on ordinary memory (no store): the STM alone.
//   lmdb            one write transaction per transfer (mdb_get x2, mdb_put x2, commit: sync).
//   sqlite_full / sqlite_normal   WAL journal, BEGIN IMMEDIATE; two UPDATEs; COMMIT; one
//                   connection per thread.
// Each model runs at 1 and 2 threads (optimist_full also at 4) for --seconds (default 1) and checks
// that money is conserved. optimist rows also give commits per actual fdatasync (group commit).
//
// Processes (forked, one thread each, 2 and 4 of them, the same transfers):
//   optimist_mproc  a durable::store opened by every process (options::multi_process)
//   lmdb_mproc      one LMDB environment opened by every process (one writer at a time)
//   sqlite_mproc    one SQLite WAL database (synchronous=FULL), a connection per process,
//                   BEGIN IMMEDIATE with a 60 s busy timeout
// These rows give fairness too: min/max commits over the processes.
// OPTIMIST_BENCH_MPROC_ONLY=1 stops after them (optimist_full rows and the process rows).
//
//   build/rel/durable_bench [--seconds S] [--dir DIR]   (DIR: where the files go; default .)
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <optimist/durable.hpp>
#include <optimist/optimist.hpp>

#ifndef OPTIMIST_NO_BASELINE_DBS
#include <lmdb.h>
#include <sqlite3.h>
#endif

namespace {

namespace durable = optimist::durable;
namespace fs = std::filesystem;

constexpr int accounts = 1024;
constexpr long initial = 1000;
double seconds_per_case = 1.0;
std::string dir = ".";

struct xorshift {
  unsigned long long s;
  unsigned next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<unsigned>(s >> 11);
  }
};

struct result {
  double commits_per_second = 0;
  double commits_per_sync = 0;  // actual syncs (optimist only), 0 if unknown
  double fairness = 0;          // processes: min/max commits per process; 0 if not measured
};

[[noreturn]] void die(const std::string& what);

// Runs `body` in `processes` forked processes (setup(process) first, in the
// child, then body(rng) in a loop for seconds_per_case; all start together);
// returns commits per second over all, with fairness.
result timed_processes(int processes, const std::function<void(int)>& setup,
                       const std::function<void(xorshift&)>& body,
                       const std::function<std::pair<double, double>()>& teardown) {
  std::vector<int> reads;
  std::vector<pid_t> pids;
  int go[2];
  if (::pipe(go) != 0) std::abort();
  for (int p = 0; p < processes; ++p) {
    int fds[2];
    if (::pipe(fds) != 0) std::abort();
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      ::close(go[1]);
      setup(p);
      char c;
      if (::read(go[0], &c, 1) != 0) std::_Exit(5);  // closed by the parent: start
      xorshift rng{0x9E3779B97F4A7C15ull * static_cast<unsigned>(p + 1)};
      long count = 0;
      auto t0 = std::chrono::steady_clock::now();
      while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() <
             seconds_per_case) {
        body(rng);
        ++count;
      }
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      auto [commits, syncs] = teardown();
      double out[4] = {static_cast<double>(count), elapsed, commits, syncs};
      if (::write(fds[1], out, sizeof out) != sizeof out) std::_Exit(4);
      std::_Exit(0);
    }
    ::close(fds[1]);
    reads.push_back(fds[0]);
    pids.push_back(pid);
  }
  ::close(go[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // every child set up
  ::close(go[1]);
  double total = 0, longest = 0, low = 1e300, high = 0, commits = 0, syncs = 0;
  for (int p = 0; p < processes; ++p) {
    double in[4] = {0, 0, 0, 0};
    if (::read(reads[p], in, sizeof in) != sizeof in) die("a benchmark process failed");
    ::close(reads[p]);
    int status = 0;
    ::waitpid(pids[p], &status, 0);
    total += in[0];
    longest = std::max(longest, in[1]);
    low = std::min(low, in[0]);
    high = std::max(high, in[0]);
    if (in[2] > commits) {  // store-wide counts: the latest reader saw the most
      commits = in[2];
      syncs = in[3];
    }
  }
  result r;
  r.commits_per_sync = syncs > 0 ? commits / syncs : 0;
  r.commits_per_second = total / longest;
  r.fairness = high > 0 ? low / high : 0;
  return r;
}

// Runs body(thread, rng) in a loop on `threads` threads for seconds_per_case;
// returns commits per second.
double timed(int threads, const std::function<void(int, xorshift&)>& body) {
  std::atomic<bool> stop{false};
  std::vector<long> counts(threads, 0);
  std::vector<std::thread> workers;
  auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      xorshift rng{0x9E3779B97F4A7C15ull * static_cast<unsigned>(t + 1)};
      while (!stop.load(std::memory_order_relaxed)) {
        body(t, rng);
        ++counts[t];
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds_per_case));
  stop = true;
  for (auto& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  long total = 0;
  for (long c : counts) total += c;
  return static_cast<double>(total) / elapsed;
}

void pick(xorshift& rng, int& from, int& to, long& amount) {
  from = static_cast<int>(rng.next() % accounts);
  to = static_cast<int>((from + 1 + rng.next() % (accounts - 1)) % accounts);
  amount = 1 + static_cast<long>(rng.next() % 10);
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "durable_bench: %s\n", what.c_str());
  std::exit(1);
}

double probe_syncs_per_second(double seconds) {
  const std::string path = dir + "/probe.bin";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("cannot create " + path);
  std::vector<char> block(512, 'x'), zeros(std::size_t{8} << 20, 0);
  if (::pwrite(fd, zeros.data(), zeros.size(), 0) != static_cast<ssize_t>(zeros.size())) {
    die("probe preallocation failed");
  }
  ::fdatasync(fd);
  long syncs = 0;
  off_t at = 0;
  auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while ((elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) <
         seconds) {
    if (::pwrite(fd, block.data(), block.size(), at) != 512) die("probe write failed");
    ::fdatasync(fd);
    at = (at + 512) % static_cast<off_t>(zeros.size());
    ++syncs;
  }
  ::close(fd);
  fs::remove(path);
  return static_cast<double>(syncs) / elapsed;
}

struct bank {
  bank() {
    for (auto& b : balance) b = initial;
  }
  optimist::tvar<long> balance[accounts];
};

result run_optimist(int threads, durable::durability mode) {
  const std::string path = dir + "/optimist.store";
  fs::remove(path);
  fs::remove(path + "-log");
  result r;
  {
    durable::options o;
    o.heap_size = 16 << 20;
    o.log_size = 64 << 20;
    o.mode = mode;
    durable::store store(path, o);
    bank& b = store.root<bank>("bank");
    auto before = store.stats();
    r.commits_per_second = timed(threads, [&](int, xorshift& rng) {
      int from, to;
      long amount;
      pick(rng, from, to, amount);
      optimist::atomically([&] {
        b.balance[from] = b.balance[from] - amount;
        b.balance[to] = b.balance[to] + amount;
      });
    });
    auto after = store.stats();
    if (after.syncs > before.syncs) {
      r.commits_per_sync = static_cast<double>(after.commits - before.commits) /
                           static_cast<double>(after.syncs - before.syncs);
    }
    long sum = 0;
    for (auto& x : b.balance) sum += x.get();
    if (sum != initial * accounts) die("optimist: money not conserved");
  }
  fs::remove(path);
  fs::remove(path + "-log");
  return r;
}

result run_optimist_processes(int processes) {
  const std::string path = dir + "/optimist-mproc.store";
  for (const char* suffix : {"", "-log", "-shm"}) fs::remove(path + suffix);
  durable::options o;
  o.heap_size = 16 << 20;
  o.log_size = 64 << 20;
  o.multi_process = true;
  {
    durable::store store(path, o);
    store.root<bank>("bank");
  }
  durable::store* store = nullptr;
  bank* b = nullptr;
  result r = timed_processes(
      processes,
      [&](int) {
        store = new durable::store(path, o);
        b = &store->root<bank>("bank");
      },
      [&](xorshift& rng) {
        int from, to;
        long amount;
        pick(rng, from, to, amount);
        optimist::atomically([&] {
          b->balance[from] = b->balance[from] - amount;
          b->balance[to] = b->balance[to] + amount;
        });
      },
      [&] {
        durable::store::statistics st = store->stats();  // every process's commits and syncs
        delete store;
        return std::pair<double, double>(static_cast<double>(st.commits),
                                         static_cast<double>(st.syncs));
      });
  {
    durable::store check(path, o);
    bank& cb = check.root<bank>("bank");
    long sum = 0;
    for (auto& x : cb.balance) sum += x.get();
    if (sum != initial * accounts) die("optimist_mproc: money not conserved");
  }
  for (const char* suffix : {"", "-log", "-shm"}) fs::remove(path + suffix);
  return r;
}

result run_memory(int threads) {
  static bank b;
  result r;
  r.commits_per_second = timed(threads, [&](int, xorshift& rng) {
    int from, to;
    long amount;
    pick(rng, from, to, amount);
    optimist::atomically([&] {
      b.balance[from] = b.balance[from] - amount;
      b.balance[to] = b.balance[to] + amount;
    });
  });
  return r;
}

#ifndef OPTIMIST_NO_BASELINE_DBS
void check_lmdb(int rc, const char* what) {
  if (rc != 0) die(std::string("lmdb ") + what + ": " + mdb_strerror(rc));
}

// One random transfer as one LMDB write transaction (both LMDB models).
void lmdb_transfer(MDB_env* env, MDB_dbi dbi, xorshift& rng) {
  int from, to;
  long amount;
  pick(rng, from, to, amount);
  MDB_txn* txn;
  check_lmdb(mdb_txn_begin(env, nullptr, 0, &txn), "txn_begin");
  auto move = [&](int account, long delta) {
    MDB_val key{sizeof account, &account}, val;
    check_lmdb(mdb_get(txn, dbi, &key, &val), "get");
    long v;
    std::memcpy(&v, val.mv_data, sizeof v);
    v += delta;
    MDB_val out{sizeof v, &v};
    check_lmdb(mdb_put(txn, dbi, &key, &out, 0), "put");
  };
  move(from, -amount);
  move(to, amount);
  check_lmdb(mdb_txn_commit(txn), "commit");
}

result run_lmdb(int threads) {
  const std::string path = dir + "/lmdb";
  fs::remove_all(path);
  fs::create_directories(path);
  MDB_env* env;
  check_lmdb(mdb_env_create(&env), "env_create");
  check_lmdb(mdb_env_set_mapsize(env, std::size_t{64} << 20), "set_mapsize");
  check_lmdb(mdb_env_open(env, path.c_str(), MDB_NOTLS, 0644), "env_open");
  MDB_dbi dbi;
  {
    MDB_txn* txn;
    check_lmdb(mdb_txn_begin(env, nullptr, 0, &txn), "txn_begin");
    check_lmdb(mdb_dbi_open(txn, nullptr, 0, &dbi), "dbi_open");
    for (int a = 0; a < accounts; ++a) {
      long v = initial;
      MDB_val key{sizeof a, &a}, val{sizeof v, &v};
      check_lmdb(mdb_put(txn, dbi, &key, &val, 0), "put");
    }
    check_lmdb(mdb_txn_commit(txn), "commit");
  }
  result r;
  r.commits_per_second = timed(threads, [&](int, xorshift& rng) { lmdb_transfer(env, dbi, rng); });
  {
    MDB_txn* txn;
    check_lmdb(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "txn_begin");
    long sum = 0;
    for (int a = 0; a < accounts; ++a) {
      MDB_val key{sizeof a, &a}, val;
      check_lmdb(mdb_get(txn, dbi, &key, &val), "get");
      long v;
      std::memcpy(&v, val.mv_data, sizeof v);
      sum += v;
    }
    mdb_txn_abort(txn);
    if (sum != initial * accounts) die("lmdb: money not conserved");
  }
  mdb_env_close(env);
  fs::remove_all(path);
  return r;
}

result run_lmdb_processes(int processes) {
  const std::string path = dir + "/lmdb-mproc";
  fs::remove_all(path);
  fs::create_directories(path);
  auto open_env = [&](MDB_env** env, MDB_dbi* dbi, bool fill) {
    check_lmdb(mdb_env_create(env), "env_create");
    check_lmdb(mdb_env_set_mapsize(*env, std::size_t{64} << 20), "set_mapsize");
    check_lmdb(mdb_env_open(*env, path.c_str(), MDB_NOTLS, 0644), "env_open");
    MDB_txn* txn;
    check_lmdb(mdb_txn_begin(*env, nullptr, 0, &txn), "txn_begin");
    check_lmdb(mdb_dbi_open(txn, nullptr, 0, dbi), "dbi_open");
    for (int a = 0; fill && a < accounts; ++a) {
      long v = initial;
      MDB_val key{sizeof a, &a}, val{sizeof v, &v};
      check_lmdb(mdb_put(txn, *dbi, &key, &val, 0), "put");
    }
    check_lmdb(mdb_txn_commit(txn), "commit");
  };
  {
    MDB_env* env;
    MDB_dbi dbi;
    open_env(&env, &dbi, true);
    mdb_env_close(env);
  }
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  result r = timed_processes(
      processes, [&](int) { open_env(&env, &dbi, false); },
      [&](xorshift& rng) { lmdb_transfer(env, dbi, rng); },
      [&] {
        mdb_env_close(env);
        return std::pair<double, double>(0, 0);
      });
  {
    open_env(&env, &dbi, false);
    MDB_txn* txn;
    check_lmdb(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "txn_begin");
    long sum = 0;
    for (int a = 0; a < accounts; ++a) {
      MDB_val key{sizeof a, &a}, val;
      check_lmdb(mdb_get(txn, dbi, &key, &val), "get");
      long v;
      std::memcpy(&v, val.mv_data, sizeof v);
      sum += v;
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    if (sum != initial * accounts) die("lmdb_mproc: money not conserved");
  }
  fs::remove_all(path);
  return r;
}

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    die(std::string("sqlite: ") + sql + ": " + (error ? error : "?"));
  }
}

result run_sqlite(int threads, bool full) {
  const std::string path = dir + "/sqlite.db";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);
  const char* sync = full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  auto open = [&] {
    sqlite3* db;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) die("sqlite open");
    sqlite3_busy_timeout(db, 60000);
    exec(db, "PRAGMA journal_mode=WAL");
    exec(db, sync);
    return db;
  };
  {
    sqlite3* db = open();
    exec(db, "CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER)");
    exec(db, "BEGIN");
    for (int a = 0; a < accounts; ++a) {
      exec(db, ("INSERT INTO accounts VALUES(" + std::to_string(a) + "," + std::to_string(initial) +
                ")")
                   .c_str());
    }
    exec(db, "COMMIT");
    sqlite3_close(db);
  }
  std::vector<sqlite3*> connections(threads);
  std::vector<sqlite3_stmt*> updates(threads);
  for (int t = 0; t < threads; ++t) {
    connections[t] = open();
    sqlite3_prepare_v2(connections[t], "UPDATE accounts SET balance = balance + ? WHERE id = ?", -1,
                       &updates[t], nullptr);
  }
  result r;
  r.commits_per_second = timed(threads, [&](int t, xorshift& rng) {
    int from, to;
    long amount;
    pick(rng, from, to, amount);
    sqlite3* db = connections[t];
    exec(db, "BEGIN IMMEDIATE");
    for (auto [account, delta] : {std::pair{from, -amount}, std::pair{to, amount}}) {
      sqlite3_bind_int64(updates[t], 1, delta);
      sqlite3_bind_int(updates[t], 2, account);
      if (sqlite3_step(updates[t]) != SQLITE_DONE) die("sqlite update");
      sqlite3_reset(updates[t]);
    }
    exec(db, "COMMIT");
  });
  sqlite3_stmt* sum;
  sqlite3_prepare_v2(connections[0], "SELECT SUM(balance) FROM accounts", -1, &sum, nullptr);
  sqlite3_step(sum);
  long total = sqlite3_column_int64(sum, 0);
  sqlite3_finalize(sum);
  if (total != initial * accounts) die("sqlite: money not conserved");
  for (int t = 0; t < threads; ++t) {
    sqlite3_finalize(updates[t]);
    sqlite3_close(connections[t]);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);
  return r;
}

result run_sqlite_processes(int processes) {
  const std::string path = dir + "/sqlite-mproc.db";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);
  auto open = [&] {
    sqlite3* db;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) die("sqlite open");
    sqlite3_busy_timeout(db, 60000);
    exec(db, "PRAGMA journal_mode=WAL");
    exec(db, "PRAGMA synchronous=FULL");
    return db;
  };
  {
    sqlite3* db = open();
    exec(db, "CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER)");
    exec(db, "BEGIN");
    for (int a = 0; a < accounts; ++a) {
      exec(db, ("INSERT INTO accounts VALUES(" + std::to_string(a) + "," + std::to_string(initial) +
                ")")
                   .c_str());
    }
    exec(db, "COMMIT");
    sqlite3_close(db);
  }
  sqlite3* db = nullptr;
  sqlite3_stmt* update = nullptr;
  result r = timed_processes(
      processes,
      [&](int) {
        db = open();
        sqlite3_prepare_v2(db, "UPDATE accounts SET balance = balance + ? WHERE id = ?", -1,
                           &update, nullptr);
      },
      [&](xorshift& rng) {
        int from, to;
        long amount;
        pick(rng, from, to, amount);
        exec(db, "BEGIN IMMEDIATE");
        for (auto [account, delta] : {std::pair{from, -amount}, std::pair{to, amount}}) {
          sqlite3_bind_int64(update, 1, delta);
          sqlite3_bind_int(update, 2, account);
          if (sqlite3_step(update) != SQLITE_DONE) die("sqlite update");
          sqlite3_reset(update);
        }
        exec(db, "COMMIT");
      },
      [&] {
        sqlite3_finalize(update);
        sqlite3_close(db);
        return std::pair<double, double>(0, 0);
      });
  sqlite3* check = open();
  sqlite3_stmt* sum;
  sqlite3_prepare_v2(check, "SELECT SUM(balance) FROM accounts", -1, &sum, nullptr);
  sqlite3_step(sum);
  long total = sqlite3_column_int64(sum, 0);
  sqlite3_finalize(sum);
  sqlite3_close(check);
  if (total != initial * accounts) die("sqlite_mproc: money not conserved");
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);
  return r;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--seconds") {
      seconds_per_case = std::atof(argv[i + 1]);
    } else if (flag == "--dir") {
      dir = argv[i + 1];
    } else {
      die("unknown flag " + flag + " (use --seconds S, --dir DIR)");
    }
  }
  if (seconds_per_case <= 0) die("--seconds must be positive");
  fs::create_directories(dir);
  // The disk's sync rate drifts (shared machines, write caches): each durable
  // row is divided by a probe run just before it.
  std::printf("%-18s %7s %12s %12s %18s %14s %9s\n", "model", "threads", "commits/s",
              "probe sync/s", "commits/possible", "commits/sync", "fairness");
  auto row = [&](const char* model, int threads, const std::function<result()>& run,
                 bool durable_row) {
    const double probe = durable_row ? probe_syncs_per_second(0.5) : 0;
    result r = run();
    std::printf("%-18s %7d %12.0f", model, threads, r.commits_per_second);
    if (durable_row) {
      std::printf(" %12.0f %18.2f", probe, r.commits_per_second / probe);
    } else {
      std::printf(" %12s %18s", "-", "-");
    }
    if (r.commits_per_sync > 0) {
      std::printf(" %14.2f", r.commits_per_sync);
    } else {
      std::printf(" %14s", "-");
    }
    if (r.fairness > 0) {
      std::printf(" %9.2f", r.fairness);
    } else {
      std::printf(" %9s", "-");
    }
    std::printf("\n");
    std::fflush(stdout);
  };
  for (int threads : {1, 2, 4}) {
    row(
        "optimist_full", threads, [&] { return run_optimist(threads, durable::durability::full); },
        true);
  }
  // Processes ("threads" column: processes, one thread each).
  for (int processes : {2, 4}) {
    row(
        "optimist_mproc", processes, [&] { return run_optimist_processes(processes); }, true);
  }
#ifndef OPTIMIST_NO_BASELINE_DBS
  for (int processes : {2, 4}) {
    row(
        "lmdb_mproc", processes, [&] { return run_lmdb_processes(processes); }, true);
    row(
        "sqlite_mproc", processes, [&] { return run_sqlite_processes(processes); }, true);
  }
#endif
  if (std::getenv("OPTIMIST_BENCH_MPROC_ONLY") != nullptr) return 0;
#ifndef OPTIMIST_NO_BASELINE_DBS
  for (int threads : {1, 2})
    row(
        "lmdb", threads, [&] { return run_lmdb(threads); }, true);
  for (int threads : {1, 2}) {
    row(
        "sqlite_wal_full", threads, [&] { return run_sqlite(threads, true); }, true);
  }
  for (int threads : {1, 2}) {
    row(
        "sqlite_wal_normal", threads, [&] { return run_sqlite(threads, false); }, false);
  }
#else
  std::printf("(lmdb and sqlite rows left out: liblmdb-dev / libsqlite3-dev not found at build)\n");
#endif
  for (int threads : {1, 2}) {
    row(
        "optimist_relaxed", threads,
        [&] { return run_optimist(threads, durable::durability::relaxed); }, false);
  }
  for (int threads : {1, 2})
    row(
        "optimist_memory", threads, [&] { return run_memory(threads); }, false);
  return 0;
}
