// Tiny command-line handling shared by the samples: `--name value` pairs.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace sample {

// The value of `--name` as a positive integer, or `fallback` if absent.
// Exits with a message on a malformed value.
inline unsigned long option(int argc, char** argv, const char* name, unsigned long fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) != 0) continue;
    char* end = nullptr;
    unsigned long value = std::strtoul(argv[i + 1], &end, 10);
    if (end == argv[i + 1] || *end != '\0' || value == 0) {
      std::fprintf(stderr, "%s: %s needs a positive whole number, got '%s'\n", argv[0], name,
                   argv[i + 1]);
      std::exit(2);
    }
    return value;
  }
  return fallback;
}

}  // namespace sample
