// optimist-report's logic: arguments, reading and merging the files, output.
// See report_tool.hpp for the behaviour.
#include "profile/report_tool.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "optimist/report.hpp"
#include "profile/svg_plot.hpp"

namespace optimist {

namespace {

constexpr std::size_t default_top = 10;

constexpr const char* usage =
    "usage: optimist-report [--top N] [--svg out.svg] file.json...\n"
    "\n"
    "Merges optimist conflict profiles (JSON, as written with OPTIMIST_REPORT=run.json)\n"
    "and prints the conflict report: where transactions conflict and what it costs,\n"
    "and how hardware transactions fared in each atomic block.\n"
    "\n"
    "  --top N        show the N largest conflict and inevitable groups and hardware\n"
    "                 blocks (default 10)\n"
    "  --svg out.svg  also draw the conflict groups as a bar chart in out.svg\n"
    "  --help         print this and exit\n"
    "\n"
    "Exit status: 0 on success, 2 on a bad argument or an unreadable file.\n";

// Thrown for every user-facing error; the message becomes the stderr line.
struct tool_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct options {
  std::size_t top = default_top;
  std::optional<std::string> svg_path;
  std::vector<std::string> files;
  bool help = false;
};

std::string in_quotes(std::string_view s) {
  return "'" + std::string(s) + "'";
}

std::string system_reason(int error) {
  return error != 0 ? std::strerror(error) : "unknown error";
}

std::size_t parse_top(std::string_view text) {
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n == 0)
    throw tool_error("--top wants a whole number from 1 up, not " + in_quotes(text));
  return n;
}

options parse_arguments(int argc, char** argv) {
  options o;
  bool only_files = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (only_files || arg.empty() || arg[0] != '-' || arg == "-") {
      o.files.emplace_back(arg);
      continue;
    }
    // The option's value: "--opt=value" or the next argument.
    auto value = [&](std::string_view name) -> std::string_view {
      if (arg.size() > name.size() && arg[name.size()] == '=') return arg.substr(name.size() + 1);
      if (i + 1 >= argc) throw tool_error(std::string(name) + " needs a value");
      return argv[++i];
    };
    if (arg == "--") {
      only_files = true;
    } else if (arg == "--help" || arg == "-h") {
      o.help = true;
    } else if (arg == "--top" || arg.starts_with("--top=")) {
      o.top = parse_top(value("--top"));
    } else if (arg == "--svg" || arg.starts_with("--svg=")) {
      const std::string_view path = value("--svg");
      if (path.empty()) throw tool_error("--svg needs a file name");
      o.svg_path = std::string(path);
    } else {
      throw tool_error("unknown option " + in_quotes(arg) + " (see --help)");
    }
  }
  return o;
}

report::profile read_profile_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw tool_error(in_quotes(path) + " is a directory");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw tool_error("cannot open " + in_quotes(path) + ": " + system_reason(errno));
  try {
    return report::read_json(in);
  } catch (const std::runtime_error& e) {
    std::string_view what = e.what();
    constexpr std::string_view prefix = "read_json: ";
    if (what.starts_with(prefix)) what.remove_prefix(prefix.size());
    throw tool_error(path + ": " + std::string(what));
  }
}

void write_svg(const std::string& path, const report::profile& p, std::size_t top) {
  errno = 0;
  std::ofstream svg(path, std::ios::binary | std::ios::trunc);
  if (!svg) throw tool_error("cannot write " + in_quotes(path) + ": " + system_reason(errno));
  detail::write_conflict_svg(svg, p, top);
  svg.close();
  if (!svg) throw tool_error("cannot write " + in_quotes(path) + ": " + system_reason(errno));
}

}  // namespace

int detail::optimist_report_main(int argc, char** argv, std::ostream& out, std::ostream& err) {
  try {
    const options o = parse_arguments(argc, argv);
    if (o.help) {
      out << usage;
      return 0;
    }
    if (o.files.empty()) throw tool_error("no input files (see --help)");

    std::vector<report::profile> profiles;
    for (const std::string& file : o.files) profiles.push_back(read_profile_file(file));
    const report::profile merged = report::merge(profiles);

    if (o.svg_path) write_svg(*o.svg_path, merged, o.top);
    report::write_text(out, merged, o.top);
    return 0;
  } catch (const std::exception& e) {
    err << "optimist-report: " << e.what() << '\n';
    return 2;
  }
}

}  // namespace optimist
