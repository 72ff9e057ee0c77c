// The report that OPTIMIST_REPORT asks for, written at exit: where it goes,
// in which form, and an honest account of whether it got there.
#pragma once

#include <ostream>
#include <string>

namespace optimist::detail {

// Writes the current profile to `target`: "" or "stderr" -> the text report
// on stderr; "*.trace.json" -> a Chrome trace; "*.json" -> JSON; any other
// path -> the text report. The file is written in full and closed before
// success is claimed: every failure (open, write, close — a full disk, a
// missing folder, /dev/full) is reported on `diagnostics` with the file's
// name and the system's reason, and false is returned; on success a file
// target gets "optimist: report written to <target>". Never throws.
bool write_report_file(const std::string& target, std::ostream& diagnostics) noexcept;

}  // namespace optimist::detail
