/* tests/capi/capi_report_sites_test.c — conflict reports name the C program's own lines
 * (issue 15, item 1).
 *
 * A child process runs with OPTIMIST_REPORT=<dir>/report.json and plants one
 * conflict: a reader transaction loads `g_shared`, then waits until a writer
 * transaction has stored to it and committed; the reader's commit then fails
 * validation and it runs again. When the child exits, optimist writes the
 * JSON report; the parent checks that the conflict names this file at the
 * read's line (in reader_body) and the write's line (in writer_body), and
 * never the library's own file. A second child writes the text report
 * (OPTIMIST_REPORT=stderr, captured to a file), which must name both lines.
 */
#define _GNU_SOURCE 1

#include <optimist/stm.h>

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int g_failed_checks;

#define CHECK(condition, ...)                                                             \
  do {                                                                                    \
    if (!(condition)) {                                                                   \
      fprintf(stderr, "  %s:%d: check failed: %s\n    ", __FILE__, __LINE__, #condition); \
      fprintf(stderr, __VA_ARGS__);                                                       \
      fputc('\n', stderr);                                                                \
      ++g_failed_checks;                                                                  \
    }                                                                                     \
  } while (0)

/* ---- the child: one planted conflict -------------------------------------------- */

static uint64_t g_shared, g_result;
static int g_read_done, g_write_done; /* GCC atomic builtins; plain flags, not transactional */
static int g_read_line, g_write_line;

static void* reader_body(void* arg) {
  volatile int attempts = 0;
  int status;
  (void)arg;
  optimist_thread_enter();
  OPTIMIST_TX_BEGIN(status);
  if (status == OPTIMIST_OK) {
    uint64_t seen;
    attempts = attempts + 1;
    g_read_line = __LINE__ + 1;
    seen = optimist_load_u64(&g_shared);
    if (attempts == 1) {
      __atomic_store_n(&g_read_done, 1, __ATOMIC_SEQ_CST);
      while (!__atomic_load_n(&g_write_done, __ATOMIC_SEQ_CST)) sched_yield();
    }
    optimist_store_u64(&g_result, seen + 1); /* a writer: its commit validates the read */
    optimist_tx_commit();
  }
  optimist_thread_exit();
  return NULL;
}

static void* writer_body(void* arg) {
  int status;
  (void)arg;
  optimist_thread_enter();
  while (!__atomic_load_n(&g_read_done, __ATOMIC_SEQ_CST)) sched_yield();
  OPTIMIST_TX_BEGIN(status);
  if (status == OPTIMIST_OK) {
    g_write_line = __LINE__ + 1;
    optimist_store_u64(&g_shared, 41);
    optimist_tx_commit();
  }
  __atomic_store_n(&g_write_done, 1, __ATOMIC_SEQ_CST);
  optimist_thread_exit();
  return NULL;
}

/* Runs the conflict; the report is written when the process exits. */
static int run_child(const char* report_target, int lines_pipe) {
  pthread_t reader, writer;
  int lines[2];
  ssize_t written;
  setenv("OPTIMIST_REPORT", report_target, 1);
  if (pthread_create(&reader, NULL, reader_body, NULL) != 0 ||
      pthread_create(&writer, NULL, writer_body, NULL) != 0) {
    fprintf(stderr, "pthread_create failed\n");
    return 2;
  }
  pthread_join(reader, NULL);
  pthread_join(writer, NULL);
  lines[0] = g_read_line;
  lines[1] = g_write_line;
  written = write(lines_pipe, lines, sizeof lines);
  close(lines_pipe);
  if (written != (ssize_t)sizeof lines) return 2;
  return g_shared == 41 && g_result == 42 ? 0 : 3;
}

/* ---- the parent ------------------------------------------------------------------ */

static char* read_file(const char* path) {
  FILE* f = fopen(path, "rb");
  char* text;
  long size;
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  size = ftell(f);
  rewind(f);
  text = (char*)calloc((size_t)(size > 0 ? size : 0) + 1, 1);
  if (text != NULL && size > 0 && fread(text, 1, (size_t)size, f) != (size_t)size) text[0] = '\0';
  fclose(f);
  return text;
}

/* Forks a child that plants the conflict with OPTIMIST_REPORT=target; returns the
 * two lines it used (read, write) or exits on a failure to run it. */
static void plant_conflict(const char* target, const char* stderr_file, int lines[2]) {
  int fds[2];
  pid_t child;
  int status = 0;
  if (pipe(fds) != 0) exit(2);
  child = fork();
  if (child < 0) exit(2);
  if (child == 0) {
    close(fds[0]);
    if (stderr_file != NULL && freopen(stderr_file, "w", stderr) == NULL) _exit(2);
    exit(run_child(target, fds[1])); /* exit, not _exit: the report is written at exit */
  }
  close(fds[1]);
  if (read(fds[0], lines, 2 * sizeof lines[0]) != (ssize_t)(2 * sizeof lines[0])) {
    lines[0] = lines[1] = -1;
  }
  close(fds[0]);
  waitpid(child, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %d)", status);
}

static void test_json_report_names_both_c_lines(const char* dir) {
  char target[512], read_site[256], write_site[256];
  int lines[2];
  char* json;
  snprintf(target, sizeof target, "%s/report.json", dir);
  plant_conflict(target, NULL, lines);
  json = read_file(target);
  CHECK(json != NULL, "no report at %s", target);
  if (json == NULL) return;
  snprintf(read_site, sizeof read_site,
           "capi_report_sites_test.c\", \"line\": %d, \"function\": \"reader_body\"", lines[0]);
  snprintf(write_site, sizeof write_site,
           "capi_report_sites_test.c\", \"line\": %d, \"function\": \"writer_body\"", lines[1]);
  CHECK(strstr(json, "\"aborted_site\": {\"file\": ") != NULL, "no conflict in:\n%s", json);
  CHECK(strstr(json, read_site) != NULL, "the read's site (%s) is not in:\n%s", read_site, json);
  CHECK(strstr(json, write_site) != NULL, "the write's site (%s) is not in:\n%s", write_site, json);
  CHECK(strstr(json, "stm_c.cpp") == NULL, "the report names the library, not the caller:\n%s",
        json);
  free(json);
}

static void test_text_report_names_both_c_lines(const char* dir) {
  char captured[512], read_site[128], write_site[128];
  int lines[2];
  char* text;
  snprintf(captured, sizeof captured, "%s/stderr.txt", dir);
  plant_conflict("stderr", captured, lines);
  text = read_file(captured);
  CHECK(text != NULL, "nothing captured at %s", captured);
  if (text == NULL) return;
  snprintf(read_site, sizeof read_site, "capi_report_sites_test.c:%d", lines[0]);
  snprintf(write_site, sizeof write_site, "capi_report_sites_test.c:%d", lines[1]);
  CHECK(strstr(text, read_site) != NULL, "%s is not in the text report:\n%s", read_site, text);
  CHECK(strstr(text, write_site) != NULL, "%s is not in the text report:\n%s", write_site, text);
  free(text);
}

int main(void) {
  char dir[] = "/tmp/optimist_capi_sites_XXXXXX";
  char path[600];
  int failed = 0;
  setvbuf(stdout, NULL, _IONBF, 0);
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  printf("[ RUN  ] json_report_names_both_c_lines\n");
  test_json_report_names_both_c_lines(dir);
  printf(g_failed_checks == 0 ? "[  OK  ] json_report_names_both_c_lines\n"
                              : "[ FAIL ] json_report_names_both_c_lines\n");
  failed += g_failed_checks != 0;
  g_failed_checks = 0;
  printf("[ RUN  ] text_report_names_both_c_lines\n");
  test_text_report_names_both_c_lines(dir);
  printf(g_failed_checks == 0 ? "[  OK  ] text_report_names_both_c_lines\n"
                              : "[ FAIL ] text_report_names_both_c_lines\n");
  failed += g_failed_checks != 0;
  snprintf(path, sizeof path, "%s/report.json", dir);
  remove(path);
  snprintf(path, sizeof path, "%s/stderr.txt", dir);
  remove(path);
  rmdir(dir);
  printf("capi_report_sites: %d passed, %d failed\n", 2 - failed, failed);
  return failed == 0 ? 0 : 1;
}
