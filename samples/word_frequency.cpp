// samples/word_frequency.cpp — counting words into a transactional hash map.
//
//   text:   "kabo ti ti rume ..."   "ti lesa kabo ..."   ...   (one task per line)
//                    |                     |
//             counts[word] += 1     counts[word] += 1          (one transaction per line)
//                     \                   /
//            optimist::tmap<std::string, long> counts
//
// Every line becomes a task that adds its words to one shared map. Lines that
// share no word never conflict (different keys touch different words of the
// map); lines that share a frequent word do, and one of them re-runs — the
// commit and abort counts show how often. The map is sized for the vocabulary
// up front (it would grow by itself, but each growth conflicts with every
// running task). The result is checked against a sequential count with
// std::unordered_map.
//
// The text is generated from a fixed seed: word ranks follow a Zipf-like
// distribution over --vocabulary synthetic words, as in natural text.
//
// Where the time goes (perf, 400 000 lines, 2 threads): about 40% of the
// process is the parallel count, the rest generating the text and the
// sequential check. Of the count: the map's hashing and probing (strings
// hashed and compared) ~30%, STM read barriers and read-set bookkeeping
// ~25%, write log and commit ~16%, copying words into std::string ~10%,
// splitting lines ~4%, the task runtime ~2%, and no waiting. Lines take
// about a microsecond each, so the runtime runs them one per transaction.
// In auto mode (the default) the controller moves between speculative and
// serial execution (the output counts the serial blocks). While blocks run
// serially, the run goes on one worker (the serial lane:
// runtime/tasks/serial_lane.hpp) with up to 512 lines per block, and a perf
// profile of that worker is the map's own work (hashing, probing, copying
// words) and its nested blocks (open_nested ~5%); the other worker waits.
// On a loaded 2-core machine: auto 0.42-0.66 s, serial 0.28-0.49 s, stm
// 0.55-0.95 s (the sequential count 0.19-0.30 s in the same runs).
//
// Run: word_frequency [--lines N] [--vocabulary N] [--threads T] [--top N]
#include <optimist/containers.hpp>
#include <optimist/optimist.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sample_options.hpp"

namespace {

// Word `rank` spelled with syllables, so that every rank has its own word.
std::string spell(std::size_t rank) {
  static const char* const syllables[] = {"ka", "ti", "ru", "me", "lo", "sa", "bi", "no",
                                          "de", "fu", "ga", "pi", "ve", "zo", "he", "ju"};
  std::string word;
  do {
    word += syllables[rank % 16];
    rank /= 16;
  } while (rank > 0);
  return word;
}

// Lines of 4 to 15 words; the rank of each word is log-uniform over the
// vocabulary (frequency about 1/rank, as Zipf's law says of real text).
std::vector<std::string> generate_text(std::size_t lines, std::size_t vocabulary) {
  std::mt19937_64 random(20240611);
  const double log_vocabulary = std::log(static_cast<double>(vocabulary));
  std::vector<std::string> text;
  text.reserve(lines);
  for (std::size_t l = 0; l < lines; ++l) {
    const std::size_t words = 4 + random() % 12;
    std::string line;
    for (std::size_t w = 0; w < words; ++w) {
      const double u = static_cast<double>(random() >> 11) / 9007199254740992.0;  // [0, 1)
      const auto rank = static_cast<std::size_t>(std::exp(u * log_vocabulary)) - 1;
      if (w > 0) line += ' ';
      line += spell(std::min(rank, vocabulary - 1));
    }
    text.push_back(std::move(line));
  }
  return text;
}

template <class F>
void for_each_word(std::string_view line, F&& f) {
  std::size_t start = 0;
  while (start < line.size()) {
    std::size_t end = line.find(' ', start);
    if (end == std::string_view::npos) end = line.size();
    if (end > start) f(std::string(line.substr(start, end - start)));
    start = end + 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t lines = sample::option(argc, argv, "--lines", 200'000);
  const std::size_t vocabulary = sample::option(argc, argv, "--vocabulary", 20'000);
  const std::size_t top = sample::option(argc, argv, "--top", 8);
  optimist::run_options options;
  options.threads = static_cast<unsigned>(sample::option(argc, argv, "--threads", 0));

  const std::vector<std::string> text = generate_text(lines, vocabulary);

  auto start = std::chrono::steady_clock::now();
  std::unordered_map<std::string, long> expected;
  for (const std::string& line : text) for_each_word(line, [&](std::string w) { ++expected[w]; });
  const double sequential_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Sized for the vocabulary: no rehash (which would conflict with every task) is needed.
  optimist::tmap<std::string, long> counts(vocabulary);
  optimist::reset_stats();
  start = std::chrono::steady_clock::now();
  for (const std::string& line : text) {
    // The whole line is one transaction: its words are counted together or not at all.
    optimist::add_task([&counts, &line] {
      for_each_word(line, [&](const std::string& word) { counts[word] += 1; });
    });
  }
  optimist::run_all_tasks(options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const optimist::statistics s = optimist::stats();

  std::vector<std::pair<std::string, long>> result = counts.snapshot();
  std::size_t wrong = result.size() == expected.size() ? 0 : 1;
  for (const auto& [word, count] : result) {
    const auto it = expected.find(word);
    if (it == expected.end() || it->second != count) ++wrong;
  }
  std::sort(result.begin(), result.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });

  std::printf(
      "word_frequency: %zu lines, %zu distinct words, %u threads, %.3f s (adding and "
      "running; sequential std::unordered_map %.3f s)\n",
      lines, result.size(), optimist::resolve_thread_count(options), seconds, sequential_s);
  std::printf(
      "  commits %llu (and %llu lines committed with the line before them), aborts %llu, "
      "serial blocks %llu; the map has %zu buckets\n",
      static_cast<unsigned long long>(s.commits), static_cast<unsigned long long>(s.grouped_tasks),
      static_cast<unsigned long long>(s.aborts), static_cast<unsigned long long>(s.serial_commits),
      counts.bucket_count());
  std::printf("  most frequent:");
  for (std::size_t i = 0; i < top && i < result.size(); ++i) {
    std::printf(" %s=%ld", result[i].first.c_str(), result[i].second);
  }
  std::printf("\n  result %s the sequential count (%zu words differ)\n",
              wrong == 0 ? "equals" : "DIFFERS FROM", wrong);
  return wrong == 0 ? 0 : 1;
}
