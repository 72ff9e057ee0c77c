// write_report_file: render the report in memory, then write it with plain
// POSIX calls whose every result is checked. (An std::ofstream reports a
// failed write only as a state bit, may keep it in its buffer until the
// destructor, and says nothing about errno: it let "report written" be
// printed for a report that /dev/full had refused.)
#include "profile/report_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <sstream>
#include <string_view>

#include "optimist/report.hpp"
#include "stm/serial_mode.hpp"

namespace optimist::detail {

namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string render(const std::string& target) {
  std::ostringstream out;
  if (ends_with(target, ".trace.json")) {
    report::write_trace(out);
  } else if (!target.empty() && target != "stderr" && ends_with(target, ".json")) {
    report::write_json(out, report::snapshot());
  } else {
    report::write_text(out, report::snapshot());
    write_serial_lock_waits(out);  // serial mode (runtime/stm/serial_mode.cpp)
  }
  return std::move(out).str();
}

// Writes all of `text` to `fd`; returns 0 or the errno of the failure.
int write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // nothing written and no reason given
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

std::string reason(int error) {
  return std::strerror(error);
}

}  // namespace

bool write_report_file(const std::string& target, std::ostream& diagnostics) noexcept {
  try {
    const std::string text = render(target);
    if (target.empty() || target == "stderr") {
      std::fflush(stderr);
      return write_all(STDERR_FILENO, text) == 0;  // nowhere left to report a failure
    }
    const int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
      const int error = errno;
      diagnostics << "optimist: OPTIMIST_REPORT: cannot open '" << target << "': " << reason(error)
                  << "; the report was not written\n";
      return false;
    }
    const int write_error = write_all(fd, text);
    // close() can report a failed write-back (NFS, quotas): it counts too.
    const int close_error = ::close(fd) == 0 ? 0 : errno;
    if (write_error != 0 || close_error != 0) {
      diagnostics << "optimist: OPTIMIST_REPORT: cannot write '" << target
                  << "': " << reason(write_error != 0 ? write_error : close_error)
                  << "; the report is missing or incomplete\n";
      return false;
    }
    diagnostics << "optimist: report written to " << target << "\n";
    return true;
  } catch (const std::exception& e) {
    diagnostics << "optimist: OPTIMIST_REPORT: could not write the report to '" << target
                << "': " << e.what() << "\n";
    return false;
  }
}

}  // namespace optimist::detail
