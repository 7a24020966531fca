// Task type `text_stats`: word counts of a text.
#include <algorithm>
#include <unordered_map>

#include "tasks/registry.hpp"

namespace tasker {

namespace {

struct text_stats_params {
  std::string text;
  int64_t top_n = 10;

  static text_stats_params from_json(const nlohmann::json& js) {
    return {js.at("text").get<std::string>(), js.at("top_n").get<int64_t>()};
  }
};

/// Letters, digits and apostrophes make words; bytes of multi-byte UTF-8
/// characters count as letters, so words in any script stay whole.
bool is_word_byte(unsigned char c) {
  return std::isalnum(c) || c == '\'' || c >= 0x80;
}

handler_result run_text_stats(const text_stats_params& p, const task_context&) {
  std::unordered_map<std::string, int64_t> counts;
  int64_t words = 0;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) {
      ++counts[word];
      ++words;
      word.clear();
    }
  };
  for (unsigned char c : p.text) {
    if (is_word_byte(c))
      word += static_cast<char>(std::tolower(c));
    else
      flush();
  }
  flush();
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(),
                                                      counts.end());
  auto n = std::min<size_t>(static_cast<size_t>(p.top_n), sorted.size());
  std::partial_sort(sorted.begin(), sorted.begin() + n, sorted.end(),
                    [](auto& x, auto& y) {
                      return x.second != y.second ? x.second > y.second
                                                  : x.first < y.first;
                    });
  auto top = nlohmann::json::array();
  for (size_t i = 0; i < n; ++i)
    top.push_back({{"word", sorted[i].first}, {"count", sorted[i].second}});
  return handler_result::success({{"word_count", words},
                                  {"unique_words", counts.size()},
                                  {"top_words", std::move(top)}});
}

} // namespace

void register_text_stats(registry& reg, const task_limits& limits) {
  reg.add<text_stats_params>(
    "text_stats",
    "Counts words (lower-cased runs of letters, digits and apostrophes) and "
    "lists the most frequent ones, ties ordered by word.",
    params_spec{}
      .string("text", "the text to analyse (bytes of UTF-8)",
              limits.max_text_bytes)
      .integer("top_n", "how many of the most frequent words to list", 1,
               limits.max_top_n, 10),
    run_text_stats);
}

} // namespace tasker
