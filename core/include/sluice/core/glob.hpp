// Shell-style globs for route filters: `*` any run, `?` one character, `[abc]`, `[a-z]`,
// `[!x]` / `[^x]` (not), `\` escapes the next character. Unlike fnmatch, `/` is not special:
// event types and subjects are not paths.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

bool glob_match(std::string_view pattern, std::string_view text);

// A list of patterns that matches when any one does. Literal patterns compare directly.
class GlobList {
 public:
  GlobList() = default;
  explicit GlobList(const std::vector<std::string>& patterns);
  bool empty() const { return patterns_.empty(); }
  bool match(std::string_view text) const;

 private:
  struct Pattern {
    std::string text;
    bool literal = false;
  };
  std::vector<Pattern> patterns_;
};

}  // namespace sluice::core
