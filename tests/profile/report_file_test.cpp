// OPTIMIST_REPORT's file: a failed write is reported with the file's name and
// the system's reason, and never announced as "report written" (issue 11,
// item 10: OPTIMIST_REPORT=/dev/full claimed success).
//
// The at-exit cases run this test program again as a child process with
// OPTIMIST_REPORT set (the variable is read once per process, at its first
// transaction): the child runs report_file_child.one_transaction, exits, and
// its stderr is captured to a file for the parent to read.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "optimist/atomically.hpp"
#include "optimist/report.hpp"
#include "optimist/tvar.hpp"
#include "profile/report_file.hpp"
#include "profile/temp_files.hpp"
#include "support/child_process.hpp"

extern char** environ;

// The test build compiles several test files as one translation unit (OPTIMIST_UNITY_TESTS),
// so each file keeps everything it defines in a namespace named after it.
namespace report_file_test {

namespace {

using optimist::detail::write_report_file;

constexpr const char* child_marker = "OPTIMIST_TEST_REPORT_FILE_CHILD";

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct child_result {
  int exit_code = -1;
  std::string stderr_text;
};

// Runs this program's report_file_child.one_transaction with
// OPTIMIST_REPORT=target (and `mode` as OPTIMIST_MODE, if given); returns its
// exit code and stderr.
child_result run_child(const std::string& target, const optimist::test::temp_dir& dir,
                       const std::string& mode = "") {
  const std::string captured = (dir.path() / "child_stderr.txt").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, captured.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> env_text;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    if (entry.rfind("OPTIMIST_REPORT=", 0) == 0 || entry.rfind(child_marker, 0) == 0) continue;
    if (!mode.empty() && entry.rfind("OPTIMIST_MODE=", 0) == 0) continue;
    // A sharded run (OPTIMIST_TEST_SHARDS) would leave the child's one test outside its shard.
    if (entry.rfind("GTEST_TOTAL_SHARDS=", 0) == 0 || entry.rfind("GTEST_SHARD_INDEX=", 0) == 0)
      continue;
    env_text.push_back(entry);
  }
  env_text.push_back("OPTIMIST_REPORT=" + target);
  env_text.push_back(std::string(child_marker) + "=1");
  if (!mode.empty()) env_text.push_back("OPTIMIST_MODE=" + mode);
  std::vector<char*> env;
  for (std::string& e : env_text) env.push_back(e.data());
  env.push_back(nullptr);
  std::string self = "/proc/self/exe";
  std::string filter = "--gtest_filter=report_file_child.one_transaction";
  char* argv[] = {self.data(), filter.data(), nullptr};
  pid_t child = -1;
  child_result result;
  int spawn_error = posix_spawn(&child, self.c_str(), &actions, nullptr, argv, env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    ADD_FAILURE() << "posix_spawn failed: " << spawn_error;
    return result;
  }
  const std::optional<int> waited = optimist::test::wait_for_child(child);
  if (!waited.has_value()) {
    result.stderr_text = read_all(captured);
    return result;  // killed: a failure was added (exit_code stays -1)
  }
  const int status = *waited;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.stderr_text = read_all(captured);
  return result;
}

// Not a test of its own: the body of the child process (skipped otherwise).
TEST(report_file_child, one_transaction) {
  if (std::getenv(child_marker) == nullptr) GTEST_SKIP() << "runs only as a child";
  optimist::tvar<long> value{0};
  optimist::atomically([&] { value.set(value.get() + 1); });  // (child_block_line)
}
constexpr int child_block_line = __LINE__ - 2;

TEST(report_file, at_exit_a_full_device_is_reported_never_claimed_written) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no writable /dev/full";
  optimist::test::temp_dir dir;
  const child_result child = run_child("/dev/full", dir);
  EXPECT_EQ(child.exit_code, 0) << child.stderr_text;
  EXPECT_EQ(child.stderr_text.find("optimist: report written"), std::string::npos)
      << child.stderr_text;
  EXPECT_NE(child.stderr_text.find("cannot write '/dev/full': No space left on device"),
            std::string::npos)
      << child.stderr_text;
}

TEST(report_file, at_exit_a_missing_folder_is_reported) {
  optimist::test::temp_dir dir;
  const std::string target = (dir.path() / "no_such_folder" / "run.json").string();
  const child_result child = run_child(target, dir);
  EXPECT_EQ(child.exit_code, 0) << child.stderr_text;
  EXPECT_EQ(child.stderr_text.find("optimist: report written"), std::string::npos)
      << child.stderr_text;
  EXPECT_NE(child.stderr_text.find("'" + target + "': No such file or directory"),
            std::string::npos)
      << child.stderr_text;
}

TEST(report_file, at_exit_a_good_path_gets_the_json_report) {
  optimist::test::temp_dir dir;
  const std::string target = (dir.path() / "run.json").string();
  const child_result child = run_child(target, dir);
  EXPECT_EQ(child.exit_code, 0) << child.stderr_text;
  EXPECT_NE(child.stderr_text.find("optimist: report written to " + target), std::string::npos)
      << child.stderr_text;
  std::istringstream json(read_all(target));
  const optimist::report::profile p = optimist::report::read_json(json);
  EXPECT_GE(p.totals.commits, 1u);
}

// The text report at exit has serial mode's section, naming the block. (It
// had none: the per-site table was destroyed before the exit handler ran.)
TEST(report_file, at_exit_the_text_report_has_the_serial_section) {
  optimist::test::temp_dir dir;
  const std::string target = (dir.path() / "run.txt").string();
  const child_result child = run_child(target, dir, "serial");
  EXPECT_EQ(child.exit_code, 0) << child.stderr_text;
  const std::string text = read_all(target);
  const std::size_t section = text.find("\nSerial mode: 1 blocks ran serially, ");
  ASSERT_NE(section, std::string::npos) << text;
  EXPECT_NE(text.find("report_file_test.cpp:" + std::to_string(child_block_line) + " in ", section),
            std::string::npos)
      << text;
}

TEST(report_file, write_report_file_names_the_file_and_the_reason) {
  std::ostringstream diagnostics;
  if (access("/dev/full", W_OK) == 0) {
    EXPECT_FALSE(write_report_file("/dev/full", diagnostics));
    EXPECT_NE(diagnostics.str().find("'/dev/full': No space left on device"), std::string::npos)
        << diagnostics.str();
    EXPECT_EQ(diagnostics.str().find("optimist: report written"), std::string::npos)
        << diagnostics.str();
  }
  optimist::test::temp_dir dir;
  diagnostics.str("");
  EXPECT_FALSE(write_report_file(dir.path().string(), diagnostics));  // a folder
  EXPECT_NE(diagnostics.str().find("'" + dir.path().string() + "': Is a directory"),
            std::string::npos)
      << diagnostics.str();
  diagnostics.str("");
  const std::string text_target = (dir.path() / "run.txt").string();
  EXPECT_TRUE(write_report_file(text_target, diagnostics)) << diagnostics.str();
  EXPECT_NE(read_all(text_target).find("Conflicts"), std::string::npos) << read_all(text_target);
}

}  // namespace

}  // namespace report_file_test
